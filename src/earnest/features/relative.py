"""Relative features: the stock against NIFTY 50, against all stocks, and against its sector, by date.

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
z-scores do not depend on the annualisation).

**Within the sector** (:func:`sector_relative`): ``sector_rank_<x>`` and ``sector_z_<x>``, the same
statistics among the instruments of the row's sector on that date. The sector comes from the
``sectors`` input (``instrument_id``, ``sector``, optional ``knowledge_time``), point in time: a row
dated ``d`` takes the latest classification of its instrument known by ``d``'s end of day (16:00
IST); a ``sectors`` frame without ``knowledge_time`` is a fixed map, one sector per instrument (an
assumption the caller makes). Rows without a known sector are null and do not count.

All values at date ``d`` use rows dated ``<= d`` only; ``known_at`` is 16:00 IST of ``d`` (UTC).
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from earnest.core.errors import ConfigError, DataError
from earnest.core.schemas import UTC_TS
from earnest.features._panel import require_columns
from earnest.features.spec import Compute, FeatureSpec, eod_known_at

INDEX_NAME = "NIFTY 50"
REL_WINDOWS = (5, 20, 60)
BETA_WINDOW = 60
CS_WINDOW = 20
TRADING_DAYS = 252
CS_BASES = (f"ret_{CS_WINDOW}d", f"vol_{CS_WINDOW}d")

_ID = "instrument_id"
_POS = "_rel_pos"
_SECTOR = "_sector"


def _sorted(panel: pl.DataFrame) -> pl.DataFrame:
    """The panel with its row position, sorted by instrument and date (computations use ``.over``)."""
    return panel.with_row_index(_POS).sort(_ID, "date")


def _frame(panel: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """Key columns plus ``values`` (rows of the sorted panel), back in the input's row order."""
    out = pl.concat([panel.select(_POS, _ID, "date"), values], how="horizontal").sort(_POS)
    return out.select(_ID, "date", eod_known_at(pl.col("date")).alias("known_at"), *values.columns)


def _index_close(index: pl.DataFrame, index_name: str) -> pl.DataFrame:
    """(date, ``_m``) of one index."""
    require_columns(index, ("date", "close"), what="index frame", remedy="pass INDEX_BARS rows")
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
    require_columns(panel, (_ID, "date", "close"), what="panel", remedy="pass the bars panel")
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


def _rank_and_z(x: pl.Expr, by: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """Percentile rank in [0, 1] and z-score of ``x`` within groups ``by`` (nulls stay null)."""
    count = x.count().over(by)
    rank = x.rank("average").over(by)
    spread = pl.when(count > 1).then((rank - 1) / (count - 1)).when(count == 1).then(pl.lit(0.5))
    pct = pl.when(x.is_not_null()).then(spread)
    sd = x.std(ddof=1).over(by)
    z = pl.when(sd > 0).then((x - x.mean().over(by)) / sd)
    return pct.cast(pl.Float64), z.cast(pl.Float64)


def _with_bases(panel: pl.DataFrame, window: int, keep: tuple[str, ...] = ()) -> pl.DataFrame:
    """The sorted panel with ``ret_{window}d`` and ``vol_{window}d`` (module docstring)."""
    require_columns(panel, (_ID, "date", "close"), what="panel", remedy="pass the bars panel")
    if window < 2:
        raise ConfigError(f"window must be >= 2, got {window}", field="window")
    rows = _sorted(panel.select(_ID, "date", "close", *keep))
    c = pl.col("close").cast(pl.Float64)
    logret = (c / c.shift(1)).log().over(_ID)
    vol = logret.rolling_std(window, min_samples=window, ddof=1).over(_ID) * math.sqrt(TRADING_DAYS)
    return rows.with_columns(
        (c / c.shift(window) - 1).over(_ID).alias(f"ret_{window}d"), vol.alias(f"vol_{window}d")
    )


def _ranked(rows: pl.DataFrame, window: int, *, scope: str, by: list[str]) -> pl.DataFrame:
    """``{scope}_rank_<x>`` and ``{scope}_z_<x>`` of both base quantities within groups ``by``."""
    exprs: list[pl.Expr] = []
    for base in (f"ret_{window}d", f"vol_{window}d"):
        rank, z = _rank_and_z(pl.col(base), by)
        exprs += [rank.alias(f"{scope}_rank_{base}"), z.alias(f"{scope}_z_{base}")]
    return _frame(rows, rows.select(exprs))


def cross_section(panel: pl.DataFrame, *, window: int = CS_WINDOW) -> pl.DataFrame:
    """``cs_*`` ranks and z-scores of ``ret_{window}d`` and ``vol_{window}d`` across instruments by date."""
    return _ranked(_with_bases(panel, window), window, scope="cs", by=["date"])


def _with_sector(panel: pl.DataFrame, sectors: pl.DataFrame) -> pl.DataFrame:
    """``panel`` (``instrument_id``, ``date``) plus ``_sector``: each row's sector known by its end of
    day, or the fixed sector of its instrument when ``sectors`` has no ``knowledge_time``."""
    require_columns(
        sectors,
        (_ID, "sector"),
        what="sectors frame",
        remedy="pass instrument_id, sector and, for a dated classification, knowledge_time",
    )
    if "knowledge_time" not in sectors.columns:
        fixed = sectors.select(_ID, pl.col("sector").alias(_SECTOR)).unique()
        twice = fixed.filter(pl.col(_ID).is_duplicated())
        if twice.height:
            raise DataError(
                f"instrument {twice.item(0, _ID)} has several sectors and no knowledge_time to order them",
                remedy="give one sector per instrument, or date each classification with knowledge_time",
                field="sector",
            )
        return panel.join(fixed, on=_ID, how="left", maintain_order="left")
    right = sectors.select(
        _ID, pl.col("knowledge_time").cast(UTC_TS).alias("_known"), pl.col("sector").alias(_SECTOR)
    ).drop_nulls("_known")
    left = panel.with_row_index("_order").with_columns(eod_known_at(pl.col("date")).alias("_eod"))
    joined = left.sort("_eod").join_asof(
        right.sort("_known"), left_on="_eod", right_on="_known", by=_ID, check_sortedness=False
    )
    return joined.sort("_order").drop("_order", "_eod", "_known")


def sector_relative(panel: pl.DataFrame, *, sectors: pl.DataFrame, window: int = CS_WINDOW) -> pl.DataFrame:
    """``sector_*`` ranks and z-scores of ``ret_{window}d`` and ``vol_{window}d`` within the row's
    sector by date (module docstring); null where the row's sector is not known."""
    rows = _with_sector(_with_bases(panel, window), sectors)
    known = pl.col(_SECTOR).is_not_null()
    rows = rows.with_columns(pl.when(known).then(pl.col(f"{q}_{window}d")) for q in ("ret", "vol"))
    return _ranked(rows, window, scope="sector", by=["date", _SECTOR])


def _index_compute(panel: pl.DataFrame, *, index: pl.DataFrame, index_name: str, **_: Any) -> pl.DataFrame:
    """``rel_ret_5d/20d/60d`` (stock minus index return) and ``beta_60d`` against ``index_name``."""
    return index_relative(panel, index=index, index_name=index_name)


def _cs_compute(panel: pl.DataFrame, **_: Any) -> pl.DataFrame:
    """``cs_rank_*`` and ``cs_z_*``: where the 20-session return and volatility stand market-wide."""
    return cross_section(panel)


def _sector_compute(panel: pl.DataFrame, *, sectors: pl.DataFrame, **_: Any) -> pl.DataFrame:
    """``sector_rank_*`` and ``sector_z_*``: the same within the row's sector known by its end of day."""
    return sector_relative(panel, sectors=sectors)


def _ranking_spec(
    name: str, compute: Compute, inputs: tuple[str, ...], scope: str, among: str
) -> FeatureSpec:
    """A spec of ``{scope}_rank_<x>`` and ``{scope}_z_<x>`` for the :data:`CS_BASES`."""
    return FeatureSpec(
        name=name,
        description=f"Percentile rank (0..1) and z-score of 20-session return and volatility {among} "
        "on each date",
        compute=compute,
        inputs=inputs,
        lookback_sessions=CS_WINDOW,
        outputs=tuple(f"{scope}_{kind}_{base}" for base in CS_BASES for kind in ("rank", "z")),
        cross_sectional=True,
    )


SPECS: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        name="relative_nifty50",
        description="Stock minus NIFTY 50 simple return over 5/20/60 sessions and 60-session beta to NIFTY 50",
        compute=_index_compute,
        inputs=("bars", "index"),
        lookback_sessions=max(*REL_WINDOWS, BETA_WINDOW),
        outputs=(*(f"rel_ret_{n}d" for n in REL_WINDOWS), f"beta_{BETA_WINDOW}d"),
        params={"index_name": INDEX_NAME},
    ),
    _ranking_spec("cross_section", _cs_compute, ("bars",), "cs", "across all instruments"),
    _ranking_spec(
        "sector_relative",
        _sector_compute,
        ("bars", "sectors"),
        "sector",
        "among the instruments of the same sector (as classified by that day's end)",
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
    "sector_relative",
]
