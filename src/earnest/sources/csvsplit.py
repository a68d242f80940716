"""Splitting CSV text into string columns: :class:`RawTable` and :func:`split_csv`.

Plain files (no quotes, ``\\n`` or ``\\r\\n`` endings) are split by Polars, everything else by
the csv module, with the same result. Values are stripped and null tokens mapped to None per
column on first use. Readers import these names from :mod:`earnest.sources.base`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from earnest.core.errors import DataError

NULL_TOKENS = frozenset({"", "-", "NA", "N/A", "nan", "NaN", "null", "NULL", "None"})


@dataclass(frozen=True)
class RawTable:
    """A CSV split into string columns, with the line number of each row and ragged rows apart."""

    header: list[str]
    columns: Mapping[str, list[str | None]]
    lines: list[int] | pl.Series  # the line number of each row (Int64 when a Series)
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
    if not needs_csv_module(text):
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


_CSV_ONLY_BYTES = tuple(c.encode() for c in _CSV_ONLY)


def needs_csv_module(text: str | bytes) -> bool:
    """True when a plain split on commas and newlines could differ from the csv module (``text``
    may also be ASCII bytes)."""
    if isinstance(text, bytes):
        return any(c in text for c in _CSV_ONLY_BYTES) or (
            b"\r" in text and text.count(b"\r") != text.count(b"\r\n")
        )
    return any(c in text for c in _CSV_ONLY) or ("\r" in text and text.count("\r") != text.count("\r\n"))


def unique_header(line: str) -> list[str] | None:
    """The column names of a plain (unquoted) header line, or None if there are none or one repeats."""
    names = _header_names(line.removesuffix("\r").split(","))
    return names if names and len(set(names)) == len(names) else None


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
    first = skip_lines + 2
    return frame_table(raw, names, list(range(first, first + n_rows)), strip=strip, null_tokens=null_tokens)


def frame_table(
    raw: pl.DataFrame,
    names: Sequence[str],
    lines: list[int] | pl.Series,
    *,
    strip: bool,
    null_tokens: frozenset[str],
) -> RawTable:
    """A :class:`RawTable` over the first ``len(names)`` string columns of ``raw`` (as Polars' CSV
    reader returns them), named ``names``; values are stripped and null tokens mapped on first use."""
    raw = raw.select(pl.nth(i).alias(n) for i, n in enumerate(names))
    columns = _FrameColumns(raw, strip=strip, null_tokens=null_tokens)
    return RawTable(list(names), columns, lines, [])


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


__all__ = [
    "NULL_TOKENS",
    "RawTable",
    "frame_table",
    "needs_csv_module",
    "split_csv",
    "unique_header",
]
