"""Relative features: the stock against NIFTY 50, and against all stocks (and its sector) on the same day.

**Against the index** (:func:`index_relative`). With ``c`` the stock's close and ``m`` the index close
on the same dates, and ``n`` counted in the stock's own rows (sessions it traded):

- ``rel_ret_{n}d = (c_t / c_{t-n} - 1) - (m_t / m_{t-n} - 1)`` for ``n`` in 5, 20, 60: the stock's
  simple return minus the index's over exactly the same two dates;
- ``beta_60d``: the OLS slope of the stock's daily returns on the index's daily returns over the last
  60 return pairs (``cov / var``, each pair between consecutive rows of the stock); null until 60
  pairs exist or when any pair in the window is missing (no index value that day).

**Across instruments** (:func:`cross_section`), by date over every instrument of the panel with a
value that day: ``cs_rank_<x>`` is the percentile rank in [0, 1] (``(rank - 1) / (count - 1)`` with
ties averaged; 0.5 when only one instrument has a value) and ``cs_z_<x>`` the z-score
``(x - mean) / std`` (sample std, ddof 1; null with fewer than two values or a zero std), for the base
quantities ``ret_20d = c_t / c_{t-20} - 1`` and ``vol_20d`` = the sample std (ddof 1) of the last 20
daily log returns times sqrt(252) (the same definitions as :mod:`earnest.features.technical`; ranks and
z-scores do not depend on the annualisation). ``sector_rank_<x>`` and ``sector_z_<x>`` do the same
within the instrument's ``sector`` (a panel column; null when the panel has none or the row's is null).

All values at date ``d`` use rows dated ``<= d`` only; ``known_at`` is 16:00 IST of ``d`` (UTC).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from earnest.core.errors import ConfigError, DataError
from earnest.features.spec import FeatureSpec, eod_known_at

INDEX_NAME = "NIFTY 50"
REL_WINDOWS = (5, 20, 60)
BETA_WINDOW = 60
CS_WINDOW = 20
TRADING_DAYS = 252
CS_BASES = (f"ret_{CS_WINDOW}d", f"vol_{CS_WINDOW}d")

_ID = "instrument_id"
_POS = "_rel_pos"


def _require(frame: pl.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} frame lacks column(s) {missing}",
            remedy=f"pass a {what} with {', '.join(cols)}",
            field=missing[0],
        )


def _sorted(panel: pl.DataFrame) -> pl.DataFrame:
    """The panel with its row position, sorted by instrument and date (computations use ``.over``)."""
    return panel.with_row_index(_POS).sort(_ID, "date")


def _frame(panel: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """Key columns plus ``values`` (rows of the sorted panel), back in the input's row order."""
    out = pl.concat([panel.select(_POS, _ID, "date"), values], how="horizontal").sort(_POS)
    return out.select(_ID, "date", eod_known_at(pl.col("date")).alias("known_at"), *values.columns)


def _index_close(index: pl.DataFrame, index_name: str) -> pl.DataFrame:
    """(date, ``_m``) of one index."""
    _require(index, ("date", "close"), "index")
    if "index_name" in index.columns:
        index = index.filter(pl.col("index_name").str.to_uppercase() == index_name.upper())
        if index.is_empty():
            raise ConfigError(
                f"the index frame has no rows for {index_name!r}",
                remedy="load that index's daily values (schema INDEX_BARS) or name another index",
                field="index_name",
            )
    return index.select("date", pl.col("close").cast(pl.Float64).alias("_m")).unique("date", keep="last")


def index_relative(
    panel: pl.DataFrame,
    *,
    index: pl.DataFrame,
    windows: tuple[int, ...] | list[int] = REL_WINDOWS,
    beta_window: int = BETA_WINDOW,
    index_name: str = INDEX_NAME,
) -> pl.DataFrame:
    """``rel_ret_{n}d`` for each ``n`` of ``windows`` and ``beta_{beta_window}d`` (module docstring)."""
    _require(panel, (_ID, "date", "close"), "panel")
    if beta_window < 2 or any(n < 1 for n in windows):
        raise ConfigError(
            f"windows {windows} must be >= 1 and beta_window {beta_window} >= 2", field="windows"
        )
    rows = _sorted(panel.select(_ID, "date", "close")).join(
        _index_close(index, index_name), on="date", how="left", maintain_order="left"
    )
    c, m = pl.col("close").cast(pl.Float64), pl.col("_m")
    outs = [((c / c.shift(n) - 1) - (m / m.shift(n) - 1)).over(_ID).alias(f"rel_ret_{n}d") for n in windows]
    rs, rm = (c / c.shift(1) - 1).over(_ID), (m / m.shift(1) - 1).over(_ID)
    rows = rows.with_columns(rs.alias("_x"), rm.alias("_y"))
    pair = pl.col("_x").is_not_null() & pl.col("_y").is_not_null()
    x, y = pl.when(pair).then(pl.col("_x")), pl.when(pair).then(pl.col("_y"))

    def mean(e: pl.Expr) -> pl.Expr:
        return e.rolling_mean(beta_window, min_samples=beta_window).over(_ID)

    cov = mean(x * y) - mean(x) * mean(y)
    var = mean(y * y) - mean(y) ** 2
    beta = pl.when(var > 0).then(cov / var).alias(f"beta_{beta_window}d")
    return _frame(rows, rows.select(*outs, beta))


def _cs(x: pl.Expr, by: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """Percentile rank in [0, 1] and z-score of ``x`` within groups ``by`` (nulls stay null)."""
    count = x.count().over(by)
    rank = x.rank("average").over(by)
    spread = pl.when(count > 1).then((rank - 1) / (count - 1)).when(count == 1).then(pl.lit(0.5))
    pct = pl.when(x.is_not_null()).then(spread)
    sd = x.std(ddof=1).over(by)
    z = pl.when(sd > 0).then((x - x.mean().over(by)) / sd)
    return pct.cast(pl.Float64), z.cast(pl.Float64)


def cross_section(panel: pl.DataFrame, *, window: int = CS_WINDOW) -> pl.DataFrame:
    """``cs_*`` and ``sector_*`` ranks and z-scores of ``ret_{window}d`` and ``vol_{window}d`` by date."""
    _require(panel, (_ID, "date", "close"), "panel")
    if window < 2:
        raise ConfigError(f"window must be >= 2, got {window}", field="window")
    has_sector = "sector" in panel.columns
    rows = _sorted(panel.select(_ID, "date", "close", *(["sector"] if has_sector else [])))
    c = pl.col("close").cast(pl.Float64)
    logret = (c / c.shift(1)).log().over(_ID)
    vol = logret.rolling_std(window, min_samples=window, ddof=1).over(_ID) * math.sqrt(TRADING_DAYS)
    ret_name, vol_name = f"ret_{window}d", f"vol_{window}d"
    rows = rows.with_columns((c / c.shift(window) - 1).over(_ID).alias(ret_name), vol.alias(vol_name))
    exprs: list[pl.Expr] = []
    for base in (ret_name, vol_name):
        rank, z = _cs(pl.col(base), ["date"])
        exprs += [rank.alias(f"cs_rank_{base}"), z.alias(f"cs_z_{base}")]
    for base in (ret_name, vol_name):
        if has_sector:
            known = pl.col("sector").is_not_null()
            rank, z = _cs(pl.when(known).then(pl.col(base)), ["date", "sector"])
            rank, z = pl.when(known).then(rank), pl.when(known).then(z)
        else:
            rank = z = pl.lit(None, dtype=pl.Float64)
        exprs += [rank.alias(f"sector_rank_{base}"), z.alias(f"sector_z_{base}")]
    return _frame(rows, rows.select(exprs))


def _index_compute(panel: pl.DataFrame, *, index: pl.DataFrame, **_: Any) -> pl.DataFrame:
    return index_relative(panel, index=index)


def _cs_compute(panel: pl.DataFrame, **_: Any) -> pl.DataFrame:
    return cross_section(panel)


SPECS: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        name="relative_nifty50",
        description="Stock minus NIFTY 50 simple return over 5/20/60 sessions and 60-session beta to NIFTY 50",
        compute=_index_compute,
        inputs=("bars", "index"),
        lookback_sessions=max(*REL_WINDOWS, BETA_WINDOW),
        outputs=(*(f"rel_ret_{n}d" for n in REL_WINDOWS), f"beta_{BETA_WINDOW}d"),
        params={},
        known_at="eod",
    ),
    FeatureSpec(
        name="cross_section",
        description="Percentile rank (0..1) and z-score of 20-session return and volatility across all "
        "instruments, and within the instrument's sector, on each date",
        compute=_cs_compute,
        inputs=("bars",),
        lookback_sessions=CS_WINDOW,
        outputs=tuple(
            f"{scope}_{kind}_{base}"
            for scope in ("cs", "sector")
            for base in CS_BASES
            for kind in ("rank", "z")
        ),
        params={},
        known_at="eod",
    ),
)

__all__ = [
    "BETA_WINDOW",
    "CS_WINDOW",
    "INDEX_NAME",
    "REL_WINDOWS",
    "SPECS",
    "cross_section",
    "index_relative",
]
