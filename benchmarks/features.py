"""Benchmark: the full technical feature set on a generated 500-symbol x 15-year daily panel.

The panel (about 1.9M rows) is a seeded geometric random walk on real NSE sessions with consistent
OHLC, volume, delivery quantity (5 % of days unknown), ``prev_close`` and a price band. earnest's
full technical set (:func:`earnest.features.technical.technical_features`, the daily indicators
from one sort of the panel, plus :func:`earnest.features.weekly.weekly_features`) is timed next to a
plain pandas ``groupby(...).apply`` implementation of the same indicators (rolling/ewm with the same
seeding, population std and windows where pandas can express them) in the same run, and the two
are compared on a few symbols to show they compute the same thing. Calling every spec's
``compute`` separately (as an engine that builds one feature at a time would) is timed too.

"cold" is the first call in the process; the NSE calendar the weekly features need is loaded once
per process and printed on its own row (cold + calendar is the honest first-build figure). The
median is over ``--repeat`` calls. The incremental case computes one new day for 2,000 symbols from
each feature's ``lookback_sessions`` of history: the engine slices that much, here simulated by
panels of 2,000 x (lookback + 1) sessions (the slicing itself is not timed).

Targets (issue 4): full set <= 5 s cold, >= 10x the pandas baseline; incremental <= 1 s.

    .venv/bin/python benchmarks/features.py [--symbols 500] [--years 15] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, print_table, timed

from earnest.core.calendar import nse_calendar
from earnest.features import technical, weekly

TARGET_COLD_S = 5.0
TARGET_SPEEDUP = 10.0
TARGET_INCREMENTAL_S = 1.0
SESSIONS_PER_YEAR = 252


def generate_panel(symbols: int, sessions: int, *, seed: int = 7) -> pl.DataFrame:
    """Random-walk OHLCV for ``symbols`` instruments on the last ``sessions`` NSE sessions of 2024."""
    rng = np.random.default_rng(seed)
    all_days = nse_calendar().sessions_between(dt.date(1990, 1, 1), dt.date(2024, 12, 31))
    days = np.array(all_days[-sessions:], dtype="datetime64[D]")
    n, shape = symbols * sessions, (symbols, sessions)
    vol = np.repeat(rng.uniform(0.01, 0.035, symbols), sessions)
    logret = (rng.standard_normal(n) * vol).reshape(shape)
    logret[:, 0] = 0.0
    start = np.repeat(rng.uniform(20, 3000, symbols), sessions).reshape(shape)
    close2 = start * np.exp(np.cumsum(logret, axis=1))
    prev2 = np.concatenate((close2[:, :1], close2[:, :-1]), axis=1)
    close, prev = close2.ravel(), prev2.ravel()
    open_ = prev * np.exp(rng.standard_normal(n) * vol * 0.3)
    wiggle = np.abs(rng.standard_normal((2, n))) * vol * 0.5
    volume = np.round(np.repeat(rng.uniform(1e4, 5e6, symbols), sessions) * rng.lognormal(0, 0.5, n))
    delivery = pl.Series(np.round(volume * rng.uniform(0.2, 0.8, n)).astype(np.int64))
    ids = np.array([f"INE{k:06d}01" for k in range(symbols)])
    return pl.DataFrame(
        {
            "instrument_id": np.repeat(ids, sessions),
            "symbol": np.repeat(np.char.replace(ids, "INE", "S"), sessions),
            "date": pl.Series(np.tile(days, symbols)).cast(pl.Date),
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(wiggle[0]),
            "low": np.minimum(open_, close) * np.exp(-wiggle[1]),
            "close": close,
            "prev_close": prev,
            "volume": volume.astype(np.int64),
            "delivery_qty": delivery.scatter(np.flatnonzero(rng.random(n) < 0.05), None),
            "band_pct": np.repeat(rng.choice([5.0, 10.0, 20.0], symbols), sessions),
        }
    )


# --- earnest ------------------------------------------------------------------------------------------


def earnest_full(panel: pl.DataFrame) -> int:
    """The fast path: all daily features from one sort, then the weekly set."""
    daily = technical.technical_features(panel)
    wk = weekly.weekly_features(panel)
    return daily.width + wk.width - 6


def earnest_per_spec(panel: pl.DataFrame) -> int:
    """Every spec's compute called on its own, as an engine building one feature at a time would."""
    return sum(spec.compute(panel, **dict(spec.params)).width - 3 for spec in technical.SPECS + weekly.SPECS)


def tail_sessions(panel: pl.DataFrame, rows: int) -> pl.DataFrame:
    """The last ``rows`` sessions of every instrument (what the engine hands an incremental build)."""
    return panel.filter(pl.int_range(pl.len()).reverse().over("instrument_id") < rows)


# --- pandas baseline ------------------------------------------------------------------------------------


def _seeded_ema(x: pd.Series, alpha: float, seed_at: int, seed_len: int) -> pd.Series:
    """EMA seeded at position ``seed_at`` with the mean of the ``seed_len`` values ending there."""
    out = pd.Series(np.nan, index=x.index)
    if len(x) <= seed_at:
        return out
    body = x.iloc[seed_at:].copy()
    body.iloc[0] = x.iloc[seed_at - seed_len + 1 : seed_at + 1].mean()
    out.iloc[seed_at:] = body.ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def _indicators(g: pd.DataFrame, *, periods: int, windows: tuple[int, ...], daily: bool) -> pd.DataFrame:
    c, h, lo = g["close"], g["high"], g["low"]
    out = pd.DataFrame(index=g.index)
    for n in windows:
        out[f"ret_{n}"] = c.pct_change(n, fill_method=None)
    delta = c.diff()
    up = _seeded_ema(delta.clip(lower=0), 1 / 14, 14, 14)
    down = _seeded_ema((-delta).clip(lower=0), 1 / 14, 14, 14)
    out["rsi_14"] = 100 * up / (up + down)
    line = _seeded_ema(c, 2 / 13, 25, 12) - _seeded_ema(c, 2 / 27, 25, 26)
    signal = pd.Series(np.nan, index=g.index)
    signal.iloc[25:] = _seeded_ema(line.iloc[25:], 2 / 10, 8, 9).to_numpy()
    out["macd"], out["macd_signal"], out["macd_hist"] = line.where(signal.notna()), signal, line - signal
    mid, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    out["bb_pctb"] = (c - (mid - 2 * sd)) / (4 * sd)
    out["bb_width"] = 4 * sd / mid
    tr = pd.concat([h - lo, (h - c.shift()).abs(), (lo - c.shift()).abs()], axis=1).max(axis=1)
    out["atr_14_pct"] = 100 * _seeded_ema(tr, 1 / 14, 14, 14) / c
    out["vol"] = np.log(c).diff().rolling(20).std() * math.sqrt(periods)
    out["volume_ratio"] = g["volume"] / g["volume"].rolling(20).mean()
    if daily:
        ratio = g["delivery_qty"] / g["volume"].where(g["volume"] > 0)
        out["delivery_ratio"] = ratio
        out["delivery_rel"] = ratio / ratio.rolling(20, min_periods=10).mean()
        out["high_52w_dist"] = c / h.rolling(252).max() - 1
        out["low_52w_dist"] = c / lo.rolling(252).min() - 1
        base = g["prev_close"].fillna(c.shift())
        out["gap"] = g["open"] / base - 1
        band = g["band_pct"] / 100
        out["band_upper_dist"] = (base * (1 + band) - c) / c
        out["band_lower_dist"] = (c - base * (1 - band)) / c
    return out


def _pandas_instrument(g: pd.DataFrame) -> pd.DataFrame:
    g = g.sort_values("date")
    daily = _indicators(g, periods=252, windows=(1, 5, 20, 60), daily=True)
    bars = g.set_index("date").resample("W-SUN")
    wk = pd.DataFrame(
        {
            "open": bars["open"].first(),
            "high": bars["high"].max(),
            "low": bars["low"].min(),
            "close": bars["close"].last(),
            "volume": bars["volume"].sum(),
            "end": bars["close"].apply(lambda s: s.index.max()),
        }
    ).dropna(subset=["close"])
    wk_ind = _indicators(wk, periods=52, windows=(1, 4, 13), daily=False).add_prefix("wk_")
    wk_ind["end"] = wk["end"].to_numpy()
    aligned = pd.merge_asof(g[["date"]], wk_ind, left_on="date", right_on="end", direction="backward")
    return pd.concat([daily, aligned.drop(columns=["date", "end"]).set_index(g.index)], axis=1)


def pandas_full(frame: pd.DataFrame) -> int:
    out = frame.groupby("instrument_id", group_keys=False).apply(_pandas_instrument)
    return int(out.shape[1])


# --- the run ---------------------------------------------------------------------------------------------


def _agreement(panel: pl.DataFrame) -> list[tuple[str, float]]:
    """Max |earnest - pandas| on a few symbols for columns where both use the same convention."""
    small = panel.filter(
        pl.col("instrument_id").is_in(panel["instrument_id"].unique().sort().head(5).to_list())
    )
    ours = technical.technical_features(small).to_pandas()
    theirs = small.to_pandas().groupby("instrument_id", group_keys=False).apply(_pandas_instrument)
    pairs = [("rsi_14", "rsi_14"), ("macd_12_26_9", "macd"), ("bb_pctb_20_2", "bb_pctb")]
    pairs += [("atr_14_pct", "atr_14_pct"), ("vol_20d", "vol"), ("high_52w_dist", "high_52w_dist")]
    return [
        (a, float(np.nanmax(np.abs(ours[a].to_numpy(float) - theirs[b].to_numpy(float))))) for a, b in pairs
    ]


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(cold, median of ``repeat`` further calls) in seconds."""
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    return cold, median(timed(fn, repeat=repeat))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pandas-repeat", type=int, default=1, help="timed pandas runs after its cold run")
    parser.add_argument("--incremental-symbols", type=int, default=2000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    nse_calendar()
    calendar_s = time.perf_counter() - t0
    panel = generate_panel(args.symbols, args.years * SESSIONS_PER_YEAR)
    frame = panel.to_pandas()
    print(
        f"panel: {args.symbols} symbols x {args.years} years = {panel.height:,} rows; {os.cpu_count()} CPUs"
    )

    cold, warm = _time(lambda: earnest_full(panel), args.repeat)
    spec_cold, spec_warm = _time(lambda: earnest_per_spec(panel), args.repeat)
    pd_cold, pd_warm = _time(lambda: pandas_full(frame), args.pandas_repeat)

    lookbacks = {s.name: s.lookback_sessions for s in technical.SPECS + weekly.SPECS}
    daily_lb = max(s.lookback_sessions for s in technical.SPECS)
    big = generate_panel(args.incremental_symbols, weekly.WEEKLY_LOOKBACK_SESSIONS + 1, seed=11)
    daily_slice = tail_sessions(big, daily_lb + 1)
    slices = {s.name: tail_sessions(big, s.lookback_sessions + 1) for s in technical.SPECS}

    def incremental_fast() -> None:
        technical.technical_features(daily_slice)
        weekly.weekly_features(big)

    def incremental_specs() -> None:
        for spec in technical.SPECS:
            spec.compute(slices[spec.name], **dict(spec.params))
        weekly.weekly_features(big)

    inc_cold, inc_warm = _time(incremental_fast, args.repeat)
    inc_spec_cold, inc_spec_warm = _time(incremental_specs, args.repeat)

    speedup = pd_warm / warm
    rows = [
        ("NSE calendar load (once per process)", "-", calendar_s, calendar_s, "-", ""),
        ("earnest full set, fast path", f"{panel.height:,}", cold, warm, f"<= {TARGET_COLD_S} cold", ""),
        ("earnest full set, one spec at a time", f"{panel.height:,}", spec_cold, spec_warm, "", ""),
        ("pandas groupby-apply baseline", f"{panel.height:,}", pd_cold, pd_warm, "", f"{speedup:.1f}x"),
        (
            f"incremental 1 day x {args.incremental_symbols} (fast path)",
            f"{daily_slice.height:,} + {big.height:,}",
            inc_cold,
            inc_warm,
            f"<= {TARGET_INCREMENTAL_S}",
            "",
        ),
        (
            f"incremental 1 day x {args.incremental_symbols} (per spec)",
            f"{sum(s.height for s in slices.values()) + big.height:,}",
            inc_spec_cold,
            inc_spec_warm,
            "",
            "",
        ),
    ]
    print_table(rows, ["case", "rows", "cold s", "median s", "target", "vs pandas"])
    print(f"\nlookback sessions per spec: {lookbacks}")
    print("max |earnest - pandas| on 5 symbols: " + ", ".join(f"{c} {d:.2e}" for c, d in _agreement(panel)))
    verdict = [
        ("cold + calendar <= 5 s", cold + calendar_s <= TARGET_COLD_S),
        (">= 10x pandas", speedup >= TARGET_SPEEDUP),
        ("incremental <= 1 s (median)", inc_warm <= TARGET_INCREMENTAL_S),
    ]
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in verdict))


if __name__ == "__main__":
    main()
