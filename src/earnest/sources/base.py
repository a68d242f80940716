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
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    columns: Mapping[str, list[str | None]]
    lines: list[int]
    ragged: list[tuple[int, str, str]]  # (line, reason, raw)

    @property
    def height(self) -> int:
        return len(self.lines)

    def strings(self, names: Sequence[str]) -> dict[str, pl.Series]:
        """The columns ``names`` (those present) as Polars string Series; one Polars pass when the
        table came from the fast split, which cleans only the columns asked for."""
        if isinstance(self.columns, _FrameColumns):
            return self.columns.series(names)
        return {
            n: pl.Series(n, self.columns[n], dtype=pl.Utf8) for n in dict.fromkeys(names) if n in self.columns
        }

    def renamed(self, renames: Mapping[str, str]) -> RawTable:
        """The same table with columns renamed (names not in ``renames`` are kept)."""
        header = [renames.get(h, h) for h in self.header]
        if isinstance(self.columns, _FrameColumns):
            columns: Mapping[str, list[str | None]] = self.columns.renamed(renames)
        else:
            columns = {renames.get(k, k): v for k, v in self.columns.items()}
        return RawTable(header, columns, self.lines, self.ragged)


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
    null_tokens: frozenset[str] = NULL_TOKENS,
) -> RawTable:
    """Split CSV text into string columns.

    ``header`` given means the file has no header row; otherwise the first line (after
    ``skip_lines``) is the header, with names stripped. Trailing empty fields beyond the header
    (NSE's trailing commas) are ignored; rows with other field counts are returned as ``ragged``.
    Blank lines are skipped and not counted as data rows. Values in ``null_tokens`` become None
    (pass a narrower set where a token such as ``NA`` is a real value, e.g. an NSE series).

    Files without quotes are split by Polars (same result, many times faster); anything else goes
    through the csv module.
    """
    if not _needs_csv_module(text):
        lines = text.split("\n")
        if header is not None:
            names, start = list(header), skip_lines
        elif len(lines) > skip_lines:
            names, start = _header_names(lines[skip_lines].removesuffix("\r").split(",")), skip_lines + 1
        else:
            names, start = [], 0
        if names and len(set(names)) == len(names):
            return _split_fast(lines, start, names, strip=strip, null_tokens=null_tokens)
    return _split_slow(
        text, name=name, header=header, skip_lines=skip_lines, strip=strip, null_tokens=null_tokens
    )


_CSV_ONLY = ('"', "\x00", "\x1c", "\x1d", "\x1e", "\x1f")


def _needs_csv_module(text: str) -> bool:
    """True when a plain split on commas and newlines could differ from the csv module."""
    return any(c in text for c in _CSV_ONLY) or text.count("\r") != text.count("\r\n")


def _header_names(raw_header: Sequence[str]) -> list[str]:
    names = [h.strip() for h in raw_header]
    while names and names[-1] == "":
        names.pop()
    return names


def _split_fast(
    lines: list[str], start: int, names: list[str], *, strip: bool, null_tokens: frozenset[str]
) -> RawTable:
    """The vectorised split: one Polars query over the lines (no quotes, ``\\n`` or ``\\r\\n`` endings).
    Values are stripped and null tokens mapped later, per column, when a column is first used."""
    width = len(names)
    line = pl.col("line")
    fields = [f"field_{i}" for i in range(width + 1)]
    rest_blank = pl.col(fields[-1]).str.replace_all(",", "", literal=True).str.strip_chars() == ""
    frame = (
        pl.DataFrame({"line": lines[start:]}, schema={"line": pl.Utf8})
        .lazy()
        .with_row_index("line_no", offset=start + 1)
        .with_columns(line.str.strip_suffix("\r"))
        .filter(line.str.replace_all(",", "", literal=True).str.strip_chars() != "")
        .with_columns(
            line.str.splitn(",", width + 1).struct.rename_fields(fields).alias("parts"),
            (line.str.count_matches(",", literal=True) + 1).alias("n_fields"),
        )
        .unnest("parts")
        .with_columns(
            ((pl.col("n_fields") == width) | ((pl.col("n_fields") > width) & rest_blank)).alias("ok")
        )
        .collect()
    )
    ok = frame.get_column("ok")
    ragged = [
        (int(n), f"expected {width} fields, found {k}", str(text))
        for n, k, text in frame.filter(~ok).select("line_no", "n_fields", "line").iter_rows()
    ]
    good = frame.filter(ok) if ragged else frame
    raw = good.select(pl.col(f).alias(n) for f, n in zip(fields, names, strict=False))
    columns = _FrameColumns(raw, strip=strip, null_tokens=null_tokens)
    return RawTable(names, columns, good.get_column("line_no").to_list(), ragged)


class _FrameColumns(Mapping[str, list[str | None]]):
    """The fast split's columns: raw fields in a Polars frame, cleaned (stripped, null tokens to
    None) per column on first use, as Series for :func:`typed_frame` or as lists for everyone else."""

    def __init__(self, raw: pl.DataFrame, *, strip: bool, null_tokens: frozenset[str]) -> None:
        self._raw = raw
        self._strip = strip
        self._tokens = null_tokens
        self._series: dict[str, pl.Series] = {}
        self._lists: dict[str, list[str | None]] = {}

    def series(self, names: Sequence[str]) -> dict[str, pl.Series]:
        todo = [n for n in dict.fromkeys(names) if n in self._raw.columns and n not in self._series]
        if todo:
            tokens = list(self._tokens)

            def clean(n: str) -> pl.Expr:
                v = pl.col(n).str.strip_chars() if self._strip else pl.col(n)
                return pl.when(v.is_in(tokens)).then(None).otherwise(v).alias(n)

            self._series.update(self._raw.select(clean(n) for n in todo).to_dict())
        return {n: self._series[n] for n in dict.fromkeys(names) if n in self._series}

    def renamed(self, renames: Mapping[str, str]) -> _FrameColumns:
        raw = self._raw.rename({k: v for k, v in renames.items() if k in self._raw.columns})
        return _FrameColumns(raw, strip=self._strip, null_tokens=self._tokens)

    def __getitem__(self, key: str) -> list[str | None]:
        if key not in self._lists:
            if key not in self._raw.columns:
                raise KeyError(key)
            self._lists[key] = self.series([key])[key].to_list()
        return self._lists[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw.columns)

    def __len__(self) -> int:
        return self._raw.width


def _split_slow(
    text: str,
    *,
    name: str,
    header: Sequence[str] | None,
    skip_lines: int,
    strip: bool,
    null_tokens: frozenset[str],
) -> RawTable:
    """The csv-module split (quoted fields, unusual line endings)."""
    reader = csv.reader(io.StringIO(text))
    for _ in range(skip_lines):
        next(reader, None)
    if header is None:
        try:
            raw_header = next(reader)
        except StopIteration:
            raise DataError("file is empty: no header row", file=name, remedy="check the download") from None
        names = _header_names(raw_header)
    else:
        names = list(header)
    width = len(names)
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    lines: list[int] = []
    ragged: list[tuple[int, str, str]] = []
    for raw_row in reader:
        line_no = reader.line_num
        if not raw_row or all(not c.strip() for c in raw_row):
            continue
        row = raw_row
        if len(row) > width and all(not c.strip() for c in row[width:]):
            row = row[:width]
        if len(row) != width:
            ragged.append((line_no, f"expected {width} fields, found {len(row)}", ",".join(row)))
            continue
        lines.append(line_no)
        for n, v in zip(names, row, strict=True):
            v2 = v.strip() if strip else v
            cols[n].append(None if v2 in null_tokens else v2)
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
    direct = s.cast(pl.Float64, strict=False)
    if direct.null_count() == s.null_count():  # the common case: no thousands separators
        return direct
    return s.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)


def integer(s: pl.Series) -> pl.Series:
    direct = s.cast(pl.Int64, strict=False)
    if direct.null_count() == s.null_count():  # the common case: plain integers
        return direct
    f = s.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
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
    n = table.height
    parsed: dict[str, pl.Series] = {}
    bad: dict[int, tuple[str, str]] = {}  # row index -> (first bad field, reason)
    strings = table.strings([col.source for col in cols])
    for col in cols:
        src = strings.get(col.source)
        if src is None:
            src = pl.Series(col.source, [None] * n, dtype=pl.Utf8)
        out = col.parse(src).alias(col.target)
        problem: pl.Series | None = None
        if out.null_count():
            problem = src.is_not_null() & out.is_null()
        if col.required and src.null_count():
            problem = src.is_null() if problem is None else problem | src.is_null()
        if problem is not None and problem.any():
            for i in problem.arg_true().to_list():
                if i not in bad:
                    v = src[i]
                    why = (
                        f"required field {col.source!r} is empty"
                        if v is None
                        else f"cannot read {col.source!r} value '{v}'"
                    )
                    bad[i] = (col.source, why)
        parsed[col.target] = out
    source_row = pl.Series("source_row", table.lines, dtype=pl.Int64)
    frame = pl.DataFrame([*parsed.values(), source_row]) if parsed else source_row.to_frame()
    rows = sorted(bad)
    now = dt.datetime.now(dt.UTC)
    rejects = pl.DataFrame(
        {
            "source_file": [name] * len(rows),
            "source_sha256": [sha256] * len(rows),
            "source_row": [table.lines[i] for i in rows],
            "target": [target] * len(rows),
            "field": [bad[i][0] for i in rows],
            "rule": ["parse"] * len(rows),
            "reason": [bad[i][1] for i in rows],
            "raw": [",".join(table.columns[c][i] or "" for c in table.header) for i in rows],
            "quarantined_at": [now] * len(rows),
        },
        schema=dict(S.QUARANTINE),
    )
    if rows:
        keep = pl.Series([True] * n)
        keep.scatter(rows, False)
        frame = frame.filter(keep)
    ragged = ragged_rejects(table, name=name, sha256=sha256, target=target)
    return frame, pl.concat([rejects, ragged])


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
