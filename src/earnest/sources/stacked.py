"""Several CSV files of one layout read as one table, for readers that parse files in batches.

Reading a day's bhavcopy costs a few milliseconds of Polars overhead per call whatever its size;
a year of daily files read one by one spends most of its time there. :func:`stack_csv` reads
every file that the fast path of :func:`~earnest.sources.base.split_csv` would read (ASCII, no
quotes, ``\\n`` or ``\\r\\n`` endings, every line as wide as the header) with one Polars call per
distinct header line, and keeps each row's file and line number, so the rows, values and line
numbers are exactly those of splitting each file on its own. Files it cannot stack are left to
the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from earnest.sources.csvsplit import RawTable, frame_table, needs_csv_module, unique_header

MEMBER = "__member"
"""The column :meth:`StackedTable.member_ids` fills: which member (0, 1, ...) a row came from."""


@dataclass(frozen=True)
class StackedTable:
    """The rows of one or more files with the same header in one :class:`RawTable`.

    Member ``k`` is the ``members[k]``-th file given to :func:`stack_csv` and owns the next
    ``rows[k]`` rows of ``table`` (its data rows in file order; ``table.lines`` are its own line
    numbers). A table split from a single file may also carry that file's ragged rows.
    """

    table: RawTable
    members: tuple[int, ...]
    rows: tuple[int, ...]

    def member_ids(self) -> pl.Series:
        """For each row of ``table``, the index of its member (Int32, named :data:`MEMBER`)."""
        ids = np.repeat(np.arange(len(self.rows), dtype=np.int32), np.asarray(self.rows, dtype=np.int64))
        return pl.Series(MEMBER, ids, dtype=pl.Int32)


_WHITESPACE = (b" ", b"\t", b"\r", b"\x0b", b"\x0c")
"""The ASCII bytes ``str.strip_chars`` strips (besides ``\\n``, which ends lines here)."""


@dataclass(frozen=True)
class _Plain:
    index: int
    header: bytes
    body: bytes
    rows: int


def _plain(index: int, data: bytes) -> _Plain | None:
    """The file's header line, body and row count if it is a plain rectangular ASCII CSV (the
    condition under which ``split_csv`` hands a file with a header to Polars' reader; ASCII, so
    its bytes are the text :func:`~earnest.sources.base.decode` gives), else None."""
    if not data.isascii() or needs_csv_module(data):
        return None
    end = data.find(b"\n")
    if end < 0:
        return None
    header = data[:end]
    if unique_header(header.decode("ascii")) is None:
        return None
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    rows = n_lines - 1
    if rows <= 0 or data.count(b",") != header.count(b",") * n_lines:
        return None
    body = data[end + 1 :]
    return _Plain(index, header, body if body.endswith(b"\n") else body + b"\n", rows)


def _read(parts: Sequence[_Plain], *, strip: bool, null_tokens: frozenset[str]) -> StackedTable | None:
    names = unique_header(parts[0].header.decode("ascii"))
    assert names is not None
    rows = np.asarray([p.rows for p in parts], dtype=np.int64)
    body = b"".join(p.body for p in parts)
    # Without any whitespace byte there is nothing to strip: the same values, one pass less.
    strip = strip and any(c in body for c in _WHITESPACE)
    try:
        raw = pl.read_csv(
            body,
            has_header=False,
            infer_schema=False,
            quote_char=None,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if raw.height != int(rows.sum()) or raw.width < len(names):
        return None
    # Line numbers restart at 2 (after the header) in every file.
    starts = np.repeat(np.cumsum(rows) - rows, rows)
    lines = pl.Series("line", np.arange(raw.height, dtype=np.int64) - starts + 2, dtype=pl.Int64)
    table = frame_table(raw, names, lines, strip=strip, null_tokens=null_tokens)
    return StackedTable(table, tuple(p.index for p in parts), tuple(p.rows for p in parts))


def stack_csv(
    datas: Sequence[bytes], *, null_tokens: frozenset[str], strip: bool = True
) -> tuple[list[StackedTable], list[int]]:
    """Read the plain CSV files among ``datas`` (each with a header line) in one Polars call per
    distinct header line. Returns the stacked tables and the indexes of the files left out (not
    ASCII, with quotes, blank or ragged lines, a repeated column name, no data rows...), which
    the caller splits one by one with :func:`~earnest.sources.base.split_csv`. ``null_tokens``
    must include the empty string (the fast path's condition).
    """
    if "" not in null_tokens:
        return [], list(range(len(datas)))
    groups: dict[bytes, list[_Plain]] = {}
    rest: list[int] = []
    for i, data in enumerate(datas):
        plain = _plain(i, data)
        if plain is None:
            rest.append(i)
        else:
            groups.setdefault(plain.header, []).append(plain)
    stacks: list[StackedTable] = []
    for parts in groups.values():
        stack = _read(parts, strip=strip, null_tokens=null_tokens)
        if stack is None:
            rest.extend(p.index for p in parts)
        else:
            stacks.append(stack)
    return stacks, sorted(rest)


__all__ = ["MEMBER", "StackedTable", "stack_csv"]
