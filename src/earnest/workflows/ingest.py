"""Ingest files into the store: read -> quality gate -> atomic write -> reconcile.

Every file is accounted for in the report: ingested (with stored, merged and quarantined row
counts), skipped because the same content was ingested before, not recognised, or failed with the
reason. A failed file leaves the store exactly as it was before that file.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from earnest import __version__
from earnest.config import QualitySettings
from earnest.core.calendar import TradingCalendar, nse_calendar
from earnest.core.errors import DataError, EarnestError, StoreError
from earnest.marketdata.reconcile import ReconcileResult, reconcile
from earnest.quality.gate import combined, gate, gate_many, load_context
from earnest.sources import ParsedFile, iter_input_files, read_bytes
from earnest.sources.registry import detect
from earnest.store import IngestBatch, SqlStore

Progress = Callable[[int, int, str], None]

# Masters first (they resolve symbols to ISINs), then bands and actions, then prices.
_TARGET_ORDER = {
    "instruments": 0,
    "symbol_changes": 1,
    "price_bands": 2,
    "corporate_actions": 3,
    "index_bars": 4,
    "derivative_bars": 5,
    "bars": 6,
}
_GROUP_FILES = 24
"""Files gated or written together (a group's rows are held in memory until written)."""


@dataclass(frozen=True)
class FileResult:
    """What happened to one input file (or zip member)."""

    name: str
    kind: str
    status: str  # ingested | duplicate | unrecognised | failed
    rows_total: int = 0
    rows_stored: int = 0
    rows_merged: int = 0
    rows_quarantined: int = 0
    message: str = ""


@dataclass(frozen=True)
class IngestReport:
    files: list[FileResult]
    reconcile: ReconcileResult | None
    elapsed_s: float
    instruments_touched: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def totals(self) -> dict[str, int]:
        keys = ("rows_total", "rows_stored", "rows_merged", "rows_quarantined")
        out = {k: sum(getattr(f, k) for f in self.files) for k in keys}
        for status in ("ingested", "duplicate", "unrecognised", "failed"):
            out[f"files_{status}"] = sum(1 for f in self.files if f.status == status)
        return out


def _head(path: Path) -> tuple[str, bytes]:
    """The name and first bytes of a file, or of a zip's first member."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head[:4] != b"PK\x03\x04":
        return path.name, head
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if not members:
                return path.name, b""
            with zf.open(members[0]) as fh:
                return members[0].filename, fh.read(4096)
    except (zipfile.BadZipFile, OSError):
        return path.name, b""


def _priority(path: Path) -> tuple[int, str]:
    """Masters first, then bands and actions, then prices (see ``_TARGET_ORDER``)."""
    name, head = _head(path)
    reader = detect(name, head)
    order = _TARGET_ORDER.get(reader.target, 9) if reader is not None else 7
    return order, path.name


def _may_overlap(a: ParsedFile, b: ParsedFile) -> bool:
    """Whether gating ``b`` may need ``a``'s rows stored first: only bars are checked against
    stored rows (conflicting prices), and two bars files may share a key if they share a session
    or either spans several (no session date). Other targets are keyed by content or checked row
    by row, so their files are written together."""
    if a.target != "bars" or b.target != "bars":
        return False
    return a.session_date is None or b.session_date is None or a.session_date == b.session_date


class _Ingestor:
    """Gates files and writes them to the store in groups, keeping the result identical to
    ingesting them one by one: equity bars files of one format and distinct sessions are gated
    together (one context, one pass of the rules) and written together; everything already gated
    is written before a file of another target is gated, so its context sees it."""

    def __init__(self, store: SqlStore, settings: QualitySettings, calendar: TradingCalendar) -> None:
        self.store = store
        self.settings = settings
        self.calendar = calendar
        self.results: list[FileResult] = []
        self.touched: set[str] = set()
        self.group: list[ParsedFile] = []
        self.pending: list[tuple[IngestBatch, ParsedFile]] = []

    def add(self, parsed: ParsedFile) -> None:
        if self.store.file_seen(parsed.sha256):
            self.results.append(
                FileResult(
                    parsed.name, parsed.kind, "duplicate", parsed.rows_total, message="already ingested"
                )
            )
            return
        if parsed.target == "bars" and parsed.session_date is not None:
            head = self.group[0] if self.group else None
            if head is not None and (
                head.kind != parsed.kind
                or any(p.session_date == parsed.session_date for p in self.group)
                or len(self.group) >= _GROUP_FILES
            ):
                self.gate_group()
            self.group.append(parsed)
            return
        self.gate_group()
        if any(p.target != parsed.target or _may_overlap(p, parsed) for _, p in self.pending):
            self.flush()
        ctx = load_context(self.store, parsed, calendar=self.calendar)
        batch = gate(parsed, ctx, settings=self.settings, code_version=__version__)
        self.pending.append((batch, parsed))
        if parsed.target in {"instruments", "symbol_changes"} or len(self.pending) >= _GROUP_FILES:
            self.flush()

    def gate_group(self) -> None:
        """Gate the collected bars files in one pass and write them."""
        group, self.group = self.group, []
        if not group:
            return
        self.flush()
        try:
            ctx = load_context(self.store, combined(group), calendar=self.calendar)
            batches = gate_many(group, ctx, settings=self.settings, code_version=__version__)
        except EarnestError:
            # One file's problem must not fail the others: gate them one by one.
            for parsed in group:
                self._gate_alone(parsed)
        else:
            self.pending.extend(zip(batches, group, strict=True))
        self.flush()

    def _gate_alone(self, parsed: ParsedFile) -> None:
        try:
            ctx = load_context(self.store, parsed, calendar=self.calendar)
            batch = gate(parsed, ctx, settings=self.settings, code_version=__version__)
        except EarnestError as exc:
            self.results.append(
                FileResult(parsed.name, parsed.kind, "failed", parsed.rows_total, message=exc.render())
            )
            return
        self.pending.append((batch, parsed))

    def flush(self) -> None:
        """Write the gated batches in one transaction; if that fails, file by file."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            done = list(zip(pending, self.store.ingest_many([b for b, _ in pending]), strict=True))
        except StoreError:
            done = []
            for batch, parsed in pending:
                try:
                    done.append(((batch, parsed), self.store.ingest_many([batch])[0]))
                except StoreError as exc:
                    self.results.append(
                        FileResult(parsed.name, parsed.kind, "failed", parsed.rows_total, message=str(exc))
                    )
        for (batch, _), out in done:
            status = "duplicate" if out.skipped else "ingested"
            self.results.append(
                FileResult(
                    out.file_name,
                    out.kind,
                    status,
                    out.rows_total,
                    out.rows_stored,
                    out.rows_merged,
                    out.rows_quarantined,
                )
            )
            bars = batch.tables.get("bars")
            if bars is not None and not out.skipped and bars.height:
                self.touched.update(bars.get_column("instrument_id").unique().to_list())

    def finish(self) -> None:
        self.gate_group()
        self.flush()


def ingest_paths(
    store: SqlStore,
    paths: Sequence[Path],
    *,
    settings: QualitySettings | None = None,
    progress: Progress | None = None,
    strict: bool = False,
    run_reconcile: bool = True,
    calendar: TradingCalendar | None = None,
) -> IngestReport:
    """Ingest files, folders and zips. See the module docstring for the guarantees."""
    started = time.perf_counter()
    settings = settings or QualitySettings()
    cal = calendar or nse_calendar()
    files = sorted(iter_input_files(paths), key=_priority)
    ing = _Ingestor(store, settings, cal)
    for i, path in enumerate(files, 1):
        if progress is not None:
            progress(i - 1, len(files), path.name)
        try:
            parsed_files = read_bytes(path.name, path.read_bytes(), strict=strict)
        except DataError as exc:
            ing.results.append(FileResult(path.name, "?", "failed", message=exc.render()))
            continue
        if not parsed_files:
            ing.results.append(
                FileResult(path.name, "?", "unrecognised", message="no reader recognises this file")
            )
            continue
        for parsed in parsed_files:
            try:
                ing.add(parsed)
            except EarnestError as exc:
                ing.results.append(
                    FileResult(parsed.name, parsed.kind, "failed", parsed.rows_total, message=exc.render())
                )
    ing.finish()
    if progress is not None:
        progress(len(files), len(files), "done")
    result = None
    if run_reconcile and ing.touched:
        result = reconcile(store, instrument_ids=sorted(ing.touched), settings=settings)
    return IngestReport(ing.results, result, time.perf_counter() - started, len(ing.touched))


__all__ = ["FileResult", "IngestReport", "Progress", "ingest_paths"]
