"""A real :class:`BacktestRun` from a small synthetic panel (3 symbols, 220 sessions from 2020-01-01):
the engine with full Indian costs, the performance summary and the risk report, shared by the unit
and browser tests of the backtest report."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl

from earnest.backtest.engine import BacktestConfig, run_backtest
from earnest.backtest.panel import BacktestInputs
from earnest.backtest.perf import summarise
from earnest.backtest.risk import risk_report
from earnest.backtest.run import BacktestRun

N_SESSIONS = 220
SYMBOLS = ("AAA", "BBB", "CCC")


def synthetic_inputs(*, seed: int = 7) -> BacktestInputs:
    """Random-walk prices on business days; every 20 sessions the portfolio rotates between two
    of the three symbols at 45 % each (so it trades, pays costs and holds 10 % cash)."""
    rng = np.random.default_rng(seed)
    n, k = N_SESSIONS, len(SYMBOLS)
    dates = np.busday_offset(np.datetime64("2020-01-01"), np.arange(n), roll="forward")
    close = 100.0 * np.cumprod(1.0 + rng.normal(0.0005, 0.015, size=(n, k)), axis=0)
    open_ = close * (1.0 + rng.normal(0.0, 0.003, size=(n, k)))
    weights = np.full((n, k), np.nan)
    for i, t in enumerate(range(0, n - 1, 20)):
        weights[t] = 0.0
        weights[t, [i % k, (i + 1) % k]] = 0.45
    nan = np.full((n, k), np.nan)
    return BacktestInputs(
        dates=dates,
        symbols=SYMBOLS,
        open=open_,
        close=close,
        lower=nan,
        upper=nan,
        adv=nan,
        weights=weights,
    )


def synthetic_run(
    *,
    name: str = "rotation test",
    description: str = "rotate between two of three synthetic scrips every 20 sessions",
    benchmark_name: str = "NIFTY 50",
    n_trials: int | None = None,
    assumptions: list[str] | None = None,
) -> BacktestRun:
    """The run the report tests render: real engine, perf and risk on :func:`synthetic_inputs`."""
    inputs = synthetic_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the default cost schedule warns about its assumed rates
        config = BacktestConfig(initial_cash=1_000_000.0, liquidity_cap=np.inf)
        result = run_backtest(inputs, config)
        _ = result.costs  # built on first access: build it here, where the warning is expected
    daily = result.daily
    net = daily.get_column("net_return").to_numpy()
    rng = np.random.default_rng(11)
    bench_close = 12_000.0 * np.cumprod(1.0 + rng.normal(0.0003, 0.01, size=N_SESSIONS))
    benchmark = pl.DataFrame({"date": daily.get_column("date"), "close": bench_close})
    bench_returns = bench_close[1:] / bench_close[:-1] - 1.0
    perf = summarise(
        net,
        gross=daily.get_column("gross_return").to_numpy(),
        turnover=daily.get_column("turnover").to_numpy(),
        exposure=daily.get_column("exposure").to_numpy(),
        n_trials=n_trials,
        var_trials_sr=None if n_trials is None else 1e-4,
    )
    risk = risk_report(net, dates=daily.get_column("date"), n_paths=500, backtest_window=100, seed=3)
    return BacktestRun(
        name=name,
        description=description,
        config={"initial_cash": config.initial_cash, "execution": config.execution, "start": inputs.dates[0]},
        result=result,
        benchmark_name=benchmark_name,
        benchmark=benchmark,
        perf=perf,
        benchmark_perf=summarise(bench_returns),
        risk=risk,
        counts={"signals": int(np.isfinite(inputs.weights).sum())},
        receipt={"data_hash": "sim", "config_hash": "abc", "code_version": "test", "seed": 3},
        assumptions=assumptions if assumptions is not None else ["cost rates carried back before 2021"],
    )
