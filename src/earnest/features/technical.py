"""Technical features on daily bars, computed with TA-Lib where it has the indicator.

Every function takes a long Polars panel (one row per ``instrument_id`` and ``date``, with the
BARS price columns; raw or corporate-action-adjusted, the caller chooses by what it puts in
``open``/``high``/``low``/``close``/``volume``) and returns ``instrument_id``, ``date``,
``known_at`` (16:00 IST of ``date`` in UTC, :func:`earnest.core.calendar.eod_known_utc`) and its
Float64 output columns, in the input's row order. A value at date ``d`` uses only the same
instrument's rows dated ``<= d``; windows count that instrument's rows (sessions it traded), and a
value whose window is not full yet is null. Nulls, never zeros, stand for "unknown".

Units: returns, distances and ratios are plain fractions (0.05 = 5 %); a name ending ``_pct`` is in
percent (``atr_14_pct`` = 2.5 means 2.5 % of the close). Returns are *simple* returns.

TA-Lib conventions (``../shared/REFERENCES.md`` section 5, TA-Lib's defaults: unstable period 0,
default compatibility): RSI is Wilder's, seeded with the simple mean of the first ``n`` gains and
losses (first value at index ``n``); MACD seeds the fast EMA at the slow EMA's first bar and emits
all three outputs from index ``slow + signal - 2``; Bollinger bands use the *population* standard
deviation; ATR's first value is the mean of the first ``n`` true ranges (from index 1), then Wilder
smoothing. Recursive indicators (RSI, MACD, ATR) depend on the whole history they are given, so a
computation on a shorter history differs slightly until the seed has washed out: the specs declare
lookbacks long enough for that (:data:`CONVERGED_SESSIONS`).

Speed: the panel is sorted once (if it is not already) and instrument boundaries are found once;
recursive indicators call TA-Lib on contiguous numpy slices, one per instrument (bypassing the
pandas/polars wrapper of the ``talib`` package); rolling means sum each window on its own and the
252-session high/low is one TA-Lib call over the whole panel with cross-instrument windows masked.
Every value therefore depends only on its own instrument's rows, bit for bit. The panel machinery
(sorting, arrays, the way back to a frame) lives in :mod:`earnest.features._panel`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl
import talib

from earnest.features._panel import (
    PRICE_COLUMNS,
    Bars,
    Outputs,
    empty,
    lagged,
    prepare,
    previous_close,
    ratio,
    require_columns,
    rolling_mean,
    to_frame,
)
from earnest.features.spec import Compute, FeatureSpec
from earnest.marketdata.actions import with_band_pct

RETURN_WINDOWS = (1, 5, 20, 60)
TRADING_DAYS = 252
CONVERGED_SESSIONS = 250
"""History (sessions) after which the seed of a daily recursive indicator weighs less than 1e-6."""
DELIVERY_MIN_KNOWN = 10
"""Days with a known delivery ratio needed in the 20-day window for its mean (missing files happen)."""
_SMA = talib.MA_Type.SMA  # type: ignore[attr-defined]  # re-exported by talib, not declared in its stub


def _raw(name: str) -> Callable[..., Any]:
    """TA-Lib's function without the pandas/polars wrapper ``talib`` puts around it.

    The wrapper costs more than the C call on short slices (thousands of calls per build); it is a
    :func:`functools.wraps` wrapper, so ``__wrapped__`` is the Cython function itself.
    """
    fn = getattr(talib, name)
    return getattr(fn, "__wrapped__", fn)  # type: ignore[no-any-return]


_RSI, _MACD, _BBANDS, _ATR, _STDDEV, _MAX, _MIN = map(
    _raw, ("RSI", "MACD", "BBANDS", "ATR", "STDDEV", "MAX", "MIN")
)


# --- kernels: Bars -> named arrays in sorted order -------------------------------------------------


def k_returns(bars: Bars, windows: tuple[int, ...] = RETURN_WINDOWS, unit: str = "d") -> Outputs:
    """``ret_{n}d``: simple return close_t / close_{t-n} - 1 over ``n`` of the instrument's sessions."""
    close = bars.col("close")
    return {f"ret_{n}{unit}": ratio(close, lagged(bars, close, n)) - 1.0 for n in windows}


def k_rsi(bars: Bars, n: int = 14) -> Outputs:
    """``rsi_{n}``: Wilder's RSI in 0..100 (TA-Lib RSI; first value at the instrument's row ``n``)."""
    out, close = empty(bars), bars.col("close")
    for s in bars.slices(n + 1):
        out[s] = _RSI(close[s], n)
    return {f"rsi_{n}": out}


def k_macd(bars: Bars, fast: int = 12, slow: int = 26, signal: int = 9) -> Outputs:
    """MACD line, signal and histogram in price units (TA-Lib MACD, all three from row slow+signal-2)."""
    line, sig, hist, close = empty(bars), empty(bars), empty(bars), bars.col("close")
    for s in bars.slices(slow + signal - 1):
        line[s], sig[s], hist[s] = _MACD(close[s], fast, slow, signal)
    tag = f"{fast}_{slow}_{signal}"
    return {f"macd_{tag}": line, f"macd_signal_{tag}": sig, f"macd_hist_{tag}": hist}


def k_bollinger(bars: Bars, n: int = 20, k: float = 2.0) -> Outputs:
    """Bollinger %B = (close - lower) / (upper - lower) and width = (upper - lower) / middle.

    Bands are SMA(n) +- k population standard deviations (TA-Lib BBANDS, matype 0); %B is null
    when the bands collapse (n equal closes).
    """
    upper, middle, lower, close = empty(bars), empty(bars), empty(bars), bars.col("close")
    for s in bars.slices(n):
        upper[s], middle[s], lower[s] = _BBANDS(close[s], n, k, k, _SMA)
    tag = f"{n}_{k:g}"
    return {
        f"bb_pctb_{tag}": ratio(close - lower, upper - lower),
        f"bb_width_{tag}": ratio(upper - lower, middle),
    }


def k_atr(bars: Bars, n: int = 14) -> Outputs:
    """``atr_{n}_pct``: TA-Lib ATR(n) as a percent of the close (first value at row ``n``)."""
    out = empty(bars)
    high, low, close = bars.col("high"), bars.col("low"), bars.col("close")
    for s in bars.slices(n + 1):
        out[s] = _ATR(high[s], low[s], close[s], n)
    return {f"atr_{n}_pct": 100.0 * ratio(out, close)}


def k_volatility(bars: Bars, n: int = 20, periods: int = TRADING_DAYS, unit: str = "d") -> Outputs:
    """``vol_{n}d``: sample std (ddof 1) of the last ``n`` log returns, times sqrt(periods per year)."""
    out, close = empty(bars), bars.col("close")
    scale = math.sqrt(n / (n - 1)) * math.sqrt(periods)
    for s in bars.slices(n + 1):
        c = close[s]
        with np.errstate(divide="ignore", invalid="ignore"):
            logret = np.log(c[1:] / c[:-1])
        out[s.start + 1 : s.stop] = _STDDEV(logret, n, 1.0) * scale
    return {f"vol_{n}{unit}": out}


def k_volume_ratio(bars: Bars, n: int = 20, unit: str = "d") -> Outputs:
    """``volume_ratio_{n}d``: today's volume over the mean volume of the last ``n`` sessions (today included)."""
    volume = bars.col("volume")
    out = rolling_mean(bars, volume, n, n)
    return {f"volume_ratio_{n}{unit}": ratio(volume, out)}


def k_delivery(bars: Bars, n: int = 20) -> Outputs:
    """``delivery_ratio`` = delivery_qty / volume and ``delivery_ratio_rel_{n}d`` = it over its n-day mean.

    Null where delivery is unknown (never 0) or volume is 0; the mean needs
    :data:`DELIVERY_MIN_KNOWN` known days among the last ``n`` sessions. ``delivery_qty`` and
    ``volume`` must be in the same share units: both raw, or both adjusted.
    """
    volume = bars.col("volume")
    share = ratio(bars.col("delivery_qty"), np.where(volume > 0, volume, np.nan))
    mean = rolling_mean(bars, share, n, DELIVERY_MIN_KNOWN)
    return {"delivery_ratio": share, f"delivery_ratio_rel_{n}d": ratio(share, mean)}


def k_range_52w(bars: Bars, n: int = TRADING_DAYS) -> Outputs:
    """``high_52w_dist`` = close / max(high) - 1 (<= 0) and ``low_52w_dist`` = close / min(low) - 1 (>= 0).

    Over the last ``n`` sessions, today included; null until ``n`` sessions exist.
    """
    high, low, close = bars.col("high"), bars.col("low"), bars.col("close")
    # MAX and MIN only pick values, so one call over the whole panel gives each window's exact
    # extreme; windows that reach into the previous instrument are masked.
    short = bars.pos < n - 1
    hi = np.where(short, np.nan, _MAX(high, n)) if bars.n else empty(bars)
    lo = np.where(short, np.nan, _MIN(low, n)) if bars.n else empty(bars)
    return {"high_52w_dist": ratio(close, hi) - 1.0, "low_52w_dist": ratio(close, lo) - 1.0}


def k_gap(bars: Bars) -> Outputs:
    """``gap`` = open / previous close - 1 (previous close as in :func:`previous_close`)."""
    return {"gap": ratio(bars.col("open"), previous_close(bars)) - 1.0}


def k_band(bars: Bars) -> Outputs:
    """Room left to the day's price-band limits, as fractions of the close (0 = at the circuit).

    The band is ``band_pct`` percent either way of the previous close (REFERENCES.md section 2):
    ``band_upper_dist`` = (upper - close) / close, ``band_lower_dist`` = (close - lower) / close.
    Limits are not rounded to the tick, so a close at the circuit reads a hair above 0. Null
    without a ``band_pct`` column, or where it is null ("No Band": F&O stocks) or not positive.
    """
    band = bars.cols.get("band_pct")
    if band is None:
        return {"band_upper_dist": empty(bars), "band_lower_dist": empty(bars)}
    base, close = previous_close(bars), bars.col("close")
    frac = np.where(band > 0, band, np.nan) / 100.0
    return {
        "band_upper_dist": ratio(base * (1.0 + frac) - close, close),
        "band_lower_dist": ratio(close - base * (1.0 - frac), close),
    }


def _optional(panel: pl.DataFrame, *names: str) -> tuple[str, ...]:
    return tuple(c for c in names if c in panel.columns)


def _run(panel: pl.DataFrame, columns: tuple[str, ...], kernel: Callable[[Bars], Outputs]) -> pl.DataFrame:
    prep = prepare(panel, columns)
    return to_frame(prep, kernel(prep.bars))


# --- public functions: panel -> feature frame (each one is a spec's compute) -----------------------


def returns(panel: pl.DataFrame, windows: Sequence[int] = RETURN_WINDOWS) -> pl.DataFrame:
    """Simple returns ``ret_{n}d`` = close_t / close_{t-n} - 1 for each ``n`` in ``windows`` (sessions)."""
    return _run(panel, ("close",), lambda b: k_returns(b, tuple(windows)))


def rsi(panel: pl.DataFrame, n: int = 14) -> pl.DataFrame:
    """``rsi_14``: Wilder's relative strength index (0..100), TA-Lib convention."""
    return _run(panel, ("close",), lambda b: k_rsi(b, n))


def macd(panel: pl.DataFrame, fast: int = 12, slow: int = 26, signal: int = 9) -> pl.DataFrame:
    """``macd_12_26_9``, ``macd_signal_12_26_9``, ``macd_hist_12_26_9`` (price units), TA-Lib MACD."""
    return _run(panel, ("close",), lambda b: k_macd(b, fast, slow, signal))


def bollinger(panel: pl.DataFrame, n: int = 20, k: float = 2.0) -> pl.DataFrame:
    """``bb_pctb_20_2`` (where the close sits in the band, 0 = lower, 1 = upper) and ``bb_width_20_2``."""
    return _run(panel, ("close",), lambda b: k_bollinger(b, n, k))


def atr_pct(panel: pl.DataFrame, n: int = 14) -> pl.DataFrame:
    """``atr_14_pct``: average true range (Wilder, TA-Lib) in percent of the close."""
    return _run(panel, ("high", "low", "close"), lambda b: k_atr(b, n))


def realised_vol(panel: pl.DataFrame, n: int = 20) -> pl.DataFrame:
    """``vol_20d``: annualised (sqrt 252) sample std of the last 20 daily log returns."""
    return _run(panel, ("close",), lambda b: k_volatility(b, n))


def volume_ratio(panel: pl.DataFrame, n: int = 20) -> pl.DataFrame:
    """``volume_ratio_20d``: volume / mean volume of the last 20 sessions (today included)."""
    return _run(panel, ("volume",), lambda b: k_volume_ratio(b, n))


def delivery(panel: pl.DataFrame, n: int = 20) -> pl.DataFrame:
    """``delivery_ratio`` (delivered share of volume) and ``delivery_ratio_rel_20d`` (it / its 20d mean)."""
    return _run(panel, ("volume", "delivery_qty"), lambda b: k_delivery(b, n))


def range_52w(panel: pl.DataFrame, n: int = TRADING_DAYS) -> pl.DataFrame:
    """``high_52w_dist`` and ``low_52w_dist``: the close against the 252-session high and low."""
    return _run(panel, ("high", "low", "close"), lambda b: k_range_52w(b, n))


def gap(panel: pl.DataFrame) -> pl.DataFrame:
    """``gap``: open / previous close - 1 (``prev_close`` column where known, else the previous row)."""
    return _run(panel, ("open", "close", *_optional(panel, "prev_close")), k_gap)


def with_bands(panel: pl.DataFrame, bands: pl.DataFrame | None) -> pl.DataFrame:
    """``panel`` with a ``band_pct`` column: kept if present, else from ``bands`` (``PRICE_BANDS`` rows).

    The band of a row is the latest ``bands`` row of its ``symbol`` and ``series`` (``EQ`` when the
    panel has no series) with ``effective_date <= date``
    (:func:`earnest.marketdata.actions.with_band_pct`) and, when ``bands`` has ``knowledge_time``,
    known by the row's end of day (16:00 IST); without ``bands`` the panel is unchanged.
    """
    if "band_pct" in panel.columns or bands is None:
        return panel
    require_columns(panel, ("symbol",), what="panel", remedy="bands are matched to bars by symbol and series")
    if "knowledge_time" in bands.columns:  # a band published after a day's end of day waits a day
        known = pl.col("knowledge_time").dt.convert_time_zone("Asia/Kolkata") + pl.duration(
            hours=8, microseconds=-1
        )
        bands = bands.with_columns(effective_date=pl.max_horizontal("effective_date", known.dt.date()))
    framed = panel if "series" in panel.columns else panel.with_columns(series=pl.lit("EQ"))
    return panel.with_columns(with_band_pct(framed, bands, default_pct=None)["band_pct"])


def band_distance(panel: pl.DataFrame, bands: pl.DataFrame | None = None) -> pl.DataFrame:
    """``band_upper_dist`` and ``band_lower_dist``: room to the day's price-band limits.

    The band comes from the panel's ``band_pct`` column, else from ``bands`` (see :func:`with_bands`);
    with neither, both columns are null.
    """
    panel = with_bands(panel, bands)
    return _run(panel, ("close", *_optional(panel, "prev_close", "band_pct")), k_band)


DAILY_KERNELS: tuple[Callable[[Bars], Outputs], ...] = (
    k_returns,
    k_rsi,
    k_macd,
    k_bollinger,
    k_atr,
    k_volatility,
    k_volume_ratio,
    k_delivery,
    k_range_52w,
    k_gap,
    k_band,
)


def technical_features(panel: pl.DataFrame, bands: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every daily technical feature of this module with default parameters, from one sort of the panel.

    The fast path for a full build. ``delivery_qty``, ``prev_close`` and ``band_pct`` (or ``bands``)
    are optional; without them the delivery and band columns are null and the gap uses the previous
    row's close.
    """
    panel = with_bands(panel, bands)
    optional = _optional(panel, "delivery_qty", "prev_close", "band_pct")
    prep = prepare(panel, (*PRICE_COLUMNS, "volume", *optional))
    if "delivery_qty" not in prep.bars.cols:
        prep.bars.cols["delivery_qty"] = empty(prep.bars)
    outputs: Outputs = {}
    for kernel in DAILY_KERNELS:
        outputs.update(kernel(prep.bars))
    return to_frame(prep, outputs)


_MACD_OUT = ("macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9")
_TABLE: tuple[tuple[str, Compute, int, tuple[str, ...], dict[str, Any], str], ...] = (
    ("returns", returns, max(RETURN_WINDOWS), tuple(f"ret_{n}d" for n in RETURN_WINDOWS),
     {"windows": list(RETURN_WINDOWS)}, "Simple close-to-close returns over 1, 5, 20 and 60 sessions"),
    ("rsi_14", rsi, CONVERGED_SESSIONS, ("rsi_14",), {"n": 14}, "Wilder RSI(14) of the close, 0..100"),
    ("macd_12_26_9", macd, CONVERGED_SESSIONS, _MACD_OUT, {"fast": 12, "slow": 26, "signal": 9},
     "MACD(12,26,9) line, signal and histogram of the close, price units (TA-Lib seeding)"),
    ("bollinger_20_2", bollinger, 19, ("bb_pctb_20_2", "bb_width_20_2"), {"n": 20, "k": 2.0},
     "Bollinger(20, 2, population std): %B of the close and band width over the middle band"),
    ("atr_14", atr_pct, CONVERGED_SESSIONS, ("atr_14_pct",), {"n": 14}, "ATR(14), Wilder, in % of close"),
    ("vol_20d", realised_vol, 20, ("vol_20d",), {"n": 20},
     "Realised volatility: sample std of 20 daily log returns, annualised with sqrt(252)"),
    ("volume_ratio_20d", volume_ratio, 19, ("volume_ratio_20d",), {"n": 20},
     "Volume over its mean of the last 20 sessions (today included)"),
    ("delivery_20d", delivery, 19, ("delivery_ratio", "delivery_ratio_rel_20d"), {"n": 20},
     "Delivery quantity over volume, and over its 20-session mean; null when delivery is unknown"),
    ("range_52w", range_52w, TRADING_DAYS - 1, ("high_52w_dist", "low_52w_dist"), {"n": TRADING_DAYS},
     "Close over the 252-session highest high and lowest low, minus 1"),
    ("gap", gap, 1, ("gap",), {}, "Opening gap: open over the previous close, minus 1"),
    ("band_distance", band_distance, 1, ("band_upper_dist", "band_lower_dist"), {},
     "Room from the close to the day's upper and lower price-band limits, as fractions of the close"),
)  # fmt: skip

SPECS: tuple[FeatureSpec, ...] = tuple(
    FeatureSpec(
        name=name,
        description=description,
        compute=compute,
        inputs=("bars", "bands") if compute is band_distance else ("bars",),
        lookback_sessions=lookback,
        outputs=outputs,
        params=params,
        known_at="eod",
    )
    for name, compute, lookback, outputs, params, description in _TABLE
)
"""One spec per indicator (its lookback: window length, or warm-up for recursive indicators)."""

__all__ = [
    "CONVERGED_SESSIONS",
    "DELIVERY_MIN_KNOWN",
    "RETURN_WINDOWS",
    "SPECS",
    "atr_pct",
    "band_distance",
    "bollinger",
    "delivery",
    "gap",
    "macd",
    "range_52w",
    "realised_vol",
    "returns",
    "rsi",
    "technical_features",
    "volume_ratio",
    "with_bands",
]
