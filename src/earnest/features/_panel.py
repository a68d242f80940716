"""Panel machinery shared by the array-based feature modules (:mod:`~earnest.features.technical`,
:mod:`~earnest.features.weekly`): sort a long panel once, find each instrument's row range, pull
columns as contiguous float64 arrays (:func:`prepare`), run kernels on them, and put the results
back in the input's row order with ``known_at`` (:func:`to_frame`).

Axis convention: every array is one value per panel row in the *sorted* order (instrument, then
date); ``Bars.starts[k]:Bars.ends[k]`` is instrument ``k``'s slice. NaN stands for null, and a
kernel's output is NaN (read back as null) wherever its value is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from earnest.core.errors import DataError, EarnestError
from earnest.features.spec import eod_known_at

Arr = np.ndarray
Outputs = dict[str, Arr]
"""Kernel results: output column name -> array in the sorted panel order."""

PRICE_COLUMNS = ("open", "high", "low", "close")
"""Columns that must not be null: they feed recursive indicators, where one gap spoils the rest."""


def require_columns(
    frame: pl.DataFrame,
    columns: Sequence[str],
    *,
    what: str,
    remedy: str,
    error: type[EarnestError] = DataError,
) -> None:
    """Raise ``error`` naming the first of ``columns`` that ``frame`` (a ``what``) lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise error(f"the {what} has no column {', '.join(missing)}", remedy=remedy, field=missing[0])


@dataclass(slots=True)
class Bars:
    """Contiguous float64 arrays of a sorted panel and the row range of each instrument.

    ``starts[k]:ends[k]`` is instrument ``k``'s slice; ``cols`` maps a column name to its array
    (NaN where the panel had null).
    """

    starts: Arr
    ends: Arr
    cols: dict[str, Arr]
    _pos: Arr | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    @property
    def pos(self) -> Arr:
        """Each row's position within its instrument (0 for an instrument's first row)."""
        if self._pos is None:
            lengths = self.ends - self.starts
            self._pos = np.arange(self.n) - np.repeat(self.starts, lengths)
        return self._pos

    def col(self, name: str) -> Arr:
        return self.cols[name]

    def slices(self, min_len: int = 1) -> Iterator[slice]:
        """One slice per instrument with at least ``min_len`` rows."""
        for a, b in zip(self.starts.tolist(), self.ends.tolist(), strict=True):
            if b - a >= min_len:
                yield slice(a, b)


@dataclass(slots=True)
class Prepared:
    """A panel sorted by (instrument_id, date), its arrays, and the way back to the input order."""

    frame: pl.DataFrame
    bars: Bars
    order: Arr | None
    """Input row of each sorted row; None when the input was already sorted."""


def _require(panel: pl.DataFrame, columns: tuple[str, ...]) -> None:
    require_columns(
        panel,
        ("instrument_id", "date", *columns),
        what="panel",
        remedy="pass long bars with instrument_id, date and the BARS price columns",
    )
    for key in ("instrument_id", "date"):
        if panel[key].null_count():
            raise DataError(
                f"{key} is null",
                remedy="every panel row needs an instrument_id and a date",
                row=int(panel[key].is_null().arg_max() or 0) + 1,
                field=key,
            )


def _sorted_frame(panel: pl.DataFrame) -> tuple[pl.DataFrame, Arr | None]:
    """The panel sorted by (instrument_id, date); raises on duplicate (instrument_id, date)."""
    if panel.height < 2:
        return panel, None
    ids, dates = panel["instrument_id"], panel["date"].cast(pl.Int32)
    head, tail = ids.slice(0, panel.height - 1), ids.slice(1)
    step = dates.slice(1) - dates.slice(0, panel.height - 1)
    if bool(((tail > head) | ((tail == head) & (step > 0))).all()):
        return panel, None
    indexed = panel.with_row_index("_row").sort("instrument_id", "date", maintain_order=True)
    dup = indexed.select(pl.struct("instrument_id", "date").is_duplicated()).to_series()
    if dup.any():
        row = indexed.row(int(dup.arg_max() or 0), named=True)
        raise DataError(
            f"two rows for instrument {row['instrument_id']} on {row['date']}",
            remedy="pass one bar per instrument and date (choose one exchange and series first)",
            row=int(row["_row"]) + 1,
            field="date",
        )
    order = indexed["_row"].to_numpy()
    return indexed.drop("_row"), order


def prepare(panel: pl.DataFrame, columns: tuple[str, ...]) -> Prepared:
    """Sort ``panel`` once, find instrument boundaries and pull ``columns`` as float64 arrays.

    Prices (:data:`PRICE_COLUMNS`) must not be null; other columns may be, and give null outputs
    where they are.
    """
    _require(panel, columns)
    frame, order = _sorted_frame(panel)
    ids = frame["instrument_id"]
    if frame.height:
        change = (ids.slice(1) != ids.slice(0, frame.height - 1)).to_numpy()
        starts = np.concatenate(([0], np.flatnonzero(change) + 1)).astype(np.int64)
        ends = np.append(starts[1:], frame.height).astype(np.int64)
    else:
        starts = ends = np.zeros(0, dtype=np.int64)
    cols: dict[str, Arr] = {}
    for name in columns:
        arr = np.ascontiguousarray(frame[name].cast(pl.Float64).to_numpy(), dtype=np.float64)
        if name in PRICE_COLUMNS and np.isnan(arr).any():
            bad = int(np.flatnonzero(np.isnan(arr))[0])
            row = frame.row(bad, named=True)
            raise DataError(
                f"{name} is null for {row['instrument_id']} on {row['date']}",
                remedy="drop or repair bars with missing prices first (the quality gate quarantines them)",
                row=(int(order[bad]) if order is not None else bad) + 1,
                field=name,
            )
        cols[name] = arr
    return Prepared(frame, Bars(starts, ends, cols), order)


def finite_frame(outputs: Outputs) -> pl.DataFrame:
    """Kernel arrays as a frame of Float64 columns with NaN and +-inf as null."""
    frame = pl.DataFrame({k: np.where(np.isinf(v), np.nan, v) for k, v in outputs.items()})
    return frame.fill_nan(None)


def to_frame(prep: Prepared, outputs: Outputs | pl.DataFrame) -> pl.DataFrame:
    """``instrument_id``, ``date``, ``known_at`` and the outputs (NaN/inf as null) in input order.

    ``outputs`` are arrays in the sorted order, or a frame of them whose nulls are already set.
    """
    base = prep.frame.select("instrument_id", "date", known_at=eod_known_at(pl.col("date")))
    if not isinstance(outputs, pl.DataFrame):
        outputs = finite_frame(outputs)
    out = pl.concat([base, outputs], how="horizontal")
    if prep.order is None:
        return out
    return out.with_columns(_row=pl.Series(prep.order)).sort("_row").drop("_row")


def empty(bars: Bars) -> Arr:
    """An all-NaN array, one value per row."""
    return np.full(bars.n, np.nan)


def ratio(num: Arr, den: Arr) -> Arr:
    """``num / den``, NaN where ``den`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / den, np.nan)


def lagged(bars: Bars, x: Arr, n: int) -> Arr:
    """``x`` shifted ``n`` rows down within each instrument (NaN for an instrument's first ``n`` rows)."""
    out = empty(bars)
    idx = np.flatnonzero(bars.pos >= n)
    out[idx] = x[idx - n]
    return out


def rolling_mean(bars: Bars, x: Arr, n: int, min_known: int) -> Arr:
    """Mean of the known (non-NaN) values among each instrument's last ``n`` values of ``x``.

    NaN until the instrument has ``n`` rows, and where fewer than ``min_known`` of the ``n`` are
    known. Each window is summed on its own (no running sum), so a value depends on its window only.
    """
    out = empty(bars)
    if bars.n < n:
        return out
    known = ~np.isnan(x)
    values, flags = np.where(known, x, 0.0), known.astype(np.int32)
    m = bars.n - n + 1
    total, count = values[:m].copy(), flags[:m].copy()
    for k in range(1, n):  # n shifted adds: the same summation order in every window
        total += values[k : k + m]
        count += flags[k : k + m]
    ok = (bars.pos[n - 1 :] >= n - 1) & (count >= min_known)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[n - 1 :] = np.where(ok, total / np.maximum(count, 1), np.nan)
    return out


def previous_close(bars: Bars) -> Arr:
    """The base price of each row: the ``prev_close`` column where known, else the previous row's close."""
    prev = lagged(bars, bars.col("close"), 1)
    given = bars.cols.get("prev_close")
    return prev if given is None else np.where(np.isnan(given), prev, given)


__all__ = [
    "PRICE_COLUMNS",
    "Arr",
    "Bars",
    "Outputs",
    "Prepared",
    "empty",
    "finite_frame",
    "lagged",
    "prepare",
    "previous_close",
    "ratio",
    "require_columns",
    "rolling_mean",
    "to_frame",
]
