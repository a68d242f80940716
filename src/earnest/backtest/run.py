"""A finished backtest with everything its report shows: what the reports layer renders.

:class:`BacktestRun` bundles the engine's frames (:class:`earnest.backtest.engine.BacktestResult`),
the benchmark over the same sessions, the performance summary (with the deflated Sharpe ratio when
the trial ledger gave a number of trials), the risk report and the receipt. It holds no logic
beyond derived frames, so the JSON and the HTML are renderings of the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from earnest.backtest.engine import BacktestResult
from earnest.backtest.perf import PerformanceSummary, drawdown
from earnest.backtest.risk import RiskReport

__all__ = ["BacktestRun"]


@dataclass(frozen=True, eq=False)
class BacktestRun:
    """One backtest, ready to report.

    ``name`` and ``description`` say what was tested (e.g. the hypothesis and its selector);
    ``config`` is the canonical configuration (JSON-ready); ``result`` the engine's output;
    ``benchmark`` one row per session (``date``, ``close``) of the benchmark named
    ``benchmark_name`` (e.g. ``NIFTY 50`` or ``equal-weight``), possibly empty; ``perf`` and
    ``benchmark_perf`` the summaries of the strategy's net returns and of the benchmark;
    ``risk`` the VaR/CVaR, coverage tests and stress windows; ``counts`` what went in (signals,
    fills, blocked and cancelled orders); ``assumptions`` caveats the reader must see (e.g. cost
    rates carried back before their first source); ``receipt`` data hash, config hash, code
    version, seed.
    """

    name: str
    description: str
    config: Mapping[str, Any]
    result: BacktestResult
    benchmark_name: str
    benchmark: pl.DataFrame
    perf: PerformanceSummary
    benchmark_perf: PerformanceSummary | None
    risk: RiskReport
    counts: Mapping[str, int]
    receipt: Mapping[str, Any]
    assumptions: list[str] = field(default_factory=list)

    def equity_curves(self) -> pl.DataFrame:
        """``date``, ``strategy`` (net equity, starts at 1), ``gross`` (before costs) and
        ``benchmark`` (starts at 1 on the first session, null where it has no close)."""
        daily = self.result.daily
        net = np.cumprod(1.0 + np.nan_to_num(daily.get_column("net_return").to_numpy()))
        gross = np.cumprod(1.0 + np.nan_to_num(daily.get_column("gross_return").to_numpy()))
        out = pl.DataFrame({"date": daily.get_column("date"), "strategy": net, "gross": gross})
        if self.benchmark.height:
            bench = self.benchmark.select(pl.col("date").cast(pl.Date), pl.col("close").cast(pl.Float64))
            out = out.with_columns(pl.col("date").cast(pl.Date)).join(bench, on="date", how="left")
            first = out.get_column("close").drop_nulls()
            base = float(first[0]) if first.len() else float("nan")
            out = out.with_columns(benchmark=pl.col("close") / base).drop("close")
        else:
            out = out.with_columns(benchmark=pl.lit(None, pl.Float64))
        return out

    def drawdowns(self) -> pl.DataFrame:
        """``date`` and ``drawdown`` (<= 0) of the net equity, the initial capital counting as a peak."""
        daily = self.result.daily
        dd = drawdown(np.nan_to_num(daily.get_column("net_return").to_numpy()))
        return pl.DataFrame({"date": daily.get_column("date"), "drawdown": dd})

    def monthly_returns(self) -> pl.DataFrame:
        """``year``, ``month`` (1-12) and ``return`` (compounded net return of the month)."""
        daily = self.result.daily.select(pl.col("date").cast(pl.Date), "net_return")
        return (
            daily.group_by(pl.col("date").dt.year().alias("year"), pl.col("date").dt.month().alias("month"))
            .agg(((pl.col("net_return").fill_null(0.0) + 1.0).product() - 1.0).alias("return"))
            .sort("year", "month")
        )

    def cost_totals(self) -> dict[str, float]:
        """Rupees paid per cost component over the whole run (slippage included)."""
        costs = self.result.costs.drop("date")
        return {c: float(costs.get_column(c).sum()) for c in costs.columns}
