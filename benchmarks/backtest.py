"""Benchmark: the portfolio engine on a 500-symbol x 15-year daily panel, side by side with vectorbt
and backtesting.py in one run (issue 7 targets: earnest with full Indian costs and bands in at most
1 s; at most 2x vectorbt's ``Portfolio.from_signals`` without India rules; at least 50x faster than
backtesting.py on one stock).

The panel is synthetic: a market factor plus Student-t idiosyncratic returns, an overnight gap,
per-scrip bands of 5/10/20 % (a quarter with none, like F&O stocks) around the previous close with
prices clipped to them (so some opens sit locked at a band), and a traded value per day for the
ADV cap. The signal is monthly top-50 12-1 momentum; earnest gets it as target weights (equal,
98 % invested), vectorbt as the matching entries and exits, buying a fixed 2 % of the initial
cash per entry from shared cash (its ``from_signals`` has no target percent), backtesting.py as buy/close signals on one stock. Every tool executes at the next
session's open. Timings are medians of ``--repeat`` runs after one untimed warm-up run whose
time (numba compilation, or loading it from numba's on-disk cache) is printed separately.

    .venv/bin/python benchmarks/backtest.py [--repeat 5] [--symbols 500] [--sessions 3750]

vectorbt and backtesting.py come from the ``bench`` extra (``pip install -e '.[bench]'``); a tool
that is not installed is reported as missing and its ratio skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# a fresh numba cache, so that the first call shows the real compile time (not a cache load)
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="earnest-bench-numba-"))
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, print_table

from earnest.backtest.costs import CostModel
from earnest.backtest.engine import BacktestConfig, run_backtest
from earnest.backtest.panel import BacktestInputs
from earnest.backtest.sizing import rank_top_k, rebalance_on
from earnest.core.memory import keep_freed_memory

TOP = 50
INVESTED = 0.98


def synthetic_panel(n_sym: int, n_t: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Open/close/band/ADV matrices (sessions x symbols) of a banded, fat-tailed market."""
    rng = np.random.default_rng(seed)
    dates = np.busday_offset("2010-01-01", np.arange(n_t), roll="forward")
    beta = rng.uniform(0.6, 1.4, n_sym)
    market = rng.standard_t(5, n_t) * 0.009
    idio = rng.standard_t(4, (n_t, n_sym)) * rng.uniform(0.01, 0.025, n_sym)
    ret = market[:, None] * beta + idio + 0.0002
    gap = rng.normal(0, 0.006, (n_t, n_sym))
    band = rng.choice([5.0, 10.0, 20.0, np.inf], n_sym, p=[0.25, 0.25, 0.25, 0.25])
    close, opn = np.empty((n_t, n_sym)), np.empty((n_t, n_sym))
    lower, upper = np.empty((n_t, n_sym)), np.empty((n_t, n_sym))
    prev = rng.uniform(50, 2000, n_sym)
    at_up = at_lo = np.zeros(n_sym, dtype=bool)
    for t in range(n_t):
        lo, up = prev * (1 - band / 100), prev * (1 + band / 100)
        opn[t] = np.clip(prev * np.exp(gap[t]), lo, up)
        close[t] = np.clip(prev * np.exp(ret[t]), lo, up)
        # a scrip that closed locked at a band stays locked the next session half the time
        again = rng.random(n_sym) < 0.5
        opn[t] = np.where(at_up & again, up, np.where(at_lo & again, lo, opn[t]))
        close[t] = np.where(at_up & again, up, np.where(at_lo & again, lo, close[t]))
        lower[t], upper[t] = lo, up
        at_up, at_lo = close[t] >= up, close[t] <= lo
        prev = close[t]
    lower[:, np.isinf(band)] = np.nan
    upper[:, np.isinf(band)] = np.nan
    value = np.exp(rng.normal(np.log(rng.uniform(2e7, 5e9, n_sym)), 0.5, (n_t, n_sym)))
    csum = np.vstack([np.zeros((1, n_sym)), np.cumsum(value, axis=0)])
    idx = np.arange(n_t)
    lo_i = np.clip(idx - 20, 0, None)
    adv = (csum[idx] - csum[lo_i]) / np.maximum(idx - lo_i, 1)[:, None]
    adv[0] = np.nan
    return {"dates": dates, "open": opn, "close": close, "lower": lower, "upper": upper, "adv": adv}


def momentum_weights(close: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """Equal weights on the top-50 by 12-1 month momentum, decided on each month's last session."""
    mom = np.full(close.shape, np.nan)
    mom[252:] = close[231:-21] / close[:-252] - 1.0
    months = dates.astype("datetime64[M]")
    month_end = np.append(months[1:] != months[:-1], True)
    month_end[:252] = False
    return rebalance_on(rank_top_k(mom, k=TOP, gross=INVESTED), month_end)


def signals(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries and exits equivalent to the weights (membership changes on decision rows)."""
    held = np.zeros(weights.shape, dtype=bool)
    state = np.zeros(weights.shape[1], dtype=bool)
    for t in range(weights.shape[0]):
        if not np.isnan(weights[t]).all():
            state = weights[t] > 0
        held[t] = state
    prev = np.vstack([np.zeros((1, weights.shape[1]), dtype=bool), held[:-1]])
    return held & ~prev, prev & ~held


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(first call seconds, median of ``repeat`` later calls)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return first, median(runs)


def vectorbt_run(
    panel: dict[str, np.ndarray], entries: np.ndarray, exits: np.ndarray
) -> Callable[[], object]:
    import pandas as pd
    import vectorbt as vbt

    idx = pd.DatetimeIndex(panel["dates"])
    close = pd.DataFrame(panel["close"], index=idx)
    # decided at t's close, traded at t+1's open: shift the signals one session, fill at the open
    price = pd.DataFrame(panel["open"], index=idx)
    ent = pd.DataFrame(np.vstack([np.zeros((1, entries.shape[1]), bool), entries[:-1]]), index=idx)
    ext = pd.DataFrame(np.vstack([np.zeros((1, exits.shape[1]), bool), exits[:-1]]), index=idx)

    def go() -> Any:
        pf = vbt.Portfolio.from_signals(
            close, ent, ext, price=price, size=INVESTED * 1e7 / TOP, size_type="value",
            init_cash=1e7, fees=0.001, cash_sharing=True, group_by=True, call_seq="auto", freq="1D",
        )  # fmt: skip
        return pf.value()

    return go


def backtesting_run(
    panel: dict[str, np.ndarray], entries: np.ndarray, exits: np.ndarray, j: int
) -> Callable[[], object]:
    import pandas as pd
    from backtesting import Backtest, Strategy

    idx = pd.DatetimeIndex(panel["dates"])
    o, c = panel["open"][:, j], panel["close"][:, j]
    df = pd.DataFrame(
        {"Open": o, "High": np.maximum(o, c), "Low": np.minimum(o, c), "Close": c, "Volume": 1e6}, index=idx
    )
    ent, ext = entries[:, j], exits[:, j]

    class Signals(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            t = len(self.data) - 1
            if ent[t] and not self.position:
                self.buy(size=INVESTED)
            elif ext[t] and self.position:
                self.position.close()

    def go() -> Any:
        return Backtest(df, Signals, cash=1e7, commission=0.001, finalize_trades=True).run()

    return go


def one_stock(panel: dict[str, np.ndarray], weights: np.ndarray, j: int) -> BacktestInputs:
    col = slice(j, j + 1)
    w = np.where(np.isnan(weights[:, col]), np.nan, np.where(weights[:, col] > 0, INVESTED, 0.0))
    return BacktestInputs(
        dates=panel["dates"], symbols=(f"S{j}",), open=panel["open"][:, col], close=panel["close"][:, col],
        lower=panel["lower"][:, col], upper=panel["upper"][:, col], adv=panel["adv"][:, col], weights=w,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--sessions", type=int, default=3750)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    keep_freed_memory()  # as the earnest CLI does (earnest.core.memory): freed arrays are reused

    t0 = time.perf_counter()
    panel = synthetic_panel(args.symbols, args.sessions)
    weights = momentum_weights(panel["close"], panel["dates"])
    entries, exits = signals(weights)
    inputs = BacktestInputs(symbols=tuple(f"S{j}" for j in range(args.symbols)), weights=weights, **panel)
    print(
        f"panel {args.symbols} symbols x {args.sessions} sessions built in {time.perf_counter() - t0:.1f} s"
    )

    full = BacktestConfig(initial_cash=1e7, costs=CostModel.default())
    bare = BacktestConfig(initial_cash=1e7, costs=CostModel.zero(), slippage_bps=0.0, liquidity_cap=np.inf)
    result: dict[str, Any] = {}

    def earnest_full() -> None:
        result["full"] = run_backtest(inputs, full)
        _ = result["full"].daily  # the equity frame, as vectorbt's pf.value()

    rows: list[list[object]] = []
    first, med = timed(earnest_full, args.repeat)
    rows.append(["earnest, Indian costs + bands + T+1 + ADV cap", first, med])
    e_first_bare, e_bare = timed(lambda: run_backtest(inputs, bare).daily, args.repeat)
    rows.append(["earnest, no costs, no cap (bands + T+1 kept)", e_first_bare, e_bare])
    try:
        v_first, v_med = timed(vectorbt_run(panel, entries, exits), args.repeat)
        rows.append(["vectorbt from_signals (no India rules)", v_first, v_med])
    except ImportError:
        v_med = float("nan")
        rows.append(["vectorbt: not installed", "-", "-"])
    j = int(np.argmax(entries.sum(axis=0)))
    single = one_stock(panel, weights, j)
    s_first, s_med = timed(lambda: run_backtest(single, full).daily, args.repeat * 100)
    rows.append([f"earnest, one stock (S{j}), full rules", s_first, s_med])
    rates = full.costs.daily_rates(single.dates)
    r_first, r_med = timed(lambda: run_backtest(single, full, rates=rates).daily, args.repeat * 100)
    rows.append(["  same, cost rates computed once beforehand", r_first, r_med])
    try:
        b_first, b_med = timed(backtesting_run(panel, entries, exits, j), args.repeat * 4)
        rows.append([f"backtesting.py, one stock (S{j}), {int(entries[:, j].sum())} entries", b_first, b_med])
    except ImportError:
        b_med = float("nan")
        rows.append(["backtesting.py: not installed", "-", "-"])
    print_table(
        [[r[0], *(x * 1e3 if isinstance(x, float) else x for x in r[1:])] for r in rows],
        ["run", "first call ms", "median ms"],
    )
    print("(first call: numba compilation into a fresh cache, or the tool's own warm-up)")

    res = result["full"]
    print(
        f"\nearnest full run: {res.fills.height:,} fills, {res.blocked_orders:,} blocked orders, "
        f"costs {res.daily['costs'].sum():,.0f} INR, final equity {res.daily['equity'][-1]:,.0f} INR"
    )
    print(f"earnest full-rules median {med:.3f} s (target <= 1 s): {'OK' if med <= 1.0 else 'MISSED'}")
    if np.isfinite(v_med):
        ratio = med / v_med
        print(f"earnest / vectorbt time ratio {ratio:.2f} (target <= 2): {'OK' if ratio <= 2 else 'MISSED'}")
    if np.isfinite(b_med):
        for label, mine in (("", s_med), (", rates precomputed", r_med)):
            speed = b_med / mine
            print(f"backtesting.py / earnest one-stock speed-up{label} {speed:.0f}x (target >= 50x): "
                  f"{'OK' if speed >= 50 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
