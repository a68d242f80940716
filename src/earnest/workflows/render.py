"""Rich renderings of workflow results for the terminal (the CLI and the demo share them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from earnest.reports.lab import summary_rows
from earnest.workflows.ingest import IngestReport


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table_of(rows: Sequence[Mapping[str, Any]], *, title: str, columns: Sequence[str] | None = None) -> Table:
    cols = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, title_justify="left", title_style="bold")
    for c in cols:
        numeric = bool(rows) and isinstance(rows[0].get(c), int | float)
        table.add_column(c, justify="right" if numeric else "left", overflow="fold")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    return table


def render_ingest(console: Console, report: IngestReport, *, max_files: int = 15) -> None:
    """Totals, the files with problems, and what reconciliation found."""
    t = report.totals()
    console.print(
        f"[bold]ingested[/] {t['files_ingested']} file(s), {t['files_duplicate']} already known, "
        f"{t['files_unrecognised']} not recognised, {t['files_failed']} failed in {report.elapsed_s:.2f}s: "
        f"{t['rows_total']:,} data rows = {t['rows_stored']:,} stored + {t['rows_merged']:,} merged + "
        f"{t['rows_quarantined']:,} quarantined"
    )
    by_kind: dict[str, dict[str, int]] = {}
    for f in report.files:
        k = by_kind.setdefault(f.kind, {"files": 0, "rows": 0, "stored": 0, "merged": 0, "quarantined": 0})
        k["files"] += 1
        k["rows"] += f.rows_total
        k["stored"] += f.rows_stored
        k["merged"] += f.rows_merged
        k["quarantined"] += f.rows_quarantined
    rows = [{"format": kind, **v} for kind, v in sorted(by_kind.items())]
    console.print(table_of(rows, title="by format"))
    problems = [f for f in report.files if f.status in {"failed", "unrecognised"}]
    if problems:
        shown = [{"file": f.name, "status": f.status, "why": f.message} for f in problems[:max_files]]
        console.print(table_of(shown, title=f"files not ingested ({len(problems)})"))
    rec = report.reconcile
    if rec is not None:
        console.print(f"[bold]reconcile[/] over {report.instruments_touched:,} instrument(s): {rec}")


def render_download(console: Console, report: Any) -> None:
    counts = report.counts() if hasattr(report, "counts") else {}
    console.print(f"[bold]download[/] {counts}")
    failed = report.failed() if hasattr(report, "failed") else []
    if failed:
        rows = [{"product": f.product, "date": str(f.date), "why": f.reason} for f in failed[:20]]
        console.print(table_of(rows, title="downloads that failed (re-run to resume)"))


def render_quality(console: Console, report: Any) -> None:
    """Render a quality report generically from its ``to_dict()`` sections."""
    data = report.to_dict()
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            console.print(table_of(value, title=key.replace("_", " ")))
        elif isinstance(value, Mapping) and value:
            rows = [{"item": k, "count": v} for k, v in value.items()]
            console.print(table_of(rows, title=key.replace("_", " ")))
        elif not isinstance(value, list | Mapping):
            console.print(f"[bold]{key.replace('_', ' ')}[/]: {_fmt(value)}")


__all__ = ["render_download", "render_ingest", "render_quality", "table_of"]


_VERDICT_STYLE = {"EDGE": "bold green", "NO EDGE": "bold red", "INCONCLUSIVE": "bold yellow"}


def render_study(console: Console, study: Any) -> None:
    """A lab study: the event counts, one row per variant with its verdict, then the reasons."""
    h = study.hypothesis
    c = study.counts
    console.print(
        f"[bold]{h.name}[/]: {c.selected:,} of {c.in_scope:,} {h.event.type} events selected "
        f"({c.priced:,} priced, {c.entry_blocked:,} blocked at the upper circuit, "
        f"{c.overlap_dropped:,} dropped as overlapping); costs {'on' if h.costs.enabled else 'OFF'}"
    )
    rows = [
        {**r, "verdict": f"[{_VERDICT_STYLE.get(r['verdict'], '')}]{r['verdict']}[/]"}
        for r in summary_rows(study)
    ]
    table = table_of(rows, title="verdicts (outcomes net of costs)")
    console.print(table)
    for v in study.variants:
        style = _VERDICT_STYLE.get(v.verdict.label, "")
        console.print(
            f"[{style}]{v.verdict.label}[/] {v.outcome} {v.horizon}d: " + "; ".join(v.verdict.reasons)
        )
    for w in study.warnings:
        console.print(f"[yellow]note[/] {w}")
