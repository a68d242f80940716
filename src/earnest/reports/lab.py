"""Render a :class:`~earnest.lab.study.Study` as JSON (with its receipt) and as one self-contained
HTML page with Plotly charts: the verdict table, the cumulative average abnormal return by event day
against the baselines, the power curve and each variant's tests. No computation happens here.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl

from earnest.lab.study import Study, VariantResult

_COLOURS = {"EDGE": "#1b7f3b", "NO EDGE": "#b3261e", "INCONCLUSIVE": "#8a6d00"}


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _clean(x: Any) -> Any:
    """JSON-safe: NaN and infinities become null, NumPy scalars plain numbers, tuples lists."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and callable(x.item) and getattr(x, "ndim", 1) == 0:
        x = x.item()
    if isinstance(x, float):
        return _num(x)
    return x


def _estimate(e: Any) -> dict[str, Any]:
    out: dict[str, Any] = _clean(dataclasses.asdict(e))
    return out


def _variant_json(v: VariantResult) -> dict[str, Any]:
    return {
        "key": v.key,
        "horizon": v.horizon,
        "outcome": v.outcome,
        "null_value": v.null_value,
        "estimate": _estimate(v.estimate),
        "binomial": _estimate(v.binomial) if v.binomial is not None else None,
        "tests": v.tests.frame.to_dicts() if v.tests is not None else None,
        "primary_test": v.tests.primary if v.tests is not None else None,
        "baselines": [
            {"name": b.name, "description": b.description, "estimate": _estimate(b.estimate)}
            for b in v.baselines
        ],
        "power": {
            "effect": _num(v.power.effect),
            "power": _num(v.power.power),
            "mde": _num(v.power.mde),
            "events_needed": _num(v.power.events_needed),
            "years_of_data_needed": _num(v.power.years_of_data_needed),
        },
        "p_adjusted": _num(v.p_adjusted),
        "n_trials": v.n_trials,
        "verdict": {"label": v.verdict.label, "reasons": list(v.verdict.reasons)},
    }


def study_json(study: Study) -> dict[str, Any]:
    """The study as a JSON-serialisable dict (NaN becomes null)."""
    h = study.hypothesis
    out: dict[str, Any] = {
        "hypothesis": h.model_dump(mode="json"),
        "counts": dataclasses.asdict(study.counts),
        "variants": [_variant_json(v) for v in study.variants],
        "warnings": list(study.warnings),
        "receipt": study.receipt.to_dict(),
    }
    cleaned: dict[str, Any] = _clean(out)
    return cleaned


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _pct_or_rate(x: float | None, rate: bool) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.3f}" if rate else f"{x:+.2%}"


def _study_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """One summary row formatted for people: returns in percent, rates as fractions."""
    rate = r["outcome"] in ("win", "upper_circuit")
    need = r["events_needed"]
    return {
        "horizon": r["horizon"],
        "outcome": r["outcome"],
        "n": r["n"],
        "mean": _pct_or_rate(r["mean"], rate),
        "95% CI": f"[{_pct_or_rate(r['ci_low'], rate)}, {_pct_or_rate(r['ci_high'], rate)}]"
        if _finite(r["ci_low"]) and _finite(r["ci_high"])
        else "n/a",
        "p": f"{r['p_value']:.3g}" if _finite(r["p_value"]) else "n/a",
        "p adj.": f"{r['p_adjusted']:.3g}" if _finite(r["p_adjusted"]) else "n/a",
        "power": f"{r['power']:.0%}" if _finite(r["power"]) else "n/a",
        "MDE": _pct_or_rate(r["mde"], rate),
        "events needed": f"{need:,.0f}" if _finite(need) else "n/a",
        "verdict": r["verdict"],
    }


def summary_rows(study: Study) -> list[dict[str, Any]]:
    """The verdict table as text cells: one row per variant (the CLI and the HTML page show it)."""
    return [_study_row(r) for r in study.summary().to_dicts()]


def _caar_figure(study: Study) -> go.Figure:
    fig = go.Figure()
    caar = study.caar
    for name in caar.get_column("sample").unique(maintain_order=True).to_list() if caar.height else []:
        part = caar.filter(pl.col("sample") == name)
        days = part.get_column("day").to_list()
        fig.add_trace(
            go.Scatter(x=days, y=part.get_column("caar").to_list(), mode="lines+markers", name=name)
        )
        if name == "hypothesis":
            band_x = days + days[::-1]
            band_y = part.get_column("caar_high").to_list() + part.get_column("caar_low").to_list()[::-1]
            fig.add_trace(
                go.Scatter(
                    x=band_x,
                    y=band_y,
                    fill="toself",
                    line={"width": 0},
                    opacity=0.2,
                    name="hypothesis 95% band",
                    hoverinfo="skip",
                )
            )
    fig.update_layout(
        title="Cumulative average abnormal return by session after entry (gross of costs)",
        xaxis_title="session after entry (1 = entry session)",
        yaxis_title="CAAR",
        yaxis_tickformat=".1%",
        template="plotly_white",
        height=420,
    )
    return fig


def _power_figure(study: Study) -> go.Figure:
    fig = go.Figure()
    for v in study.variants:
        curve = v.power.curve
        if curve.height:
            fig.add_trace(
                go.Scatter(
                    x=curve.get_column("events").to_list(),
                    y=curve.get_column("power").to_list(),
                    mode="lines",
                    name=f"{v.outcome} {v.horizon}d",
                )
            )
    fig.add_hline(y=study.hypothesis.stats.power, line_dash="dash", annotation_text="target power")
    fig.update_layout(
        title="Power to detect the smallest effect worth trading, by number of events",
        xaxis_title="events",
        xaxis_type="log",
        yaxis_title="power",
        yaxis_range=[0, 1],
        template="plotly_white",
        height=380,
    )
    return fig


def _baseline_figure(study: Study) -> go.Figure:
    fig = go.Figure()
    names = ["hypothesis", *dict.fromkeys(b.name for v in study.variants for b in v.baselines)]
    for name in names:
        xs, ys, err = [], [], []
        for v in study.variants:
            est = (
                v.estimate
                if name == "hypothesis"
                else next((b.estimate for b in v.baselines if b.name == name), None)
            )
            if est is None:
                continue
            xs.append(f"{v.outcome} {v.horizon}d")
            ys.append(_num(est.mean))
            err.append(_num(est.ci_high - est.mean))
        fig.add_trace(go.Bar(x=xs, y=ys, name=name, error_y={"type": "data", "array": err}))
    rate = study.hypothesis.outcome in ("win", "upper_circuit")
    fig.update_layout(
        title="Hypothesis vs baselines (net of costs, 95% CI)",
        barmode="group",
        yaxis_tickformat=".2f" if rate else ".1%",
        template="plotly_white",
        height=380,
    )
    return fig


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.iter_rows():
        cells = []
        for x in row:
            text = f"{x:.4g}" if isinstance(x, float) and math.isfinite(x) else ("" if x is None else str(x))
            style = f' style="color:{_COLOURS[text]};font-weight:bold"' if text in _COLOURS else ""
            cells.append(f"<td{style}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _variant_html(v: VariantResult) -> str:
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in v.verdict.reasons)
    tests = ""
    if v.tests is not None:
        tests = f"<p>Event-study tests on CAR(1..{v.horizon}); primary: {html.escape(v.tests.primary)}</p>"
        tests += _table(v.tests.frame)
    colour = _COLOURS.get(v.verdict.label, "#333")
    return (
        f'<section class="variant"><h3>{html.escape(v.outcome)}, {v.horizon} sessions: '
        f'<span style="color:{colour}">{html.escape(v.verdict.label)}</span></h3><ul>{reasons}</ul>{tests}</section>'
    )


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}
.receipt{font-family:monospace;font-size:.8rem;color:#555}
"""


def study_html(study: Study) -> str:
    """One self-contained HTML page (Plotly embedded, works offline)."""
    h = study.hypothesis
    counts = pl.DataFrame([dataclasses.asdict(study.counts)])
    figs = [_caar_figure(study), _baseline_figure(study), _power_figure(study)]
    charts = [
        f.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"chart{i}") for i, f in enumerate(figs)
    ]
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in study.warnings)
    receipt = html.escape(json.dumps(study.receipt.to_dict(), indent=1))
    selector = html.escape(h.event.selector or "(none: every event)")
    trials = max((v.n_trials for v in study.variants), default=0)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>earnest: {html.escape(h.name)}</title><style>{_CSS}</style></head><body>
<h1>{html.escape(h.name)}</h1><p>{html.escape(h.description or "")}</p>
<p>Event type <b>{html.escape(h.event.type)}</b>, selector <code>{selector}</code>, entry
{h.entry.lag_sessions} session(s) after the knowledge time at the {html.escape(h.entry.at)}, benchmark
{html.escape(h.benchmark.model)} vs {html.escape(h.benchmark.index)}, costs {"on" if h.costs.enabled else "OFF"}
({h.costs.round_trip_bps:g} bps round trip).</p>
<h2>Verdicts</h2><p>Research question <b>{html.escape(h.question)}</b>: {trials} trial(s) recorded in
the ledger; p-values are Benjamini-Hochberg adjusted across all of them.</p>
{_table(pl.DataFrame(summary_rows(study)))}
<h2>Events</h2>{_table(counts)}{f"<ul>{warnings}</ul>" if warnings else ""}
<h2>Charts</h2>{"".join(charts)}
<h2>Variants</h2>{"".join(_variant_html(v) for v in study.variants)}
<h2>Receipt</h2><pre class="receipt">{receipt}</pre>
</body></html>"""


def write_study(study: Study, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` under ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "report.json"
    page = out_dir / "report.html"
    js.write_text(json.dumps(study_json(study), indent=2, default=str, allow_nan=False) + "\n")
    page.write_text(study_html(study))
    return js, page


__all__ = ["study_html", "study_json", "summary_rows", "write_study"]
