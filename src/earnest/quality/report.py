"""The quality report: what the gate kept, merged, quarantined and flagged, read from the store.

It only reads (``ingested_files``, ``quarantine``, ``quality_findings``); the CLI renders it. The
counts cover every matching file; the lists of files, quarantined rows and findings show the
first ``limit`` of each (files with the most quarantined rows first; rows in the order they were
quarantined, then by file and line).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from earnest.core.errors import NotFoundError
from earnest.store.base import Store


@dataclass(frozen=True)
class FileCounts:
    """One ingested file: its data rows and where they went (stored new, merged into an existing
    row with the same key, or quarantined)."""

    file: str
    kind: str
    sha256: str
    rows_total: int
    rows_stored: int
    rows_merged: int
    rows_quarantined: int
    ingested_at: dt.datetime | None


@dataclass(frozen=True)
class RuleCount:
    """How many quarantined rows (or findings) one rule produced; ``group`` is the target table for
    quarantine and the severity for findings."""

    rule: str
    group: str
    count: int


@dataclass(frozen=True)
class QuarantinedRow:
    """A quarantined row: file, 1-based line (header = line 1), field, rule and reason."""

    file: str
    line: int | None
    field: str | None
    rule: str
    reason: str


@dataclass(frozen=True)
class FindingRow:
    """A quality finding that did not reject a row."""

    rule: str
    severity: str
    symbol: str | None
    date: dt.date | None
    detail: str
    file: str | None


@dataclass(frozen=True)
class QualityReport:
    """The quality report for the whole store, or for one file when ``file`` is set."""

    file: str | None
    totals: dict[str, int]
    files: tuple[FileCounts, ...]
    quarantine_by_rule: tuple[RuleCount, ...]
    findings_by_rule: tuple[RuleCount, ...]
    quarantined: tuple[QuarantinedRow, ...]
    findings: tuple[FindingRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: dates and times as ISO 8601 strings."""

        def plain(value: Any) -> Any:
            if isinstance(value, dt.date | dt.datetime):
                return value.isoformat()
            return value

        def rows(items: Sequence[Any]) -> list[dict[str, Any]]:
            return [{k: plain(v) for k, v in dataclasses.asdict(item).items()} for item in items]

        return {
            "file": self.file,
            "totals": dict(self.totals),
            "files": rows(self.files),
            "quarantine_by_rule": [
                {"rule": r.rule, "target": r.group, "rows": r.count} for r in self.quarantine_by_rule
            ],
            "findings_by_rule": [
                {"rule": r.rule, "severity": r.group, "findings": r.count} for r in self.findings_by_rule
            ],
            "quarantined": rows(self.quarantined),
            "findings": rows(self.findings),
        }


def _in(col: str, values: Sequence[str] | None) -> tuple[str, list[Any]]:
    if values is None:
        return "", []
    if not values:
        return " WHERE 1 = 0", []
    return f" WHERE {col} IN ({', '.join('?' for _ in values)})", list(values)


def _files(store: Store, file: str | None) -> pl.DataFrame:
    files = store.read("ingested_files")
    if file is None:
        return files
    base = pl.col("file_name").str.split("/").list.last().str.split("!").list.last()
    hit = files.filter((pl.col("file_name") == file) | (pl.col("sha256") == file) | (base == file))
    if hit.is_empty():
        raise NotFoundError(
            f"no ingested file named {file!r}",
            remedy="run `earnest quality report` without --file to list the files in the store",
            file=file,
        )
    return hit


def quality_report(store: Store, *, file: str | None = None, limit: int = 20) -> QualityReport:
    """Summarise the quality gate's work over the store (or one file, by name, base name or sha256).

    Raises :class:`NotFoundError` when ``file`` matches no ingested file.
    """
    files = _files(store, file)
    shas = files.get_column("sha256").to_list() if file is not None else None
    names = files.get_column("file_name").to_list() if file is not None else None
    q_where, q_params = _in("source_sha256", shas)
    f_where, f_params = _in("source_file", names)
    q_rules = store.query(
        f"SELECT rule, target, count(*) AS n FROM quarantine{q_where} "
        "GROUP BY rule, target ORDER BY n DESC, rule",
        q_params,
    )
    f_rules = store.query(
        f"SELECT rule, severity, count(*) AS n FROM quality_findings{f_where} "
        "GROUP BY rule, severity ORDER BY n DESC, rule",
        f_params,
    )
    q_rows = store.query(
        f"SELECT source_file, source_row, field, rule, reason FROM quarantine{q_where} "
        f"ORDER BY quarantined_at, source_file, source_row LIMIT {int(limit)}",
        q_params,
    )
    f_rows = store.query(
        f"SELECT rule, severity, symbol, date, detail, source_file FROM quality_findings{f_where} "
        f"ORDER BY found_at, source_file, date, symbol LIMIT {int(limit)}",
        f_params,
    )
    n_findings = sum(int(n) for n in f_rules.get_column("n").to_list()) if f_rules.height else 0
    sums = {
        c: int(files.get_column(c).sum())
        for c in ("rows_total", "rows_stored", "rows_merged", "rows_quarantined")
    }
    totals = {"files": files.height, **sums, "findings": n_findings}
    shown = files.sort(["rows_quarantined", "file_name"], descending=[True, False]).head(limit)
    return QualityReport(
        file=file,
        totals=totals,
        files=tuple(
            FileCounts(
                r["file_name"],
                r["kind"],
                r["sha256"],
                r["rows_total"],
                r["rows_stored"],
                r["rows_merged"],
                r["rows_quarantined"],
                r["ingested_at"],
            )
            for r in shown.iter_rows(named=True)
        ),
        quarantine_by_rule=tuple(RuleCount(str(r), str(t), int(n)) for r, t, n in q_rules.iter_rows()),
        findings_by_rule=tuple(RuleCount(str(r), str(s), int(n)) for r, s, n in f_rules.iter_rows()),
        quarantined=tuple(QuarantinedRow(*row) for row in q_rows.iter_rows()),
        findings=tuple(FindingRow(*row) for row in f_rows.iter_rows()),
    )


__all__ = ["FileCounts", "FindingRow", "QualityReport", "QuarantinedRow", "RuleCount", "quality_report"]
