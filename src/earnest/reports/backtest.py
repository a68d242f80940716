"""Render a :class:`~earnest.backtest.run.BacktestRun` as JSON (with its receipt) and as one
self-contained HTML page with Plotly charts: equity (net, gross, benchmark), drawdown, monthly
returns, cost attribution per component, exposure and turnover, the headline metrics next to the
benchmark's, the risk tables, the assumptions and the receipt. No computation happens here beyond
unit conversions (rupees to basis points of traded value and to percent of initial capital).

Units in the JSON: returns, exposure and turnover are fractions (0.01 = 1 %); costs are rupees,
with ``bps_of_traded_value`` (1 bp = 0.01 % of the value bought plus sold), ``pct_of_traded_value``
and ``pct_of_initial_capital`` in percent. The initial capital is read back from the first
session (``equity / (1 + net_return)``), so the report needs no knowledge of the config's layout.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from earnest.backtest.perf import PerformanceSummary
from earnest.backtest.risk import STRESS_WINDOWS, RiskReport
from earnest.backtest.run import BacktestRun

__all__ = ["backtest_html", "backtest_json", "cost_attribution", "headline_rows", "write_backtest"]

_DAILY = ("equity", "net_return", "gross_return", "exposure", "turnover")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FEE_COLOUR, _SLIP_COLOUR = "#4c72b0", "#dd8452"


# ---------------------------------------------------------------------------------------------- JSON


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities become None, NumPy scalars plain numbers, dates ISO strings,
    mappings dicts with string keys, tuples lists; anything else unknown becomes its ``str``."""
    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        x = x.item()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dt.date | dt.datetime):
        return x.isoformat()
    if x is None or isinstance(x, str | int | bool):
        return x
    return str(x)


def _initial_capital(run: BacktestRun) -> float | None:
    """Capital before the first session: first equity / (1 + first net return); None if unknown."""
    daily = run.result.daily
    if daily.height == 0:
        return None
    equity, net = daily.get_column("equity")[0], daily.get_column("net_return")[0]
    if equity is None or net is None or not math.isfinite(net) or net <= -1.0:
        return None
    return float(equity) / (1.0 + float(net))


def _traded_value(run: BacktestRun) -> float:
    """Rupees bought plus sold over the run (every fill's value)."""
    fills = run.result.fills
    return float(fills.get_column("value").sum()) if fills.height else 0.0


def _share(rupees: float, base: float | None, scale: float) -> float | None:
    return rupees / base * scale if base else None


def cost_attribution(run: BacktestRun) -> dict[str, Any]:
    """Costs per component: rupees, bps and percent of traded value, percent of initial capital.

    ``components`` lists every fee and tax line (kind ``fee``) then ``slippage`` (kind
    ``slippage``: price concession, not a charge); ``fees`` adds the fee lines up and ``total``
    adds slippage to them. ``traded_value`` is rupees bought plus sold; ``initial_capital`` the
    rupees before the first session.
    """
    traded, capital = _traded_value(run), _initial_capital(run)

    def line(name: str, kind: str, rupees: float) -> dict[str, Any]:
        return {
            "name": name,
            "kind": kind,
            "rupees": rupees,
            "bps_of_traded_value": _share(rupees, traded, 1e4),
            "pct_of_traded_value": _share(rupees, traded, 100.0),
            "pct_of_initial_capital": _share(rupees, capital, 100.0),
        }

    totals = run.cost_totals()
    slippage = totals.pop("slippage", 0.0)
    components = [line(k, "fee", v) for k, v in totals.items()]
    components.append(line("slippage", "slippage", slippage))
    fees = sum(totals.values())
    return {
        "traded_value": traded,
        "initial_capital": capital,
        "components": components,
        "fees": line("fees and taxes", "fee", fees),
        "total": line("total", "all", fees + slippage),
    }


def _daily_rows(run: BacktestRun) -> list[dict[str, Any]]:
    daily = run.result.daily
    cols = [c for c in _DAILY if c in daily.columns]
    return daily.select(pl.col("date").cast(pl.Date), *cols).to_dicts()


def backtest_json(run: BacktestRun) -> dict[str, Any]:
    """The run as a JSON-serialisable dict (NaN and infinities become None, dates ISO strings).

    Keys: ``name``, ``description``, ``config``, ``benchmark_name``, ``counts`` (the engine's
    ``sessions``, ``fills``, ``blocked_orders`` and ``cancelled_orders``, then the run's own counts,
    which win on a shared key), ``perf``,
    ``benchmark_perf`` (None without a benchmark), ``risk``, ``costs`` (:func:`cost_attribution`),
    ``assumptions``, ``receipt``, ``daily`` (one row per session: ``date``, ``equity``,
    ``net_return``, ``gross_return``, ``exposure``, ``turnover``) and ``monthly`` (``year``,
    ``month``, compounded net ``return``).
    """
    result = run.result
    engine_counts = {
        "sessions": result.daily.height,
        "fills": result.fills.height,
        "blocked_orders": result.blocked_orders,
        "cancelled_orders": result.cancelled_orders,
    }
    counts = {**engine_counts, **dict(run.counts)}  # the run's own counts win over the engine's
    out = {
        "name": run.name,
        "description": run.description,
        "config": run.config,
        "benchmark_name": run.benchmark_name,
        "counts": counts,
        "perf": run.perf.to_dict(),
        "benchmark_perf": run.benchmark_perf.to_dict() if run.benchmark_perf is not None else None,
        "risk": run.risk.to_dict(),
        "costs": cost_attribution(run),
        "assumptions": list(run.assumptions),
        "receipt": run.receipt,
        "daily": _daily_rows(run),
        "monthly": run.monthly_returns().to_dicts(),
    }
    cleaned: dict[str, Any] = _clean(out)
    return cleaned


# ---------------------------------------------------------------------------------------------- text


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _pct(x: float | None, *, sign: bool = True) -> str:
    if not _ok(x):
        return "n/a"
    return f"{x:+.2%}" if sign else f"{x:.2%}"


def _ratio(x: float | None) -> str:
    return f"{x:.2f}" if _ok(x) else "n/a"


def _dsr(p: PerformanceSummary) -> str:
    """The deflated Sharpe ratio with its number of trials, or why it is missing."""
    if p.n_trials is None:
        return "not computed: no trial count"
    if not _ok(p.dsr):
        return f"not computed: undefined for these returns ({p.n_trials} trials)"
    return f"{p.dsr:.1%} ({p.n_trials} trials)"


def _min_trl(p: PerformanceSummary) -> str:
    if _ok(p.min_trl_years):
        return f"{p.min_trl_years:.1f} years"
    if _ok(p.psr):
        return "never: Sharpe not positive"
    return "n/a"


def _dsr_note(p: PerformanceSummary) -> str:
    """One sentence under the headline table on the deflated Sharpe ratio."""
    if p.n_trials is None:
        return "DSR: not computed: no trial count (the trial ledger gave no number of trials)."
    sr0 = f"{p.expected_max_sharpe:.2f}" if _ok(p.expected_max_sharpe) else "n/a"
    return (
        f"DSR with {p.n_trials} trials: {_dsr(p)}; the Sharpe ratio is judged against the expected "
        f"maximum of {p.n_trials} worthless trials (annualised {sr0})."
    )


_HEADLINE: tuple[tuple[str, Callable[[PerformanceSummary], str]], ...] = (
    ("Total return", lambda p: _pct(p.total_return)),
    ("CAGR", lambda p: _pct(p.cagr)),
    ("Volatility (annual)", lambda p: _pct(p.volatility, sign=False)),
    ("Sharpe (annual, no risk-free rate)", lambda p: _ratio(p.sharpe)),
    ("Sortino (annual)", lambda p: _ratio(p.sortino)),
    ("Max drawdown", lambda p: _pct(p.max_drawdown)),
    ("Calmar", lambda p: _ratio(p.calmar)),
    ("PSR: P[true Sharpe > 0]", lambda p: _pct(p.psr, sign=False)),
    ("DSR: deflated Sharpe ratio", _dsr),
    ("MinTRL (PSR 95 %)", _min_trl),
    ("Turnover (one-way, per year)", lambda p: _pct(p.turnover, sign=False)),
    ("Exposure (mean gross)", lambda p: _pct(p.exposure, sign=False)),
    ("Time in market", lambda p: _pct(p.time_in_market, sign=False)),
    ("Hit rate (days up / days moved)", lambda p: _pct(p.hit_rate, sign=False)),
    ("Cost drag (per year)", lambda p: _pct(p.cost_drag, sign=False)),
)


def headline_rows(run: BacktestRun) -> list[dict[str, str]]:
    """The headline table as text cells: one row per metric, strategy next to the benchmark."""
    rows = []
    for label, fmt in _HEADLINE:
        row = {"metric": label, "strategy": fmt(run.perf)}
        row[run.benchmark_name or "benchmark"] = (
            fmt(run.benchmark_perf) if run.benchmark_perf is not None else "n/a"
        )
        rows.append(row)
    return rows


_TEXT = ' class="text"'


def _table(rows: Sequence[Mapping[str, Any]], *, left: Sequence[str] = ()) -> str:
    """An HTML table of ``rows`` (every cell escaped; columns named in ``left`` align left);
    an empty list gives an empty string."""
    if not rows:
        return ""
    cols = list(rows[0].keys())
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(f"<td{_TEXT if c in left else ''}>{html.escape(_cell(r.get(c)))}</td>" for c in cols)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:,.4g}" if math.isfinite(x) else "n/a"
    return str(x)


# ---------------------------------------------------------------------------------------------- risk


def _var_rows(risk: RiskReport) -> list[dict[str, str]]:
    rows = []
    for v in risk.var:
        rows.append(
            {
                "method": v.method,
                "confidence": f"{v.confidence:.0%}",
                "horizon": f"{v.horizon_days} session(s)",
                "VaR": _pct(v.var, sign=False),
                "CVaR": _pct(v.cvar, sign=False),
                "paths": f"{v.n_paths:,}" if v.n_paths is not None else "empirical (no paths)",
                "block size": f"{v.block_size:.1f} sessions" if v.block_size is not None else "n/a",
                "seed": "n/a" if v.seed is None else str(v.seed),
                "observations": f"{v.n_obs:,}",
            }
        )
    return rows


def _lr(stat: float, p: float) -> str:
    return f"LR {stat:.2f}, p = {p:.3g}" if _ok(stat) and _ok(p) else "n/a"


def _coverage_rows(risk: RiskReport) -> list[dict[str, str]]:
    return [
        {
            "VaR": f"historical {b.confidence:.0%}, rolling {b.window} sessions",
            "days tested": f"{b.n_days:,}",
            "exceedances": f"{b.n_exceedances} (expected {b.expected_exceedances:.1f})",
            "Kupiec POF": _lr(b.kupiec.statistic, b.kupiec.p_value),
            "Christoffersen independence": _lr(b.independence.statistic, b.independence.p_value),
            "conditional coverage": _lr(b.conditional_coverage.statistic, b.conditional_coverage.p_value),
        }
        for b in risk.backtests
    ]


def _stress_rows(risk: RiskReport) -> list[dict[str, str]]:
    defs = {w.name: w.definition for w in STRESS_WINDOWS}
    rows = []
    for s in risk.stress:
        figures = (
            {
                "sessions": str(s.n_obs),
                "return": _pct(s.total_return),
                "max drawdown": _pct(s.max_drawdown),
                "worst day": f"{s.worst_day} ({_pct(s.worst_day_return)})",
            }
            if s.covered
            else {"sessions": "not covered", "return": "", "max drawdown": "", "worst day": ""}
        )
        rows.append(
            {
                "window": s.name,
                "from": str(s.start),
                "to": str(s.end),
                **figures,
                "definition": defs.get(s.name, ""),
            }
        )
    return rows


def _risk_html(risk: RiskReport) -> str:
    var = _table(_var_rows(risk)) or "<p>No VaR computed.</p>"
    coverage = _table(_coverage_rows(risk)) or (
        "<p>No coverage tests: the series is shorter than the rolling VaR window plus two sessions.</p>"
    )
    stress = (
        _table(_stress_rows(risk), left=("definition",))
        or "<p>No stress windows: the risk report was given no dates.</p>"
    )
    return (
        "<h3>Value at risk (losses as a share of capital; CVaR = expected shortfall beyond VaR)</h3>"
        f"{var}<h3>VaR coverage tests (out of sample)</h3>{coverage}"
        f"<h3>Stress windows (net returns inside each window)</h3>{stress}"
    )


# ---------------------------------------------------------------------------------------------- charts


def _layout(fig: go.Figure, title: str, *, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", height=height, legend={"orientation": "h"})
    return fig


def _equity_figure(run: BacktestRun) -> go.Figure:
    curves = run.equity_curves()
    dates = curves.get_column("date").to_list()
    fig = go.Figure()
    for col, name in (("strategy", "net of costs"), ("gross", "gross (before costs)")):
        fig.add_trace(go.Scatter(x=dates, y=curves.get_column(col).to_list(), mode="lines", name=name))
    bench = curves.get_column("benchmark")
    if bench.drop_nulls().len():
        label = html.escape(run.benchmark_name or "benchmark")
        fig.add_trace(go.Scatter(x=dates, y=bench.to_list(), mode="lines", name=label, line={"dash": "dot"}))
    scale = [
        {"label": "linear", "method": "relayout", "args": [{"yaxis.type": "linear"}]},
        {"label": "log", "method": "relayout", "args": [{"yaxis.type": "log"}]},
    ]
    fig.update_layout(
        yaxis_title="growth of 1 rupee",
        updatemenus=[{"type": "buttons", "direction": "right", "x": 1.0, "y": 1.15, "buttons": scale}],
    )
    return _layout(fig, "Equity: net vs gross vs benchmark (starts at 1)")


def _drawdown_figure(run: BacktestRun) -> go.Figure:
    dd = run.drawdowns()
    fig = go.Figure(
        go.Scatter(
            x=dd.get_column("date").to_list(),
            y=dd.get_column("drawdown").to_list(),
            fill="tozeroy",
            mode="lines",
            name="drawdown",
            line={"color": "#b3261e"},
        )
    )
    fig.update_layout(yaxis_tickformat=".0%", yaxis_title="below the running peak")
    return _layout(fig, "Drawdown of the net equity", height=320)


def _monthly_figure(run: BacktestRun) -> go.Figure:
    monthly = run.monthly_returns()
    years = sorted({int(y) for y in monthly.get_column("year").to_list()})
    z: list[list[float | None]] = [[None] * 12 for _ in years]
    text: list[list[str]] = [[""] * 12 for _ in years]
    for year, month, ret in monthly.iter_rows():
        i = years.index(int(year))
        if ret is not None and math.isfinite(ret):
            z[i][int(month) - 1] = ret * 100.0
            text[i][int(month) - 1] = f"{ret * 100.0:+.1f}%"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(_MONTHS),
            y=[str(y) for y in years],
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu",
            zmid=0.0,
            colorbar={"title": "%"},
            hovertemplate="%{y} %{x}: %{z:+.2f}%<extra></extra>",
        )
    )
    fig.update_layout(yaxis={"type": "category", "autorange": "reversed"})
    return _layout(fig, "Monthly net returns (%)", height=max(260, 60 + 40 * len(years)))


def _cost_figure(costs: Mapping[str, Any]) -> go.Figure:
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("rupees", "basis points of traded value"), horizontal_spacing=0.12
    )
    for kind, colour, label in (
        ("fee", _FEE_COLOUR, "fees and taxes"),
        ("slippage", _SLIP_COLOUR, "slippage"),
    ):
        lines = [c for c in costs["components"] if c["kind"] == kind]
        names = [c["name"] for c in lines]
        for col, key in ((1, "rupees"), (2, "bps_of_traded_value")):
            fig.add_trace(
                go.Bar(
                    x=names,
                    y=[c[key] for c in lines],
                    name=label,
                    marker_color=colour,
                    showlegend=col == 1,
                    legendgroup=kind,
                ),
                row=1,
                col=col,
            )
    return _layout(fig, "Cost attribution per component (slippage separate)", height=380)


def _exposure_figure(run: BacktestRun) -> go.Figure:
    daily = run.result.daily
    dates = daily.get_column("date").to_list()
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08)
    fig.add_trace(
        go.Scatter(
            x=dates, y=daily.get_column("exposure").to_list(), mode="lines", name="exposure", fill="tozeroy"
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(x=dates, y=daily.get_column("turnover").to_list(), name="turnover (one-way)"), row=2, col=1
    )
    fig.update_yaxes(tickformat=".0%", title_text="positions / equity", row=1, col=1)
    fig.update_yaxes(tickformat=".1%", title_text="traded / equity", row=2, col=1)
    return _layout(fig, "Exposure and daily turnover", height=460)


# ---------------------------------------------------------------------------------------------- page

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}
td:first-child,td.text{text-align:left}
.assumptions{border:2px solid #8a6d00;background:#fff8e1;padding:.5rem 1rem;margin:1rem 0}
.receipt,.config{font-family:monospace;font-size:.8rem;color:#555;white-space:pre-wrap}
"""


def _cost_rows(costs: Mapping[str, Any]) -> list[dict[str, str]]:
    def row(c: Mapping[str, Any]) -> dict[str, str]:
        return {
            "component": c["name"],
            "rupees": f"{c['rupees']:,.2f}" if _ok(c["rupees"]) else "n/a",
            "bps of traded value": _ratio(c["bps_of_traded_value"]),
            "% of initial capital": f"{c['pct_of_initial_capital']:.4f}"
            if _ok(c["pct_of_initial_capital"])
            else "n/a",
        }

    return [*(row(c) for c in costs["components"]), row(costs["fees"]), row(costs["total"])]


def _assumptions_html(assumptions: Sequence[str]) -> str:
    items = "".join(f"<li>{html.escape(a)}</li>" for a in assumptions) or "<li>None recorded.</li>"
    return f'<div class="assumptions"><h2>Assumptions</h2><ul>{items}</ul></div>'


def backtest_html(run: BacktestRun) -> str:
    """One self-contained HTML page (Plotly inlined once, works offline); user text is escaped."""
    data = backtest_json(run)
    costs = data["costs"]
    figs = [
        _equity_figure(run),
        _drawdown_figure(run),
        _monthly_figure(run),
        _cost_figure(costs),
        _exposure_figure(run),
    ]
    charts = "".join(
        f.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart{i}") for i, f in enumerate(figs)
    )
    name = html.escape(run.name)
    bench = html.escape(run.benchmark_name or "(none)")
    traded = costs["traded_value"]
    capital = costs["initial_capital"]
    counts = [{"what": k, "count": v} for k, v in data["counts"].items()]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>earnest backtest: {name}</title><style>{_CSS}</style></head><body>
<h1>{name}</h1><p>{html.escape(run.description)}</p>
<p>Benchmark: <b>{bench}</b>. Returns are net of fees, taxes and slippage unless said otherwise.</p>
{_assumptions_html(run.assumptions)}
<h2>Headline</h2>{_table(headline_rows(run))}<p>{html.escape(_dsr_note(run.perf))}</p>
<h2>Charts</h2>{charts}
<h2>Costs</h2><p>Traded value (bought + sold): Rs {traded:,.0f}; initial capital: Rs
{f"{capital:,.0f}" if capital is not None else "n/a"}.</p>{_table(_cost_rows(costs))}
<h2>Risk</h2>{_risk_html(run.risk)}
<h2>Counts</h2>{_table(counts)}
<h2>Configuration</h2><details><summary>canonical run config</summary>
<pre class="config">{html.escape(json.dumps(data["config"], indent=1))}</pre></details>
<h2>Receipt</h2><pre class="receipt">{html.escape(json.dumps(data["receipt"], indent=1))}</pre>
</body></html>"""


def write_backtest(run: BacktestRun, out_dir: Path) -> tuple[Path, Path]:
    """Write ``backtest.json`` and ``backtest.html`` under ``out_dir`` (created if needed);
    returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "backtest.json"
    page = out_dir / "backtest.html"
    js.write_text(json.dumps(backtest_json(run), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    page.write_text(backtest_html(run), encoding="utf-8")
    return js, page
