"""What the bhavcopy readers share: layouts, session dates from names and rows, the constant
columns, and parsing many daily files of one layout in one pass.

A year of full-market daily bhavcopies is a few hundred small files. :func:`parse_bars_many`
reads all the plain ones of one header with a single CSV read and one typed parse
(:func:`~earnest.sources.stacked.stack_csv`), decides each file's session and checks from its own
rows, and splits the result back into one :class:`ParsedFile` per file, equal to parsing that
file alone: same rows, rejects (with the file's name, hash and line numbers), session date and
errors (a file that fails fails alone, with the message it would get alone).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.core.errors import DataError, SchemaDriftError
from earnest.sources.base import (
    Col,
    ParsedFile,
    RawFile,
    RawTable,
    Tiered,
    base_name,
    decode,
    number,
    parse_rejects,
    ragged_rejects,
    reject_rows,
    require_columns,
    split_csv,
    typed_rows,
)
from earnest.sources.stacked import MEMBER, StackedTable, stack_csv

BHAVCOPY_NULLS = frozenset({"", "-"})
"""Empty and ``-`` mean missing. ``NA`` is not missing here: it is a real NSE series (N-series debt)."""

_MAX_DRIFT = 2
"""A header missing at most this many of a layout's required columns is that layout, drifted."""


@dataclass(frozen=True)
class Layout:
    """A known header: the columns a file must have and the ones it may have."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def claims(self, fields: Sequence[str]) -> bool:
        """True if ``fields`` is this layout, possibly drifted by a renamed or missing column."""
        have = {f.upper() for f in fields}
        present = sum(c.upper() in have for c in self.required)
        return present >= len(self.required) - _MAX_DRIFT and present > _MAX_DRIFT * 2

    def spelled(self, table: RawTable) -> RawTable:
        """``table`` with header columns renamed to this layout's spelling (case-insensitive)."""
        spelled = {c.upper(): c for c in (*self.required, *self.optional)}
        header = [spelled.get(h.upper(), h) for h in table.header]
        if header != table.header and len(set(header)) == len(header):
            table = table.renamed(dict(zip(table.header, header, strict=True)))
        return table


def read_table(name: str, data: bytes, layout: Layout, *, kind: str) -> RawTable:
    """Split the CSV, rename header columns to the layout's spelling (case-insensitive) and check
    that every required column is there (else :class:`SchemaDriftError` naming the missing ones)."""
    table = layout.spelled(split_csv(decode(data, name), name=name, null_tokens=BHAVCOPY_NULLS))
    require_columns(table, layout.required, name=name, kind=kind)
    return table


@dataclass(frozen=True)
class NameDate:
    """Where a file name carries its session date: a regex whose group 1 is the date, and its format."""

    pattern: re.Pattern[str]
    fmt: str

    def find(self, name: str) -> dt.date | None:
        m = self.pattern.search(base_name(name))
        if m is None:
            return None
        try:
            return dt.datetime.strptime(m.group(1).title(), self.fmt).date()
        except ValueError:
            return None


def _date_counts(frame: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """Rows per date (per ``by`` group), most rows first, ties by date."""
    return (
        frame.group_by(*by, "date")
        .len("n")
        .sort([*by, "n", "date"], descending=[*(False for _ in by), True, False])
    )


def pick_session(
    counts: Sequence[tuple[dt.date, int]], name_date: dt.date | None, *, name: str, date_field: str
) -> dt.date:
    """A file's session from its rows per date (most rows first, at least one date): the date in
    its name when there is one (an error if no row has it: the file is misnamed), else the most
    common row date (an error if two dates tie)."""
    top = counts[0]
    if name_date is None:
        if len(counts) > 1 and counts[1][1] == top[1]:
            raise DataError(
                f"rows are dated {[d for d, _ in counts]} in equal numbers",
                remedy="split the file by date, or name it with its session date",
                file=name,
                field=date_field,
            )
        return top[0]
    if name_date not in {d for d, _ in counts}:
        raise DataError(
            f"the file name says session {name_date} but its rows are dated {top[0]}",
            remedy="the file is probably misnamed: rename it to the session date in its rows, "
            "or download the right day",
            file=name,
            field=date_field,
        )
    return name_date


def _date_mismatch(
    frame: pl.DataFrame, session: dt.date, *, name: str, sha256: str, target: str, date_field: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Quarantine the rows of ``frame`` not dated ``session`` (rule ``date_mismatch``)."""
    mask = frame.get_column("date") != session
    if not mask.any():
        return frame, schemas.empty(schemas.QUARANTINE)
    reason = pl.select(
        pl.lit(f"{date_field} ")
        + frame.get_column("date").cast(pl.Utf8)
        + pl.lit(f" is not the session {session}")
    ).to_series()
    where = {"name": name, "sha256": sha256, "target": target}
    return reject_rows(frame, mask, field=date_field, rule="date_mismatch", reason=reason, **where)


def session_split(
    frame: pl.DataFrame,
    name_date: dt.date | None,
    *,
    name: str,
    sha256: str,
    target: str,
    date_field: str,
) -> tuple[dt.date | None, pl.DataFrame, pl.DataFrame]:
    """Decide the file's session date (:func:`pick_session`) and quarantine rows dated another day
    (rule ``date_mismatch``)."""
    if frame.height == 0:
        return name_date, frame, schemas.empty(schemas.QUARANTINE)
    counts = _date_counts(frame).select("date", "n").rows()
    session = pick_session(counts, name_date, name=name, date_field=date_field)
    kept, rejects = _date_mismatch(
        frame, session, name=name, sha256=sha256, target=target, date_field=date_field
    )
    return session, kept, rejects


def finish(
    frame: pl.DataFrame, schema: schemas.Schema, *, exchange: str, session: dt.date | None, name: str
) -> pl.DataFrame:
    """Add the constant columns (exchange, knowledge time, source file) and conform to ``schema``."""
    known = eod_known_utc(session) if session is not None else None
    frame = frame.with_columns(
        pl.lit(exchange, dtype=pl.Utf8).alias("exchange"),
        pl.lit(known, dtype=schemas.UTC_TS).alias("knowledge_time"),
        pl.lit(name, dtype=pl.Utf8).alias("source_file"),
    )
    return schemas.conform(frame, schema, name=name)


lakhs = Tiered(lambda e: (number.fast(e) * 1e5).round(2), lambda e: (number(e) * 1e5).round(2))
"""A number in lakhs of rupees as rupees (1 lakh = 100,000), rounded to the paisa."""


# ---- equity bars, one file or many -------------------------------------------------------------

FileChecks = Callable[[pl.DataFrame, Sequence[str]], Mapping[int, DataError]]
"""A check over the rows of several files (column :data:`~earnest.sources.stacked.MEMBER` says
whose): the error for each file ``k`` (named ``names[k]``) that fails it."""


@dataclass(frozen=True)
class BarsSpec:
    """One equity-bars layout: its columns, its date column, how its file name carries the date,
    the segment its ``Sgmt`` column must hold (UDiFF) and a check over the typed rows."""

    kind: str
    layout: Layout
    cols: tuple[Col, ...]
    date_field: str
    name_date: NameDate
    exchange: str = "NSE"
    segment: str | None = None
    check: FileChecks | None = None


def segment_errors(
    table: RawTable, members: pl.Series, want: str, names: Sequence[str]
) -> dict[int, DataError]:
    """A UDiFF file must hold one segment, the one its reader expects: the error for each member
    (``members`` gives each row's) whose ``Sgmt`` values are anything else."""
    seg = table.strings(["Sgmt"]).get("Sgmt")
    if seg is None:
        return {}
    found = (
        pl.DataFrame([members.alias(MEMBER), seg.str.to_uppercase().alias("seg")])
        .drop_nulls("seg")
        .group_by(MEMBER)
        .agg(pl.col("seg").unique().sort())
    )
    errors: dict[int, DataError] = {}
    for k, segs in found.iter_rows():
        if segs != [want]:
            errors[k] = SchemaDriftError(
                f"UDiFF file has segment(s) {segs}; this reader expects only {want} "
                "(CM files go to bars, FO files to derivative_bars; other segments are not supported)",
                remedy="check the file: a bhavcopy holds one segment",
                file=names[k],
                field="Sgmt",
            )
    return errors


def parse_bars(spec: BarsSpec, file: RawFile) -> ParsedFile:
    """Parse one equity-bars file of ``spec``'s layout (raises the file's :class:`DataError`)."""
    got = parse_bars_many(spec, [file])[0]
    if isinstance(got, DataError):
        raise got
    return got


def parse_bars_many(spec: BarsSpec, files: Sequence[RawFile]) -> list[ParsedFile | DataError]:
    """Parse equity-bars files of ``spec``'s layout, the plain ones of one header together; for
    each file the :class:`ParsedFile` that parsing it alone gives, or the error it raises."""
    stacks, rest = stack_csv([f.data for f in files], null_tokens=BHAVCOPY_NULLS)
    out: dict[int, ParsedFile | DataError] = {}
    for i in rest:
        try:
            table = split_csv(
                decode(files[i].data, files[i].name), name=files[i].name, null_tokens=BHAVCOPY_NULLS
            )
        except DataError as exc:
            out[i] = exc
            continue
        stacks.append(StackedTable(table, (i,), (table.height,)))
    for stack in stacks:
        members = [files[i] for i in stack.members]
        results: list[ParsedFile | DataError]
        try:
            results = _parse_stack(spec, stack, members)
        except DataError as exc:
            # Not one file's own check (those are per file): parse them one by one to find the file.
            results = [exc] if len(members) == 1 else [r for f in members for r in parse_bars_many(spec, [f])]
        out.update(zip(stack.members, results, strict=True))
    return [out[i] for i in range(len(files))]


def _parse_stack(
    spec: BarsSpec, stack: StackedTable, files: Sequence[RawFile]
) -> list[ParsedFile | DataError]:
    """Parse the files of one stacked table (same header): typed rows, checks and sessions per file
    in one pass each, then one :class:`ParsedFile` per file."""
    names = [f.name for f in files]
    table = spec.layout.spelled(stack.table)
    errors: dict[int, DataError] = {}
    for k, name in enumerate(names):
        try:
            require_columns(table, spec.layout.required, name=name, kind=spec.kind)
        except DataError as exc:
            errors[k] = exc
    if errors:  # same header, so every file lacks the same columns
        return [errors[k] for k in range(len(files))]
    ids = stack.member_ids()
    if spec.segment is not None:
        errors.update(segment_errors(table, ids, spec.segment, names))
    good, bad = typed_rows(table, spec.cols, carry=[ids])
    if spec.check is not None:
        for k, failed in spec.check(good, names).items():
            errors.setdefault(k, failed)
    sessions = [spec.name_date.find(name) for name in names]
    for k, dates in _per_member(_date_counts(good, [MEMBER])).items():
        try:
            sessions[k] = pick_session(dates, sessions[k], name=names[k], date_field=spec.date_field)
        except DataError as exc:
            errors.setdefault(k, exc)
    keep = [k for k in range(len(files)) if k not in errors]
    frames, mismatched = _split_members(spec, good, sessions, files, keep)
    bads = bad.partition_by(MEMBER, as_dict=True) if bad.height else {}
    out: list[ParsedFile | DataError] = []
    for k, f in enumerate(files):
        if k in errors:
            out.append(errors[k])
            continue
        rejects = [
            parse_rejects(table, bads.get((k,), bad.clear()), name=f.name, sha256=f.sha256, target="bars"),
            ragged_rejects(table, name=f.name, sha256=f.sha256, target="bars"),
            mismatched.get(k, schemas.empty(schemas.QUARANTINE)),
        ]
        out.append(
            ParsedFile(
                name=f.name,
                sha256=f.sha256,
                kind=spec.kind,
                target="bars",
                rows_total=stack.rows[k] + len(table.ragged),
                frame=frames[k],
                rejects=pl.concat(rejects),
                session_date=sessions[k],
                meta={"columns": str(len(table.header))},
            )
        )
    return out


def _per_member(counts: pl.DataFrame) -> dict[int, list[tuple[dt.date, int]]]:
    per: dict[int, list[tuple[dt.date, int]]] = {}
    for k, day, n in counts.select(MEMBER, "date", "n").iter_rows():
        per.setdefault(k, []).append((day, n))
    return per


def _split_members(
    spec: BarsSpec,
    good: pl.DataFrame,
    sessions: Sequence[dt.date | None],
    files: Sequence[RawFile],
    keep: Sequence[int],
) -> tuple[dict[int, pl.DataFrame], dict[int, pl.DataFrame]]:
    """The finished bars frame of each kept member, and the ``date_mismatch`` rejects of those
    with rows dated off their session (:func:`finish` and :func:`session_split`, per member)."""
    good = good.filter(pl.col(MEMBER).is_in(keep)) if len(keep) < len(files) else good
    ids = good.get_column(MEMBER)
    session = pl.Series(sessions, dtype=pl.Date).gather(ids)
    off = (good.get_column("date") != session).fill_null(False)
    mismatched: dict[int, pl.DataFrame] = {}
    if off.any():
        for k in good.filter(off).get_column(MEMBER).unique().sort().to_list():
            s, f = sessions[k], files[k]
            assert s is not None  # a member with rows has a session
            mine = good.filter(pl.col(MEMBER) == k).drop(MEMBER)
            _, mismatched[k] = _date_mismatch(
                mine, s, name=f.name, sha256=f.sha256, target="bars", date_field=spec.date_field
            )
        good, ids = good.filter(~off), ids.filter(~off)
    known = [eod_known_utc(s) if s is not None else None for s in sessions]
    frame = good.with_columns(
        pl.lit(spec.exchange, dtype=pl.Utf8).alias("exchange"),
        pl.Series("knowledge_time", known, dtype=schemas.UTC_TS).gather(ids),
        pl.Series("source_file", [f.name for f in files], dtype=pl.Utf8).gather(ids),
    )
    conformed = schemas.conform(frame, schemas.BARS, name=files[keep[0]].name if keep else "bars")
    parts = conformed.with_columns(ids).partition_by(MEMBER, as_dict=True, include_key=False)
    empty = conformed.clear()
    return {k: parts.get((k,), empty) for k in keep}, mismatched


__all__ = [
    "BHAVCOPY_NULLS",
    "BarsSpec",
    "FileChecks",
    "Layout",
    "NameDate",
    "finish",
    "lakhs",
    "parse_bars",
    "parse_bars_many",
    "pick_session",
    "read_table",
    "segment_errors",
    "session_split",
]
