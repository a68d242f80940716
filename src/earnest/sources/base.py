"""The reader contract: raw bytes in, typed rows plus rejected rows out.

Readers never drop a row. Every data row of a file ends up either in ``ParsedFile.frame`` (typed,
conformed to the target table's schema) or in ``ParsedFile.rejects`` (the quarantine schema, with
the 1-based line number, the field and the reason). ``rows_total`` counts the file's data rows.

Line numbers: the header is line 1, the first data row is line 2 (for files with a header).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import polars as pl

from earnest.core import schemas as S
from earnest.core.errors import DataError, SchemaDriftError
from earnest.sources.csvsplit import (
    NULL_TOKENS,
    RawTable,
    frame_table,
    needs_csv_module,
    split_csv,
    unique_header,
)


@dataclass(frozen=True)
class ParsedFile:
    """One parsed input file (or one member of a zip)."""

    name: str
    sha256: str
    kind: str
    target: str
    rows_total: int
    frame: pl.DataFrame
    rejects: pl.DataFrame
    session_date: dt.date | None = None
    meta: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counted = self.frame.height + self.rejects.height
        if counted != self.rows_total:
            raise DataError(
                f"reader {self.kind} accounted for {counted} of {self.rows_total} data rows",
                remedy="this is a bug in the reader; please report it with the file",
                file=self.name,
            )


class Reader(Protocol):
    """A reader for one file format."""

    kind: str
    target: str

    def sniff(self, name: str, head: str) -> bool:
        """True if this reader recognises the file from its name and first line(s)."""

    def parse(self, name: str, data: bytes, *, sha256: str) -> ParsedFile:
        """Parse the whole file. Raise :class:`SchemaDriftError` when the layout is off."""


@dataclass(frozen=True)
class RawFile:
    """One input file's bytes (or a zip member's), its name and content hash, before parsing."""

    name: str
    data: bytes
    sha256: str


@runtime_checkable
class BatchReader(Reader, Protocol):
    """A reader that can also parse several files of its format in one pass (much faster for many
    small files: one CSV read and one typed parse instead of one per file)."""

    def parse_many(self, files: Sequence[RawFile]) -> list[ParsedFile | DataError]:
        """For each file, what :meth:`parse` returns for it, or the :class:`DataError` it raises."""


def base_name(name: str) -> str:
    """The file's own name: without folders and without the ``archive.zip!`` prefix."""
    return re.split(r"[/\\!]", name)[-1]


def stem(name: str) -> str:
    """The file's own name without its extension(s) such as ``.csv`` or ``.csv.zip``."""
    return re.sub(r"(\.[A-Za-z]{1,4})+$", "", base_name(name))


def head_fields(head: str, n: int = 1) -> list[list[str]]:
    """The first ``n`` non-blank lines of ``head`` split by the csv module into stripped fields,
    trailing empty fields dropped."""
    out: list[list[str]] = []
    for line in head.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in next(csv.reader([line]), [])]
        while fields and fields[-1] == "":
            fields.pop()
        out.append(fields)
        if len(out) == n:
            break
    return out


def header_upper(head: str) -> list[str]:
    """The first line's field names, stripped and upper-cased (empty list for an empty head)."""
    lines = head_fields(head.lstrip("\ufeff"), 1)
    return [f.upper() for f in lines[0]] if lines else []


def has_most(fields: Iterable[str | None], wanted: Sequence[str], *, missing_ok: int) -> bool:
    """True if all but at most ``missing_ok`` of ``wanted`` are among ``fields``: the file is that
    layout, possibly drifted (the reader then names what is missing)."""
    have = set(fields)
    return sum(w in have for w in wanted) >= len(wanted) - missing_ok


def decode(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM), falling back to Latin-1 (NSE's older files)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes any byte
            raise DataError("file is not text", file=name) from exc


def require_columns(table: RawTable, required: Sequence[str], *, name: str, kind: str) -> None:
    """Raise a schema-drift error naming the missing and unexpected columns."""
    missing = [c for c in required if c not in table.header]
    if missing:
        extra = [c for c in table.header if c not in required]
        raise SchemaDriftError(
            f"not a {kind} file: missing column(s) {missing}; found {table.header}"
            + (f" (unexpected: {extra})" if extra else ""),
            remedy="the exchange may have changed the format; check the file or report it",
            file=name,
            field=missing[0],
        )


Parser = Callable[[pl.Expr], pl.Expr]
"""How to read one column: an expression over the cleaned string column (null where unreadable)."""


@dataclass(frozen=True)
class Tiered:
    """A parser with a cheap first try: ``full(e)`` equals ``fast(e)`` wherever ``fast`` gives a
    value (``full`` is ``coalesce(fast, slower ways)``). :func:`typed_rows` parses a column with
    ``fast`` and only the rows it leaves unread with ``full``, which is the same result at a
    fraction of the cost when nearly every value is plain; called directly, it is ``full``."""

    fast: Parser
    full: Parser

    def __call__(self, e: pl.Expr) -> pl.Expr:
        return self.full(e)


def _float(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Float64, strict=False)


def _number(e: pl.Expr) -> pl.Expr:
    return pl.coalesce(_float(e), _float(e.str.replace_all(",", "", literal=True)))


number = Tiered(_float, _number)
"""A decimal number; thousands separators (``1,234.5``) allowed."""


def _int(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Int64, strict=False)


def _integer(e: pl.Expr) -> pl.Expr:
    f = _float(e.str.replace_all(",", "", literal=True))
    whole = f.is_not_null() & (f == f.floor()) & (f.abs() < 9e18)
    return pl.coalesce(_int(e), pl.when(whole).then(f).otherwise(None).cast(pl.Int64))


integer = Tiered(_int, _integer)
"""A whole number; thousands separators and a zero fraction (``1,200.0``) allowed."""


def text(e: pl.Expr) -> pl.Expr:
    return e


def upper_text(e: pl.Expr) -> pl.Expr:
    return e.str.to_uppercase()


def date_parser(*formats: str) -> Parser:
    """A parser trying each strftime format in turn (case-insensitive month names)."""

    def parse(e: pl.Expr) -> pl.Expr:
        norm = e.str.to_titlecase() if any("%b" in f for f in formats) else e
        return pl.coalesce([norm.str.strptime(pl.Date, fmt, strict=False) for fmt in formats])

    return parse


@dataclass(frozen=True)
class Col:
    """How to read one source column into one target column."""

    source: str
    target: str
    parse: Parser = text
    required: bool = False


_BAD, _FIELD, _REASON, _INDEX = "__bad", "__bad_field", "__bad_reason", "__index"


def typed_frame(
    table: RawTable,
    cols: Sequence[Col],
    *,
    name: str,
    sha256: str,
    target: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse string columns into typed ones. Rows with an unparseable or missing required value
    are rejected, naming the first bad field. Returns (good rows with ``source_row``, rejects).
    """
    good, bad = typed_rows(table, cols)
    targets = list(dict.fromkeys(col.target for col in cols))
    rejects = parse_rejects(table, bad, name=name, sha256=sha256, target=target)
    ragged = ragged_rejects(table, name=name, sha256=sha256, target=target)
    return good.select(*targets, "source_row"), pl.concat([rejects, ragged])


def typed_rows(
    table: RawTable, cols: Sequence[Col], *, carry: Sequence[pl.Series] = ()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of ``table`` whose values all parse, typed (the target columns, ``source_row`` and
    the ``carry`` columns, one value per row of ``table``), and the rows that do not (for
    :func:`parse_rejects`, which names each one's first bad field).

    All columns are parsed in one Polars query: a value is bad when it is present but its parse
    is null, or when it is missing from a required column.
    """
    n = table.height
    sources = list(dict.fromkeys(col.source for col in cols))
    alias = {src: f"__src{i}" for i, src in enumerate(sources)}
    strings = table.strings(sources)
    base = pl.DataFrame(
        [
            *(
                strings[src].alias(alias[src])
                if src in strings
                else pl.repeat(None, n, dtype=pl.Utf8, eager=True).alias(alias[src])
                for src in sources
            ),
            (
                table.lines.alias("source_row")
                if isinstance(table.lines, pl.Series)
                else pl.Series("source_row", table.lines, dtype=pl.Int64)
            ),
            *carry,
        ]
    ).with_row_index(_INDEX)
    problems = []
    for col in cols:
        src = pl.col(alias[col.source])
        problem = src.is_not_null() & pl.col(col.target).is_null()
        problems.append(problem | src.is_null() if col.required else problem)
    checked = _parsed(base, cols, alias).with_columns(pl.any_horizontal(problems).alias(_BAD))
    targets = list(dict.fromkeys(col.target for col in cols))
    bad = checked.filter(pl.col(_BAD))
    good = checked.filter(~pl.col(_BAD)) if bad.height else checked
    good = good.select(*targets, "source_row", *(c.name for c in carry))
    return good, _first_bad_field(bad, cols, alias)


def _parsed(base: pl.DataFrame, cols: Sequence[Col], alias: Mapping[str, str]) -> pl.DataFrame:
    """``base`` with every column parsed: :class:`Tiered` parsers try their fast way on all rows,
    then every column is parsed in full on the (usually no) rows where a fast way left a value
    unread, which gives each row exactly what parsing it in full does."""
    fast = [col.parse.fast if isinstance(col.parse, Tiered) else col.parse for col in cols]
    first = base.lazy().with_columns(
        p(pl.col(alias[c.source])).alias(c.target) for p, c in zip(fast, cols, strict=True)
    )
    tiered = [c for c in cols if isinstance(c.parse, Tiered)]
    if not tiered:
        return first.collect()
    unread = pl.any_horizontal(
        pl.col(alias[c.source]).is_not_null() & pl.col(c.target).is_null() for c in tiered
    )
    frame = first.with_columns(unread.alias("__unread")).collect()
    redo = frame.filter(pl.col("__unread"))
    if redo.is_empty():
        return frame.drop("__unread")
    redone = redo.with_columns(c.parse(pl.col(alias[c.source])).alias(c.target) for c in cols)
    return pl.concat([frame.filter(~pl.col("__unread")), redone]).sort(_INDEX).drop("__unread")


def _first_bad_field(bad: pl.DataFrame, cols: Sequence[Col], alias: Mapping[str, str]) -> pl.DataFrame:
    """Name each bad row's first bad field and why (computed for the few bad rows only)."""
    if bad.is_empty():
        return bad
    fields, reasons = [], []
    for col in cols:
        src = pl.col(alias[col.source])
        problem = src.is_not_null() & pl.col(col.target).is_null()
        if col.required:
            problem = problem | src.is_null()
        fields.append(pl.when(problem).then(pl.lit(col.source)))
        why = pl.when(src.is_null()).then(pl.lit(f"required field {col.source!r} is empty"))
        cannot = pl.concat_str([pl.lit(f"cannot read {col.source!r} value '"), src, pl.lit("'")])
        reasons.append(pl.when(problem).then(why.otherwise(cannot)))
    return bad.with_columns(pl.coalesce(fields).alias(_FIELD), pl.coalesce(reasons).alias(_REASON))


def parse_rejects(table: RawTable, bad: pl.DataFrame, *, name: str, sha256: str, target: str) -> pl.DataFrame:
    """Quarantine records for (some of) the bad rows :func:`typed_rows` returned for ``table``;
    ``raw`` is the whole row as read."""
    if bad.is_empty():
        return S.empty(S.QUARANTINE)
    rows = bad.get_column(_INDEX).to_list()
    header = [h for h in dict.fromkeys(table.header) if h in table.columns]
    raw_cols = table.strings(header)
    raw = pl.DataFrame([raw_cols[h][rows] for h in header]) if header else pl.DataFrame()
    raw_text = (
        raw.select(pl.concat_str([pl.col(h).fill_null("") for h in header], separator=",")).to_series()
        if header
        else pl.Series([""] * len(rows))
    )
    now = dt.datetime.now(dt.UTC)
    out = bad.select(
        pl.lit(name).alias("source_file"),
        pl.lit(sha256).alias("source_sha256"),
        "source_row",
        pl.lit(target).alias("target"),
        pl.col(_FIELD).alias("field"),
        pl.lit("parse").alias("rule"),
        pl.col(_REASON).alias("reason"),
        raw_text.alias("raw"),
        pl.lit(now, dtype=S.UTC_TS).alias("quarantined_at"),
    )
    return S.conform(out, S.QUARANTINE, name=name)


def ragged_rejects(table: RawTable, *, name: str, sha256: str, target: str) -> pl.DataFrame:
    now = dt.datetime.now(dt.UTC)
    return pl.DataFrame(
        {
            "source_file": [name] * len(table.ragged),
            "source_sha256": [sha256] * len(table.ragged),
            "source_row": [r[0] for r in table.ragged],
            "target": [target] * len(table.ragged),
            "field": [None] * len(table.ragged),
            "rule": ["malformed_row"] * len(table.ragged),
            "reason": [r[1] for r in table.ragged],
            "raw": [r[2] for r in table.ragged],
            "quarantined_at": [now] * len(table.ragged),
        },
        schema=dict(S.QUARANTINE),
    )


def reject_rows(
    frame: pl.DataFrame,
    mask: pl.Series,
    *,
    name: str,
    sha256: str,
    target: str,
    field: str | None,
    rule: str,
    reason: str | pl.Series,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move the rows of ``frame`` selected by ``mask`` into quarantine records."""
    bad = frame.filter(mask)
    n = bad.height
    reasons = reason.filter(mask) if isinstance(reason, pl.Series) else pl.Series([reason] * n, dtype=pl.Utf8)
    raw_text = (
        bad.select(
            pl.concat_str(
                [pl.col(c).cast(pl.Utf8).fill_null("") for c in bad.columns if c != "source_row"],
                separator=",",
            )
        ).to_series()
        if n
        else pl.Series([], dtype=pl.Utf8)
    )
    now = dt.datetime.now(dt.UTC)
    q = pl.DataFrame(
        {
            "source_file": [name] * n,
            "source_sha256": [sha256] * n,
            "source_row": bad.get_column("source_row") if "source_row" in bad.columns else [None] * n,
            "target": [target] * n,
            "field": [field] * n,
            "rule": [rule] * n,
            "reason": reasons,
            "raw": raw_text,
            "quarantined_at": [now] * n,
        },
        schema=dict(S.QUARANTINE),
    )
    return frame.filter(~mask), q


__all__ = [
    "NULL_TOKENS",
    "BatchReader",
    "Col",
    "ParsedFile",
    "RawFile",
    "RawTable",
    "Reader",
    "Tiered",
    "base_name",
    "date_parser",
    "decode",
    "frame_table",
    "has_most",
    "head_fields",
    "header_upper",
    "integer",
    "needs_csv_module",
    "number",
    "parse_rejects",
    "ragged_rejects",
    "reject_rows",
    "require_columns",
    "split_csv",
    "stem",
    "text",
    "typed_frame",
    "typed_rows",
    "unique_header",
    "upper_text",
]
