"""Frames in, aligned arrays out: the dense (session x symbol) panel the backtest engines read.

Axis convention of every matrix here: ``[t, j]`` is session ``dates[t]`` and symbol
``symbols[j]`` (days are rows, so a day's cross-section is contiguous in memory). A missing bar is
NaN in ``open``/``close``; a NaN band means "No Band"; a NaN weight means "no decision for this
symbol on this day" (its position and any pending order are left alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from earnest.core.errors import DataError
from earnest.marketdata.actions import with_band_pct

__all__ = ["BacktestInputs", "dense", "inputs_from_bars"]


@dataclass(frozen=True, eq=False)
class BacktestInputs:
    """Market data and target weights on one grid of ``T`` sessions and ``N`` symbols.

    ``open``/``close``: prices (T, N), NaN without a bar. ``lower``/``upper``: the day's price
    band in the same price units (NaN: no band). ``adv``: average daily traded value in rupees
    known *before* the session (NaN: unknown, orders are not capped). ``weights``: target weight
    of each symbol in the portfolio's equity, decided with information at session ``t``'s close
    (NaN: no decision). Weights are long-only (``>= 0``); their row sum may be below 1 (the rest
    is cash) but not above (no leverage).
    """

    dates: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    close: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    adv: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        shape = (self.dates.shape[0], len(self.symbols))
        for name in ("open", "close", "lower", "upper", "adv", "weights"):
            arr = getattr(self, name)
            if arr.shape != shape:
                raise DataError(
                    f"{name} has shape {arr.shape}, expected (sessions, symbols) = {shape}",
                    remedy="build the inputs with inputs_from_bars or align every matrix first",
                    field=name,
                )
            object.__setattr__(self, name, np.ascontiguousarray(arr, dtype=np.float64))
        object.__setattr__(self, "dates", np.asarray(self.dates, dtype="datetime64[D]"))
        w = self.weights
        if np.any(w < 0.0):
            t, j = (int(x[0]) for x in np.nonzero(w < 0.0))
            raise DataError(
                f"negative target weight {w[t, j]} for {self.symbols[j]} on {self.dates[t]}",
                remedy="the engine is long-only: clip weights at 0",
                field="weights",
            )
        if np.any(np.nansum(w, axis=1) > 1.0 + 1e-9):
            t = int(np.flatnonzero(np.nansum(w, axis=1) > 1.0 + 1e-9)[0])
            raise DataError(
                f"target weights on {self.dates[t]} sum to {np.nansum(w[t]):.6f} > 1",
                remedy="normalise weights (earnest.backtest.sizing) or apply caps: no leverage",
                field="weights",
            )
        if self.dates.size > 1 and np.any(np.diff(self.dates.astype(np.int64)) <= 0):
            raise DataError("dates are not strictly increasing", remedy="sort the sessions", field="dates")


def dense(
    frame: pl.DataFrame, value: str, dates: np.ndarray, symbols: tuple[str, ...], *, fill: float = np.nan
) -> np.ndarray:
    """``frame``'s ``value`` column (keyed by ``date`` and ``symbol``) as a (dates x symbols)
    float64 matrix; cells without a row hold ``fill``; rows off the grid are ignored."""
    out = np.full((dates.shape[0], len(symbols)), fill, dtype=np.float64)
    if frame.is_empty():
        return out
    keyed = frame.select(
        pl.col("date").cast(pl.Date).to_physical().cast(pl.Int64).alias("_d"),
        pl.col("symbol").cast(pl.Utf8),
        pl.col(value).cast(pl.Float64).alias("_v"),
    )
    grid_days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    sym_table = pl.DataFrame({"symbol": list(symbols), "_j": np.arange(len(symbols), dtype=np.int64)})
    day_table = pl.DataFrame({"_d": grid_days, "_t": np.arange(grid_days.size, dtype=np.int64)})
    hit = keyed.join(sym_table, on="symbol").join(day_table, on="_d")
    out[hit["_t"].to_numpy(), hit["_j"].to_numpy()] = hit["_v"].to_numpy()
    return out


def _band_prices(
    prev_close: np.ndarray, band_pct: np.ndarray, tick: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper band prices: ``prev_close * (1 -/+ band_pct / 100)``, rounded inwards to
    ``tick`` (ceil the lower, floor the upper: an assumption, REFERENCES.md section 2)."""
    with np.errstate(invalid="ignore"):
        lo = prev_close * (1.0 - band_pct / 100.0)
        up = prev_close * (1.0 + band_pct / 100.0)
        if tick:
            lo = np.ceil(lo / tick - 1e-9) * tick
            up = np.floor(up / tick + 1e-9) * tick
    return lo, up


def _trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the previous ``window`` sessions' values (NaNs skipped), excluding the session
    itself: what was known before it opened. NaN until one value is known."""
    v = np.nan_to_num(values, nan=0.0)
    n = np.isfinite(values).astype(np.float64)
    cs = np.vstack([np.zeros((1, v.shape[1])), np.cumsum(v, axis=0)])
    cn = np.vstack([np.zeros((1, n.shape[1])), np.cumsum(n, axis=0)])
    t = np.arange(values.shape[0])
    lo = np.clip(t - window, 0, None)
    total, count = cs[t] - cs[lo], cn[t] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


def inputs_from_bars(
    bars: pl.DataFrame,
    weights: pl.DataFrame,
    *,
    bands: pl.DataFrame | None = None,
    adjusted: bool = False,
    adv_window: int = 20,
    tick: float | None = 0.05,
) -> BacktestInputs:
    """:class:`BacktestInputs` from daily bars and a ``(date, symbol, weight)`` frame.

    ``bars`` needs ``symbol``, ``date``, ``open``, ``close``, ``prev_close`` and ``turnover``
    (traded value, rupees); with ``adjusted`` the prices are read from ``adj_open``,
    ``adj_close`` and ``adj_prev_close`` (see :func:`earnest.marketdata.adjust.adjust_bars`), so
    bands and fills share the adjusted units. The band percent comes from the bars' ``band_pct``
    column, else from ``bands`` (``PRICE_BANDS`` rows, latest ``effective_date <= date``), else
    there is none. The grid is every distinct bar date and symbol, sorted.
    """
    p = "adj_" if adjusted else ""
    need = ("symbol", "date", f"{p}open", f"{p}close", f"{p}prev_close", "turnover")
    missing = [c for c in need if c not in bars.columns]
    if missing or bars.is_empty():
        raise DataError(
            f"bars lack {missing or 'rows'}",
            remedy="pass daily bars (schema BARS; adjust_bars for adjusted=True)",
            field=",".join(missing) or None,
        )
    if "band_pct" not in bars.columns:
        if bands is not None:
            if "series" not in bars.columns:
                raise DataError(
                    "bands are matched by symbol and series, but the bars have no series",
                    remedy="pass bars with their series column (e.g. EQ)",
                    field="series",
                )
            bars = with_band_pct(bars, bands, default_pct=None)
        else:
            bars = bars.with_columns(band_pct=pl.lit(None, pl.Float64))
    dates = np.unique(bars["date"].cast(pl.Date).to_numpy().astype("datetime64[D]"))
    symbols = tuple(sorted(bars["symbol"].cast(pl.Utf8).unique().to_list()))

    def grid(col: str) -> np.ndarray:
        return dense(bars, col, dates, symbols)

    lo, up = _band_prices(grid(f"{p}prev_close"), grid("band_pct"), tick)
    return BacktestInputs(
        dates=dates,
        symbols=symbols,
        open=grid(f"{p}open"),
        close=grid(f"{p}close"),
        lower=lo,
        upper=up,
        adv=_trailing_mean(grid("turnover"), adv_window),
        weights=dense(weights, "weight", dates, symbols),
    )
