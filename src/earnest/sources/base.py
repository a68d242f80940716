"""The reader contract: raw bytes in, typed rows plus rejected rows out.

Readers never drop a row. Every data row of a file ends up either in ``ParsedFile.frame`` (typed,
conformed to the target table's schema) or in ``ParsedFile.rejects`` (the quarantine schema, with
the 1-based line number, the field and the reason). ``rows_total`` counts the file's data rows.

Line numbers: the header is line 1, the first data row is line 2 (for files with a header).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from earnest.core import schemas as S
from earnest.core.errors import DataError, SchemaDriftError

NULL_TOKENS = frozenset({"", "-", "NA", "N/A", "nan", "NaN", "null", "NULL", "None"})


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
class RawTable:
    """A CSV split into string columns, with the line number of each row and ragged rows apart."""

    header: list[str]
    columns: dict[str, list[str | None]]
    lines: list[int]
    ragged: list[tuple[int, str, str]]  # (line, reason, raw)

    @property
    def height(self) -> int:
        return len(self.lines)


def decode(data: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM), falling back to Latin-1 (NSE's older files)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes any byte
            raise DataError("file is not text", file=name) from exc


def split_csv(
    text: str,
    *,
    name: str,
    header: Sequence[str] | None = None,
    skip_lines: int = 0,
    strip: bool = True,
) -> RawTable:
    """Split CSV text into string columns.

    ``header`` given means the file has no header row; otherwise the first line (after
    ``skip_lines``) is the header, with names stripped. Trailing empty fields beyond the header
    (NSE's trailing commas) are ignored; rows with other field counts are returned as ``ragged``.
    Blank lines are skipped and not counted as data rows.
    """
    reader = csv.reader(io.StringIO(text))
    for _ in range(skip_lines):
        next(reader, None)
    if header is None:
        try:
            raw_header = next(reader)
        except StopIteration:
            raise DataError("file is empty: no header row", file=name, remedy="check the download") from None
        names = [h.strip() for h in raw_header]
        while names and names[-1] == "":
            names.pop()
    else:
        names = list(header)
    width = len(names)
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    lines: list[int] = []
    ragged: list[tuple[int, str, str]] = []
    for row in reader:
        line_no = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) > width and all(not c.strip() for c in row[width:]):
            row = row[:width]
        if len(row) != width:
            ragged.append((line_no, f"expected {width} fields, found {len(row)}", ",".join(row)))
            continue
        lines.append(line_no)
        for n, v in zip(names, row, strict=True):
            v2 = v.strip() if strip else v
            cols[n].append(None if v2 in NULL_TOKENS else v2)
    return RawTable(names, cols, lines, ragged)


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


Parser = Callable[[pl.Series], pl.Series]


def number(s: pl.Series) -> pl.Series:
    return s.str.replace_all(",", "").cast(pl.Float64, strict=False)


def integer(s: pl.Series) -> pl.Series:
    f = s.str.replace_all(",", "").cast(pl.Float64, strict=False)
    whole = f.is_not_null() & (f == f.floor()) & (f.abs() < 9e18)
    return pl.select(pl.when(whole).then(f).otherwise(None).cast(pl.Int64)).to_series()


def text(s: pl.Series) -> pl.Series:
    return s


def upper_text(s: pl.Series) -> pl.Series:
    return s.str.to_uppercase()


def date_parser(*formats: str) -> Parser:
    """A parser trying each strftime format in turn (case-insensitive month names)."""

    def parse(s: pl.Series) -> pl.Series:
        norm = s.str.to_titlecase() if any("%b" in f for f in formats) else s
        out = pl.Series(s.name, [None] * len(s), dtype=pl.Date)
        for fmt in formats:
            got = norm.str.strptime(pl.Date, fmt, strict=False)
            out = out.fill_null(got) if out.null_count() else out
        return out

    return parse


@dataclass(frozen=True)
class Col:
    """How to read one source column into one target column."""

    source: str
    target: str
    parse: Parser = text
    required: bool = False


def typed_frame(
    table: RawTable,
    cols: Sequence[Col],
    *,
    name: str,
    sha256: str,
    target: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse string columns into typed ones. Rows with an unparseable or missing required value
    are rejected, naming the first bad field. Returns (good rows with ``source_row``, rejects)."""
    raw = pl.DataFrame({c: pl.Series(c, table.columns[c], dtype=pl.Utf8) for c in table.header})
    raw = raw.with_columns(pl.Series("source_row", table.lines, dtype=pl.Int64))
    parsed: dict[str, pl.Series] = {}
    bad_field = pl.Series("bad", [None] * raw.height, dtype=pl.Utf8)
    bad_reason = pl.Series("why", [None] * raw.height, dtype=pl.Utf8)
    for col in cols:
        src = raw.get_column(col.source) if col.source in raw.columns else pl.Series([None] * raw.height, dtype=pl.Utf8)
        out = col.parse(src).alias(col.target)
        unparsed = src.is_not_null() & out.is_null()
        missing = src.is_null() if col.required else pl.Series([False] * raw.height)
        first = bad_field.is_null()
        reason = pl.select(
            pl.when(unparsed)
            .then(pl.lit(f"cannot read {col.source!r} value ") + pl.lit("'") + src + pl.lit("'"))
            .when(missing)
            .then(pl.lit(f"required field {col.source!r} is empty"))
            .otherwise(None)
        ).to_series()
        hit = (unparsed | missing) & first
        bad_field = pl.select(pl.when(hit).then(pl.lit(col.source)).otherwise(bad_field)).to_series()
        bad_reason = pl.select(pl.when(hit).then(reason).otherwise(bad_reason)).to_series()
        parsed[col.target] = out
    frame = pl.DataFrame(list(parsed.values())).with_columns(raw.get_column("source_row"))
    ok = bad_field.is_null()
    raw_text = raw.select(pl.concat_str([pl.col(c).fill_null("") for c in table.header], separator=",")).to_series()
    now = dt.datetime.now(dt.UTC)
    rejects = pl.DataFrame(
        {
            "source_file": [name] * int((~ok).sum()),
            "source_sha256": [sha256] * int((~ok).sum()),
            "source_row": raw.get_column("source_row").filter(~ok),
            "target": [target] * int((~ok).sum()),
            "field": bad_field.filter(~ok),
            "rule": ["parse"] * int((~ok).sum()),
            "reason": bad_reason.filter(~ok),
            "raw": raw_text.filter(~ok),
            "quarantined_at": [now] * int((~ok).sum()),
        },
        schema=dict(S.QUARANTINE),
    )
    ragged = ragged_rejects(table, name=name, sha256=sha256, target=target)
    return frame.filter(ok), pl.concat([rejects, ragged])


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
    frame: pl.DataFrame, mask: pl.Series, *, name: str, sha256: str, target: str, field: str | None, rule: str, reason: str | pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move the rows of ``frame`` selected by ``mask`` into quarantine records."""
    bad = frame.filter(mask)
    n = bad.height
    reasons = reason.filter(mask) if isinstance(reason, pl.Series) else pl.Series([reason] * n, dtype=pl.Utf8)
    raw_text = bad.select(
        pl.concat_str([pl.col(c).cast(pl.Utf8).fill_null("") for c in bad.columns if c != "source_row"], separator=",")
    ).to_series() if n else pl.Series([], dtype=pl.Utf8)
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
    "Col",
    "ParsedFile",
    "RawTable",
    "Reader",
    "date_parser",
    "decode",
    "integer",
    "number",
    "ragged_rejects",
    "reject_rows",
    "require_columns",
    "split_csv",
    "text",
    "typed_frame",
    "upper_text",
]
