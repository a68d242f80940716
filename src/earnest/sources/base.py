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
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
            if header is None and "" in null_tokens:
                table = _split_polars(text, lines, skip_lines, names, strip=strip, null_tokens=null_tokens)
                if table is not None:
                    return table
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


def _split_polars(
    text: str,
    lines: list[str],
    skip_lines: int,
    names: list[str],
    *,
    strip: bool,
    null_tokens: frozenset[str],
) -> RawTable | None:
    """Polars' CSV reader, for the common case of a rectangular file: every line has as many
    commas as the header line and none is blank. Returns None when that does not hold (the
    caller then splits line by line and reports each ragged or blank row)."""
    n_lines = len(lines) - (1 if lines and lines[-1] == "" else 0)
    commas = lines[skip_lines].count(",")
    n_rows = n_lines - skip_lines - 1
    if n_rows <= 0 or text.count(",") != commas * (n_lines - skip_lines) + _commas_before(lines, skip_lines):
        return None
    try:
        raw = pl.read_csv(
            text.encode(),
            infer_schema=False,
            quote_char=None,
            skip_rows=skip_lines,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if raw.height != n_rows or raw.width < len(names):
        return None
    raw = raw.select(pl.nth(i).alias(n) for i, n in enumerate(names))
    columns = _FrameColumns(raw, strip=strip, null_tokens=null_tokens)
    first = skip_lines + 2
    return RawTable(names, columns, list(range(first, first + n_rows)), [])


def _commas_before(lines: list[str], skip_lines: int) -> int:
    return sum(ln.count(",") for ln in lines[:skip_lines])


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


Parser = Callable[[pl.Expr], pl.Expr]
"""How to read one column: an expression over the cleaned string column (null where unreadable)."""


def number(e: pl.Expr) -> pl.Expr:
    """A decimal number; thousands separators (``1,234.5``) allowed."""
    plain = e.cast(pl.Float64, strict=False)
    return pl.coalesce(plain, e.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False))


def integer(e: pl.Expr) -> pl.Expr:
    """A whole number; thousands separators and a zero fraction (``1,200.0``) allowed."""
    f = e.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
    whole = f.is_not_null() & (f == f.floor()) & (f.abs() < 9e18)
    return pl.coalesce(e.cast(pl.Int64, strict=False), pl.when(whole).then(f).otherwise(None).cast(pl.Int64))


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

    All columns are parsed in one Polars query: a value is bad when it is present but its parse
    is null, or when it is missing from a required column.
    """
    n = table.height
    sources = list(dict.fromkeys(col.source for col in cols))
    alias = {src: f"__src{i}" for i, src in enumerate(sources)}
    strings = table.strings(sources)
    base = pl.DataFrame(
        [
            *(strings.get(src, pl.Series([None] * n, dtype=pl.Utf8)).alias(alias[src]) for src in sources),
            pl.Series("source_row", table.lines, dtype=pl.Int64),
        ]
    ).with_row_index(_INDEX)
    problems = []
    for col in cols:
        src = pl.col(alias[col.source])
        problem = src.is_not_null() & pl.col(col.target).is_null()
        problems.append(problem | src.is_null() if col.required else problem)
    checked = (
        base.lazy()
        .with_columns(col.parse(pl.col(alias[col.source])).alias(col.target) for col in cols)
        .with_columns(pl.any_horizontal(problems).alias(_BAD))
        .collect()
    )
    targets = list(dict.fromkeys(col.target for col in cols))
    bad = checked.filter(pl.col(_BAD))
    frame = checked.filter(~pl.col(_BAD)) if bad.height else checked
    frame = frame.select(*targets, "source_row")
    rejects = _parse_rejects(
        table, _first_bad_field(bad, cols, alias), name=name, sha256=sha256, target=target
    )
    ragged = ragged_rejects(table, name=name, sha256=sha256, target=target)
    return frame, pl.concat([rejects, ragged])


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


def _parse_rejects(
    table: RawTable, bad: pl.DataFrame, *, name: str, sha256: str, target: str
) -> pl.DataFrame:
    """Quarantine records for the rows :func:`typed_frame` found bad; ``raw`` is the whole row."""
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
    "Col",
    "ParsedFile",
    "RawTable",
    "Reader",
    "base_name",
    "date_parser",
    "decode",
    "has_most",
    "head_fields",
    "header_upper",
    "integer",
    "number",
    "ragged_rejects",
    "reject_rows",
    "require_columns",
    "split_csv",
    "stem",
    "text",
    "typed_frame",
    "upper_text",
]
