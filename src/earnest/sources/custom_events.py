"""The generic event import: any dated event about a listed company, from a CSV (kind ``custom_events``).

Columns (header names matched case-insensitively, surrounding spaces ignored):

* ``symbol`` and/or ``isin``: which company; each row needs at least one. Symbols are upper-cased;
  an ISIN must look like one (two letters, nine letters or digits, a check digit).
* ``event_type``: free text such as ``order_win`` or ``Guidance``; stored lower-cased.
* ``event_time``: ISO 8601 **with a UTC offset**, e.g. ``2024-05-02T19:15:00+05:30`` (also
  ``...+0530`` or ``...Z``; seconds and fractions optional; ``T`` or a space between date and time).
  A time without an offset is a row error: earnest will not guess whether it was IST or UTC, and a
  guess five and a half hours early is look-ahead.
* ``knowledge_time`` (optional): when the market could know of the event, in the same format; it
  defaults to ``event_time`` and may not be earlier than it (row error).
* every other column is a *field* of the event, kept in ``fields`` as JSON text with sorted keys:
  plain decimal numbers become JSON numbers (``12``, ``-0.5``, ``1e6``; not ``007`` or ``1,234``,
  which stay text), everything else stays text, and empty cells (or ``-``) are left out.

Every data row becomes one ``custom_events`` row (:data:`CUSTOM_EVENTS`) or one quarantine record
naming the line (header = line 1), the field and what to do. ``event_id`` is a stable hash of the
company (the ISIN when given, else the symbol), the event type, the event time as a UTC instant and
the fields, so importing the same events again (in any row order, with any offset spelling of the
same instant) stores nothing new; a row repeating an earlier row's event in the same file is
quarantined (rule ``duplicate``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.core.errors import SchemaDriftError
from earnest.core.hashing import sha256_bytes
from earnest.sources.base import (
    ParsedFile,
    RawTable,
    Reader,
    decode,
    head_fields,
    ragged_rejects,
    reject_rows,
    split_csv,
)
from earnest.sources.csv_import import STRICT_NULLS, rows_total

CUSTOM_EVENTS = schemas.CUSTOM_EVENTS
CUSTOM_EVENT_KEY = schemas.CUSTOM_EVENT_KEY

RESERVED = ("symbol", "isin", "event_type", "event_time", "knowledge_time")
"""Column names with a meaning of their own; any other column is a field."""

TARGET = "custom_events"

_TIME = re.compile(
    r"^(?P<local>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$"
)
_LOCAL_THEN_JUNK = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*\S")
_NUMBER = re.compile(r"^[+-]?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?(?:0|[1-9]\d*)$")
_ISIN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}\d$")
_MAX_OFFSET = dt.timedelta(hours=14)
_EXAMPLE = "2024-05-02T19:15:00+05:30"


class RowError(ValueError):
    """A row that cannot become an event: ``field`` says which column (None: the whole row), the
    message what to do."""

    def __init__(self, field: str | None, reason: str, rule: str = "parse") -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.rule = rule


def parse_time(text: str, *, column: str) -> dt.datetime:
    """An ISO 8601 time with a UTC offset (see the module documentation) as an aware UTC datetime."""
    value = text.strip()
    m = _TIME.match(value)
    if m is None:
        if _LOCAL_THEN_JUNK.match(value):
            raise RowError(
                column,
                f"{column} '{text}' has an offset earnest cannot read: write it as +HH:MM, +HHMM or Z, "
                f"e.g. {_EXAMPLE}",
            )
        raise RowError(column, f"cannot read {column} '{text}' as an ISO 8601 time such as {_EXAMPLE}")
    if m.group("offset") is None:
        raise RowError(
            column,
            f"{column} '{text}' has no UTC offset, so the instant is ambiguous: add the offset, "
            f"e.g. {value}+05:30 for IST or {value}Z for UTC",
        )
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise RowError(column, f"{column} '{text}' is not a real date and time ({exc})") from exc
    offset = when.utcoffset()
    if offset is None or abs(offset) > _MAX_OFFSET:
        raise RowError(column, f"{column} '{text}' has an offset beyond ±14:00: check it")
    return when.astimezone(dt.UTC)


def field_value(text: str) -> int | float | str:
    """A field cell as JSON: plain decimal numbers as numbers, anything else as text."""
    if _NUMBER.match(text):
        if _INTEGER.match(text) and len(text.lstrip("+-")) <= 18:
            return int(text)
        number = float(text)
        if math.isfinite(number):
            return number
    return text


@dataclass(frozen=True, slots=True)
class _Columns:
    """Which header name holds each reserved column (None when absent), and the field columns."""

    reserved: Mapping[str, str | None]
    fields: Sequence[str]


def _columns(header: Sequence[str], name: str) -> _Columns:
    seen: dict[str, str] = {}
    for h in header:
        key = h.strip().lower()
        if not key:
            raise SchemaDriftError(
                f"column {len(seen) + 1} has no name", remedy="give every column a header", file=name
            )
        if key in seen:
            raise SchemaDriftError(
                f"columns {seen[key]!r} and {h!r} have the same name",
                remedy="rename or drop one of them",
                file=name,
                field=h,
            )
        seen[key] = h
    missing = [c for c in ("event_type", "event_time") if c not in seen]
    if not ("symbol" in seen or "isin" in seen):
        missing.insert(0, "symbol or isin")
    if missing:
        raise SchemaDriftError(
            f"not a custom events file: missing column(s) {missing}; found {list(header)}",
            remedy=f"a custom events CSV needs symbol (or isin), event_type and event_time ({_EXAMPLE})",
            file=name,
            field=missing[0],
        )
    reserved = {c: seen.get(c) for c in RESERVED}
    return _Columns(reserved, [h for h in header if h.strip().lower() not in RESERVED])


def _event(cells: Mapping[str, str | None], cols: _Columns) -> dict[str, object]:
    """One row's event (without source columns); raises :class:`RowError` naming the bad field."""

    def cell(column: str) -> str | None:
        header = cols.reserved[column]
        return cells.get(header) if header is not None else None

    symbol, isin = cell("symbol"), cell("isin")
    symbol = symbol.upper() if symbol else None
    isin = isin.upper() if isin else None
    if symbol is None and isin is None:
        raise RowError("symbol", "the row names no company: fill symbol or isin")
    if isin is not None and not _ISIN.match(isin):
        raise RowError("isin", f"isin '{isin}' is not an ISIN (e.g. INE002A01018): fix it or leave it empty")
    event_type = cell("event_type")
    if not event_type:
        raise RowError("event_type", "required field 'event_type' is empty")
    raw_time = cell("event_time")
    if not raw_time:
        raise RowError("event_time", f"required field 'event_time' is empty: give it like {_EXAMPLE}")
    event_time = parse_time(raw_time, column="event_time")
    raw_known = cell("knowledge_time")
    knowledge_time = parse_time(raw_known, column="knowledge_time") if raw_known else event_time
    if knowledge_time < event_time:
        raise RowError(
            "knowledge_time",
            f"knowledge_time '{raw_known}' is before event_time '{raw_time}': the market cannot know of "
            "an event before it happens; fix the times or leave knowledge_time empty",
            rule="knowledge_before_event",
        )
    fields = {h.strip(): field_value(v) for h in cols.fields if (v := cells.get(h)) is not None}
    fields_json = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    identity = ["isin", isin] if isin is not None else ["symbol", symbol]
    key = [*identity, event_type.lower(), event_time.isoformat(), fields_json]
    return {
        "event_id": sha256_bytes(json.dumps(key, ensure_ascii=False, separators=(",", ":")).encode()),
        "symbol": symbol,
        "isin": isin,
        "event_type": event_type.lower(),
        "event_time": event_time,
        "knowledge_time": knowledge_time,
        "fields": fields_json,
    }


def _events(table: RawTable, cols: _Columns) -> tuple[list[dict[str, object]], list[tuple[int, RowError]]]:
    """(good events with ``source_row``, (row index, error) of the others), in file order."""
    columns = {h: table.columns[h] for h in table.header}
    good: list[dict[str, object]] = []
    bad: list[tuple[int, RowError]] = []
    first_line: dict[object, int] = {}
    for i, line in enumerate(table.lines):
        try:
            event = _event({h: v[i] for h, v in columns.items()}, cols)
        except RowError as err:
            # name the column as the file spells it (no symbol column: the company is the isin one)
            named = cols.reserved.get(err.field or "") or cols.reserved["isin"]
            bad.append((i, RowError(named, err.reason, err.rule)))
            continue
        earlier = first_line.setdefault(event["event_id"], line)
        if earlier != line:
            reason = f"the same event as line {earlier} (same company, type, time and fields): drop one"
            bad.append((i, RowError(None, reason, rule="duplicate")))
            continue
        good.append({**event, "source_row": line})
    return good, bad


def _rejects(table: RawTable, bad: list[tuple[int, RowError]], *, name: str, sha256: str) -> pl.DataFrame:
    """Quarantine records for the rows in ``bad`` (raw = the row's cells) plus the ragged rows."""
    parts = [ragged_rejects(table, name=name, sha256=sha256, target=TARGET)]
    if bad:
        strings = pl.DataFrame(
            {
                **{h: [table.columns[h][i] for i, _ in bad] for h in table.header},
                "source_row": [table.lines[i] for i, _ in bad],
            },
            schema={**dict.fromkeys(table.header, pl.Utf8), "source_row": pl.Int64},
        )
        errors = [err for _, err in bad]
        for field, rule in dict.fromkeys((e.field, e.rule) for e in errors):
            mask = pl.Series([e.field == field and e.rule == rule for e in errors])
            reasons = pl.Series([e.reason for e in errors], dtype=pl.Utf8)
            _, q = reject_rows(
                strings, mask, name=name, sha256=sha256, target=TARGET, field=field, rule=rule, reason=reasons
            )
            parts.append(q)
    return pl.concat(parts).sort("source_row")


class CustomEventsReader:
    """Any dated company events in earnest's generic layout (see the module documentation)."""

    kind: str = "custom_events"
    target: str = TARGET

    def sniff(self, name: str, head: str) -> bool:
        first = head_fields(head.lstrip("\ufeff"), 1)
        if not first:
            return False
        header = {h.lower() for h in first[0]}
        return {"event_type", "event_time"} <= header and bool(header & {"symbol", "isin"})

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        table = split_csv(decode(data, name), name=name, null_tokens=STRICT_NULLS)
        cols = _columns(table.header, name)
        good, bad = _events(table, cols)
        frame = pl.DataFrame(good, schema={k: v for k, v in CUSTOM_EVENTS.items() if k != "source_file"})
        frame = frame.with_columns(pl.lit(name, dtype=pl.Utf8).alias("source_file"))
        return ParsedFile(
            name=name,
            sha256=sha256,
            kind=self.kind,
            target=self.target,
            rows_total=rows_total(table),
            frame=schemas.conform(frame, CUSTOM_EVENTS, name=name),
            rejects=_rejects(table, bad, name=name, sha256=sha256),
            meta={"fields": ", ".join(h.strip() for h in cols.fields)},
        )


READERS: list[Reader] = [CustomEventsReader()]

__all__ = [
    "CUSTOM_EVENTS",
    "CUSTOM_EVENT_KEY",
    "READERS",
    "RESERVED",
    "CustomEventsReader",
    "RowError",
    "field_value",
    "parse_time",
]
