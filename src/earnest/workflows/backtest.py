"""``earnest backtest CONFIG.toml``: trade a hypothesis's events (or a model's scored events) through
the engine with Indian costs and price bands, and report it against the benchmark.

Steps: the hypothesis's events from the store (with the selector's features as known at each
event's knowledge time) -> selection -> entry sessions by the lab's rule -> (model source: only the
events the registered model scored, out of sample, at or above the threshold / in its top k) ->
slot weights (:mod:`earnest.backtest.trades`) -> engine on adjusted bars with bands and ADV ->
performance (deflated Sharpe ratio with the research question's trials from the ledger) -> risk
-> JSON + HTML report with the receipt. Each run is recorded in the trial ledger as a
``backtest`` trial of the question, so trying many portfolio settings raises the deflation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from earnest.backtest.costs import CostAssumptionWarning, CostModel
from earnest.backtest.engine import BacktestConfig, run_backtest
from earnest.backtest.panel import inputs_from_bars
from earnest.backtest.perf import PerformanceSummary, summarise
from earnest.backtest.risk import risk_report
from earnest.backtest.run import BacktestRun
from earnest.backtest.spec import BacktestSpec
from earnest.backtest.trades import TradePlan, plan_event_trades, trailing_vol
from earnest.core.calendar import TradingCalendar, nse_calendar
from earnest.core.errors import DataError
from earnest.core.receipt import Receipt, frame_hash
from earnest.events.records import first_sessions
from earnest.lab.ledger import record_backtest_trial, trial_counts
from earnest.lab.samples import select_events
from earnest.lab.spec import Hypothesis
from earnest.marketdata.adjust import adjusted_bars
from earnest.store import SqlStore
from earnest.workflows.lab import (
    EQUAL_WEIGHT,
    equal_weight_index,
    hypothesis_events,
)

__all__ = ["BacktestOutcome", "entry_dates", "render_backtest", "run_backtest_spec"]

Progress = Callable[[str], None]


def entry_dates(events: pl.DataFrame, h: Hypothesis, calendar: TradingCalendar) -> pl.DataFrame:
    """``events`` with ``entry_date``: the ``h.entry.lag_sessions``-th session whose opening auction
    follows the knowledge time (the lab's rule, :mod:`earnest.lab.windows`)."""
    if events.is_empty():
        return events.with_columns(pl.lit(None, pl.Date).alias("entry_date"))
    first = first_sessions(events.get_column("knowledge_time"), calendar=calendar)
    lag = h.entry.lag_sessions - 1
    entries = [calendar.offset(d, lag) if lag else d for d in first.get_column("first_session").to_list()]
    return events.with_columns(pl.Series("entry_date", entries, dtype=pl.Date))


def _events(store: SqlStore, h: Hypothesis, say: Progress) -> tuple[pl.DataFrame, int]:
    scope, selected = select_events(h, hypothesis_events(store, h, progress=say))
    return selected, scope.height


def _model_filter(selected: pl.DataFrame, spec: BacktestSpec, registry: Any) -> pl.DataFrame:
    """The selected events the model scored out of sample and picked (threshold or top k per date)."""
    sig = spec.signal
    oos = registry.oos(sig.model, version=sig.version, alias=None if sig.version else sig.alias)
    if oos is None or oos.is_empty():
        raise DataError(
            f"model {sig.model!r} has no out-of-sample predictions in the registry",
            remedy="register it with `earnest train` (which stores its walk-forward predictions)",
            field="signal.model",
        )
    scored = oos.select("symbol", pl.col("entry_date").cast(pl.Date), "score").unique(
        ["symbol", "entry_date"], keep="last"
    )
    joined = selected.join(scored, on=["symbol", "entry_date"], how="inner")
    if sig.threshold is not None:
        return joined.filter(pl.col("score") >= sig.threshold)
    rank = pl.col("score").rank("ordinal", descending=True).over("entry_date")
    return joined.filter(rank <= (sig.top_k or 1))


def _benchmark(store: SqlStore, name: str, bars: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    if name == EQUAL_WEIGHT:
        plain = bars.select(
            "symbol", "date", pl.col("adj_open").alias("open"), pl.col("adj_close").alias("close")
        )
        return equal_weight_index(plain).select("date", "close")
    index = store.read("index_bars", where={"index_name": [name]}, order_by=("date",))
    return index.filter(pl.col("date").is_between(start, end)).select("date", "close")


def _perf(
    store: SqlStore, question: str, net: np.ndarray, daily: pl.DataFrame
) -> tuple[PerformanceSummary, int, float, str]:
    """The summary with the deflated Sharpe ratio: N = every trial of the question (this one
    included), V[SR] = the variance of the recorded backtests' daily Sharpe ratios, or the null
    sampling variance 1/T when fewer than two are recorded (labelled)."""
    n_all, sharpes = trial_counts(store, question)
    finite = sharpes[np.isfinite(sharpes)]
    if finite.size >= 2:
        var, how = (
            float(np.var(finite, ddof=1)),
            f"variance of {finite.size} recorded backtests' Sharpe ratios",
        )
    else:
        var, how = 1.0 / max(net.size, 1), "null sampling variance 1/T (fewer than two backtests recorded)"
    perf = summarise(
        net,
        gross=daily.get_column("gross_return").to_numpy(),
        turnover=daily.get_column("turnover").to_numpy(),
        exposure=daily.get_column("exposure").to_numpy(),
        n_trials=max(n_all, 1),
        var_trials_sr=var,
    )
    return perf, max(n_all, 1), var, how


@dataclass(frozen=True)
class BacktestOutcome:
    """The run, its plan (per-event status) and where the report was written."""

    run: BacktestRun
    plan: TradePlan
    json_path: Path | None
    html_path: Path | None


def _engine_config(spec: BacktestSpec, h: Hypothesis) -> BacktestConfig:
    c = spec.costs
    costs = (
        CostModel(broker=c.broker, segment=c.segment, exchange=c.exchange) if c.enabled else CostModel.zero()
    )
    e = spec.execution
    return BacktestConfig(
        initial_cash=spec.portfolio.initial_cash,
        execution="next_open" if h.entry.at == "open" else "next_close",
        blocked=e.blocked,
        liquidity_cap=e.liquidity_cap,
        slippage_bps=e.slippage_bps,
        impact_bps=e.impact_bps,
        integer_shares=e.integer_shares,
        costs=costs,
    )


def run_backtest_spec(
    store: SqlStore,
    spec: BacktestSpec,
    *,
    registry: Any = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> BacktestOutcome:
    """Run the backtest ``spec`` on the store; ``registry`` (an
    :class:`earnest.models.registry.Registry`) is needed for a model signal."""
    say = progress or (lambda _: None)
    h = spec.hypothesis
    cal = nse_calendar()
    selected, in_scope = _events(store, h, say)
    trades = entry_dates(selected, h, cal).sort("knowledge_time", "symbol")
    if spec.signal.source == "model":
        if registry is None:
            raise DataError("a model signal needs the model registry", field="signal.model")
        trades = _model_filter(trades, spec, registry).sort("knowledge_time", "symbol")
    start = h.period.start - dt.timedelta(days=60)
    end = min(h.period.end + dt.timedelta(days=spec.signal.hold_sessions * 2 + 30), dt.date.today())
    symbols = sorted(set(trades.get_column("symbol").to_list()))
    if not symbols:
        raise DataError(
            f"no events to trade: {in_scope} in scope, {selected.height} selected, 0 left for the portfolio",
            remedy="widen the period or the selector, or lower the model threshold",
            field="signal",
        )
    say("bars")
    bars = adjusted_bars(store, symbols=symbols, start=start, end=end, series=list(h.universe.series))
    bars = bars.unique(["symbol", "date"], keep="first").sort("symbol", "date")
    say("portfolio")
    bands = store.read("price_bands", where={"symbol": symbols})
    no_weights = pl.DataFrame(schema={"date": pl.Date, "symbol": pl.Utf8, "weight": pl.Float64})
    grid = inputs_from_bars(bars, no_weights, bands=bands, adjusted=True)
    vol = trailing_vol(grid.close) if spec.portfolio.sizing == "vol_target" else None
    plan = plan_event_trades(
        trades,
        grid.dates,
        grid.symbols,
        hold=spec.signal.hold_sessions,
        max_positions=spec.portfolio.max_positions,
        max_weight=spec.portfolio.max_weight,
        vol=vol,
        target_vol=spec.portfolio.target_vol if vol is not None else None,
    )
    inputs = dataclasses.replace(grid, weights=plan.weights)
    say("engine")
    config = _engine_config(spec, h)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostAssumptionWarning)  # listed in the report's assumptions
        result = run_backtest(inputs, config)
        _ = (result.daily, result.costs, result.fills)  # built here, inside the filter
    daily = result.daily
    net = np.nan_to_num(daily.get_column("net_return").to_numpy())
    question = h.question or h.name
    bench_name = (spec.benchmark or h.benchmark.index).upper()
    bench = _benchmark(store, bench_name, bars, grid.dates[0].item(), grid.dates[-1].item())
    receipt = Receipt.make(
        data_hash=frame_hash(
            trades.select("symbol", "entry_date"), bars.select("symbol", "date", "adj_close")
        ),
        config=spec.model_dump(mode="json") | {"hypothesis": h.model_dump(mode="json")},
        seed=spec.seed,
    ).to_dict()
    record_backtest_trial(
        store,
        question=question,
        name=spec.name,
        spec=spec.model_dump(mode="json", exclude={"name", "description"}),
        net=net,
        receipt=receipt,
    )
    say("metrics")
    perf, n_trials, _, how = _perf(store, question, net, daily)
    bench_perf = _bench_perf(bench, daily)
    risk = risk_report(
        net,
        dates=daily.get_column("date"),
        n_paths=spec.risk.n_paths,
        seed=spec.seed,
        horizon_days=spec.risk.horizon_days,
    )
    assumptions = _assumptions(spec, config, grid.dates, how)
    run = BacktestRun(
        name=spec.name,
        description=spec.description or _describe(spec, h),
        config=spec.model_dump(mode="json"),
        result=result,
        benchmark_name=bench_name,
        benchmark=bench,
        perf=perf,
        benchmark_perf=bench_perf,
        risk=risk,
        counts={
            "events_in_scope": in_scope,
            "events_selected": selected.height,
            "events_traded": plan.counts["planned"],
            **{f"events_{k}": v for k, v in plan.counts.items() if k != "planned"},
            "fills": result.fills.height,
            "blocked_orders": result.blocked_orders,
            "cancelled_orders": result.cancelled_orders,
            "trials_in_question": n_trials,
        },
        receipt=receipt,
        assumptions=assumptions,
    )
    json_path = html_path = None
    if out_dir is not None:
        from earnest.reports.backtest import write_backtest

        json_path, html_path = write_backtest(run, out_dir)
    return BacktestOutcome(run, plan, json_path, html_path)


def _bench_perf(bench: pl.DataFrame, daily: pl.DataFrame) -> PerformanceSummary | None:
    if bench.height < 3:
        return None
    closes = daily.select(pl.col("date").cast(pl.Date)).join(
        bench.select(pl.col("date").cast(pl.Date), "close"), on="date", how="left"
    )
    close = closes.get_column("close").fill_null(strategy="forward").drop_nulls().to_numpy()
    if close.size < 3:
        return None
    return summarise(close[1:] / close[:-1] - 1.0)


def _describe(spec: BacktestSpec, h: Hypothesis) -> str:
    what = f"{h.event.type} events" + (f" where {h.event.selector}" if h.event.selector else "")
    if spec.signal.source == "model":
        pick = (
            f"score >= {spec.signal.threshold}"
            if spec.signal.threshold is not None
            else f"top {spec.signal.top_k}"
        )
        what += f", scored by model {spec.signal.model} ({pick})"
    return (
        f"{what}, {h.period.start} to {h.period.end}; enter at the {h.entry.at} of session "
        f"{h.entry.lag_sessions} after the news, hold {spec.signal.hold_sessions} sessions, "
        f"up to {spec.portfolio.max_positions} positions"
    )


def _assumptions(spec: BacktestSpec, config: BacktestConfig, dates: np.ndarray, dsr_how: str) -> list[str]:
    out = [f"deflated Sharpe ratio: V[SR] = {dsr_how}"]
    if not spec.costs.enabled:
        out.append("costs are OFF: fees and taxes are not deducted (slippage still is)")
    else:
        out += [
            f"cost rate assumed, not sourced: {a.label()}: {a.rate:g} {a.unit}"
            + (f" ({a.note})" if a.note else "")
            for a in dict.fromkeys(config.costs.assumptions(dates))
        ]
    out.append(
        "T+1: sale proceeds can buy shares from the next session; bands block buys at the upper and sells at "
        "the lower band price"
    )
    if math.isfinite(config.liquidity_cap):
        out.append(f"orders capped at {config.liquidity_cap:.0%} of the 20-session average traded value")
    return out


def render_backtest(console: Any, outcome: BacktestOutcome) -> None:
    """The headline figures next to the benchmark, the costs and where the report went."""
    from earnest.workflows.render import table_of

    run = outcome.run
    p, b = run.perf, run.benchmark_perf

    def pct(x: float | None) -> str:
        return "n/a" if x is None or not math.isfinite(x) else f"{x:+.2%}"

    def num(x: float | None) -> str:
        return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}"

    rows = [
        {"metric": "CAGR", "strategy": pct(p.cagr), run.benchmark_name: pct(b.cagr if b else None)},
        {"metric": "Sharpe", "strategy": num(p.sharpe), run.benchmark_name: num(b.sharpe if b else None)},
        {"metric": "Sortino", "strategy": num(p.sortino), run.benchmark_name: num(b.sortino if b else None)},
        {"metric": "max drawdown", "strategy": pct(p.max_drawdown), run.benchmark_name: pct(b.max_drawdown if b else None)},
        {"metric": "PSR (SR > 0)", "strategy": num(p.psr), run.benchmark_name: ""},
        {"metric": f"DSR ({p.n_trials} trials)", "strategy": num(p.dsr), run.benchmark_name: ""},
        {"metric": "cost drag / year", "strategy": pct(p.cost_drag), run.benchmark_name: ""},
        {"metric": "exposure", "strategy": pct(p.exposure), run.benchmark_name: ""},
    ]  # fmt: skip
    c = run.counts
    console.print(
        f"[bold]{run.name}[/]: {c['events_traded']:,} of {c['events_selected']:,} selected events traded "
        f"({c['events_no_slot']:,} found no free slot), {c['fills']:,} fills, {c['blocked_orders']:,} order(s) "
        f"blocked by a price band"
    )
    console.print(table_of(rows, title=f"net of costs, {run.result.daily.height:,} sessions"))
    costs = ", ".join(f"{k} {v:,.0f}" for k, v in run.cost_totals().items() if v)
    console.print(f"costs (INR): {costs}")
    if outcome.html_path is not None:
        console.print(f"report: {outcome.html_path}")
