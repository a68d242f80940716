"""Ingest files into the store: read -> quality gate -> atomic write -> reconcile.

Every file is accounted for in the report: ingested (with stored, merged and quarantined row
counts), skipped because the same content was ingested before, not recognised, or failed with the
reason. A failed file leaves the store exactly as it was before that file.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from earnest import __version__
from earnest.config import QualitySettings
from earnest.core.calendar import TradingCalendar, nse_calendar
from earnest.core.errors import DataError, EarnestError, StoreError
from earnest.marketdata.reconcile import ReconcileResult, reconcile
from earnest.quality.gate import gate, load_context
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
_FLUSH_EVERY = 24


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


def _priority(path: Path) -> tuple[int, str]:
    with path.open("rb") as fh:
        head = fh.read(4096)
    reader = None if head[:4] == b"PK\x03\x04" else detect(path.name, head)
    order = _TARGET_ORDER.get(reader.target, 9) if reader is not None else 7
    return order, path.name


@dataclass
class _Pending:
    batches: list[IngestBatch] = field(default_factory=list)
    keys: set[tuple[str, dt.date | None]] = field(default_factory=set)
    parsed: list[ParsedFile] = field(default_factory=list)


class _Ingestor:
    def __init__(self, store: SqlStore, settings: QualitySettings, calendar: TradingCalendar) -> None:
        self.store = store
        self.settings = settings
        self.calendar = calendar
        self.results: list[FileResult] = []
        self.touched: set[str] = set()
        self.pending = _Pending()

    def add(self, parsed: ParsedFile) -> None:
        if self.store.file_seen(parsed.sha256):
            self.results.append(
                FileResult(
                    parsed.name, parsed.kind, "duplicate", parsed.rows_total, message="already ingested"
                )
            )
            return
        key = (parsed.target, parsed.session_date)
        if key in self.pending.keys or parsed.target in {"instruments", "symbol_changes"}:
            self.flush()
        ctx = load_context(self.store, parsed, calendar=self.calendar)
        batch = gate(parsed, ctx, settings=self.settings, code_version=__version__)
        self.pending.batches.append(batch)
        self.pending.parsed.append(parsed)
        self.pending.keys.add(key)
        if parsed.target in {"instruments", "symbol_changes"} or len(self.pending.batches) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        pending, self.pending = self.pending, _Pending()
        if not pending.batches:
            return
        try:
            outcomes = self.store.ingest_many(pending.batches)
        except StoreError:
            outcomes = []
            for batch, parsed in zip(pending.batches, pending.parsed, strict=True):
                try:
                    outcomes.extend(self.store.ingest_many([batch]))
                except StoreError as exc:
                    self.results.append(
                        FileResult(parsed.name, parsed.kind, "failed", parsed.rows_total, message=str(exc))
                    )
            pending.batches = [b for b in pending.batches if any(o.sha256 == b.sha256 for o in outcomes)]
        for batch, out in zip(pending.batches, outcomes, strict=True):
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
    ing.flush()
    if progress is not None:
        progress(len(files), len(files), "done")
    result = None
    if run_reconcile and ing.touched:
        result = reconcile(store, instrument_ids=sorted(ing.touched), settings=settings)
    return IngestReport(ing.results, result, time.perf_counter() - started, len(ing.touched))


__all__ = ["FileResult", "IngestReport", "Progress", "ingest_paths"]
