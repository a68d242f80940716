"""Ingest files into the store: read -> quality gate -> atomic write -> reconcile.

Every file is accounted for in the report: ingested (with stored, merged and quarantined row
counts), skipped because the same content was ingested before, not recognised, or failed with the
reason. A failed file leaves the store exactly as it was before that file.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from earnest import __version__
from earnest.config import QualitySettings
from earnest.core.calendar import TradingCalendar, nse_calendar
from earnest.core.errors import DataError, EarnestError, StoreError
from earnest.marketdata.reconcile import ReconcileResult, reconcile
from earnest.quality.gate import combined, gate, gate_many, load_context
from earnest.sources import ParsedFile, iter_input_files
from earnest.sources.registry import detect, read_many
from earnest.store import IngestBatch, IngestOutcome, SqlStore

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
_GROUP_FILES = 64
"""Files read, gated or written together (a group's rows are held in memory until written)."""
_READ_BYTES = 64 * 2**20
"""Input bytes read and parsed together at most (unless one file is larger)."""


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
    stage_s: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds spent reading (and parsing), gating, storing and reconciling."""

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


class _Stages:
    """Wall-clock seconds per stage of an ingest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def _chunks(files: Sequence[Path]) -> Iterator[list[Path]]:
    """Consecutive files to read together: at most :data:`_GROUP_FILES` files and about
    :data:`_READ_BYTES` bytes."""
    chunk: list[Path] = []
    size = 0
    for path in files:
        n = path.stat().st_size
        if chunk and (len(chunk) >= _GROUP_FILES or size + n > _READ_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += n
    if chunk:
        yield chunk


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
        self.known: set[str] = set()
        """Content hashes the store holds: looked up per chunk of files, plus every one written since."""
        self.stages = _Stages()

    def look_up(self, parsed_files: Sequence[ParsedFile]) -> None:
        """Learn which of ``parsed_files`` the store already holds, in one query."""
        with self.stages.timing("store"):
            self.known |= self.store.files_seen([p.sha256 for p in parsed_files])

    def add(self, parsed: ParsedFile) -> None:
        if parsed.sha256 in self.known:
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
        with self.stages.timing("gate"):
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
        with self.stages.timing("gate"):
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
        with self.stages.timing("store"):
            done = self._write(pending)
        for (batch, _), out in done:
            self.known.add(out.sha256)
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

    def _write(
        self, pending: list[tuple[IngestBatch, ParsedFile]]
    ) -> list[tuple[tuple[IngestBatch, ParsedFile], IngestOutcome]]:
        try:
            return list(zip(pending, self.store.ingest_many([b for b, _ in pending]), strict=True))
        except StoreError:
            done = []
            for batch, parsed in pending:
                try:
                    done.append(((batch, parsed), self.store.ingest_many([batch])[0]))
                except StoreError as exc:
                    self.results.append(
                        FileResult(parsed.name, parsed.kind, "failed", parsed.rows_total, message=str(exc))
                    )
            return done

    def add_file(self, path: Path, parsed_files: list[ParsedFile] | DataError) -> None:
        """Add what reading ``path`` gave: its parsed files (a zip's members), or why it failed."""
        if isinstance(parsed_files, DataError):
            self.results.append(FileResult(path.name, "?", "failed", message=parsed_files.render()))
            return
        if not parsed_files:
            self.results.append(
                FileResult(path.name, "?", "unrecognised", message="no reader recognises this file")
            )
            return
        for parsed in parsed_files:
            try:
                self.add(parsed)
            except EarnestError as exc:
                self.results.append(
                    FileResult(parsed.name, parsed.kind, "failed", parsed.rows_total, message=exc.render())
                )

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
    done = 0
    for chunk in _chunks(files):
        with ing.stages.timing("read"):
            got = read_many([(path.name, path.read_bytes()) for path in chunk], strict=strict)
        ing.look_up([p for g in got if not isinstance(g, DataError) for p in g])
        for path, parsed_files in zip(chunk, got, strict=True):
            if progress is not None:
                progress(done, len(files), path.name)
            ing.add_file(path, parsed_files)
            done += 1
    ing.finish()
    if progress is not None:
        progress(len(files), len(files), "done")
    result = None
    if run_reconcile and ing.touched:
        with ing.stages.timing("reconcile"):
            result = reconcile(store, instrument_ids=sorted(ing.touched), settings=settings)
    elapsed = time.perf_counter() - started
    return IngestReport(ing.results, result, elapsed, len(ing.touched), stage_s=ing.stages.seconds)


__all__ = ["FileResult", "IngestReport", "Progress", "ingest_paths"]
