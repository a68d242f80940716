"""Cross-validation splitters aware of each label's span (AFML ch. 7 and 12).

Every sample ``i`` carries a *label span* ``[t0[i], t1[i]]``: ``t0`` is when its features are known
(the entry), ``t1`` when its label is fully known (for the labels layer, ``label_known_at_*`` or the
exit date). Two samples *overlap* when their closed spans intersect. A model trained on a sample whose
span overlaps a test sample's span has seen part of the test outcome: that is the leak plain k-fold
makes on overlapping labels.

The splitters follow the scikit-learn splitter API (``split(X, y=None, groups=None)`` yielding
``(train_idx, test_idx)`` integer arrays, and ``get_n_splits``), so they can be passed as ``cv=`` to
scikit-learn and Optuna tools. Samples must be ordered by ``t0`` (ties allowed, e.g. a panel of many
symbols per session). Test blocks are contiguous runs of rows.

- :class:`WalkForward`: train strictly before the test block (expanding or rolling window), purging
  training labels not yet known when the test block starts.
- :class:`PurgedKFold`: k contiguous test blocks; training drops every sample whose span overlaps the
  test block's span, and the ``embargo`` samples after the block. Unlike AFML Snippet 7.3, training
  never contains a test index (see REFERENCES.md section 4).
- :class:`CombinatorialPurgedCV`: all ``C(N, k)`` choices of ``k`` test groups among ``N``, purged
  and embargoed the same way, and :meth:`CombinatorialPurgedCV.paths` assembling the
  ``k/N * C(N, k)`` backtest paths.

``embargo`` counts samples (rows), not sessions: with one row per session they coincide.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import combinations
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import polars as pl

from earnest.core.errors import ConfigError, DataError

__all__ = [
    "CombinatorialPurgedCV",
    "PurgedKFold",
    "SpanArray",
    "SpanColumns",
    "WalkForward",
    "spans_from_frame",
]

IntArray = npt.NDArray[np.int64]
SpanArray = npt.ArrayLike | pl.Series
"""What ``t0`` and ``t1`` may be: a numpy array, a sequence of dates/datetimes/numbers, or a polars Series."""

_WHERE = "earnest.models.splits"


class SpanColumns(TypedDict):
    """The label spans of a frame's rows, as keyword arguments for a splitter."""

    t0: pl.Series
    t1: pl.Series


def spans_from_frame(frame: pl.DataFrame, *, t0: str, t1: str) -> SpanColumns:
    """``{"t0": ..., "t1": ...}`` taken from two columns of ``frame``, to pass as ``**kwargs`` to a splitter.

    Example: ``PurgedKFold(5, **spans_from_frame(labels, t0="entry_date", t1="label_known_at_h5"))``.
    """
    for name in (t0, t1):
        if name not in frame.columns:
            raise DataError(
                f"column {name!r} not in the frame (columns: {frame.columns})",
                remedy="name the entry and label-known columns of the labels frame",
                field=name,
            )
    return {"t0": frame[t0], "t1": frame[t1]}


def _to_numpy(values: SpanArray) -> npt.NDArray[Any]:
    arr = values.to_numpy() if isinstance(values, pl.Series) else np.asarray(values)
    if arr.dtype == object:
        try:
            arr = arr.astype("datetime64[ns]")
        except (TypeError, ValueError) as exc:
            raise DataError(
                "label span values are neither numbers nor dates/datetimes",
                remedy="pass t0 and t1 as numbers, dates or datetimes",
                field="t0/t1",
            ) from exc
    if arr.ndim != 1:
        raise DataError("label span arrays must be one-dimensional", field="t0/t1")
    return arr


def _has_missing(arr: npt.NDArray[Any]) -> bool:
    if np.issubdtype(arr.dtype, np.datetime64):
        return bool(np.isnat(arr).any())
    return bool(np.isnan(arr.astype(float)).any())


def _coerce_spans(t0: SpanArray, t1: SpanArray) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Validated ``(t0, t1)`` as comparable numpy arrays: same length, ``t0`` sorted, ``t1 >= t0``."""
    a, b = _to_numpy(t0), _to_numpy(t1)
    a_dt, b_dt = np.issubdtype(a.dtype, np.datetime64), np.issubdtype(b.dtype, np.datetime64)
    if a_dt != b_dt:
        raise DataError(
            f"t0 ({a.dtype}) and t1 ({b.dtype}) are not of comparable kinds",
            remedy="pass both as dates/datetimes or both as numbers",
            field="t0/t1",
        )
    if a_dt:
        a, b = a.astype("datetime64[ns]"), b.astype("datetime64[ns]")
    if len(a) != len(b):
        raise DataError(f"t0 has {len(a)} values but t1 has {len(b)}", field="t0/t1")
    if _has_missing(a):
        raise DataError("t0 has missing values", remedy="drop samples without an entry time", field="t0")
    if _has_missing(b):
        raise DataError(
            "t1 has missing values (labels not yet known)",
            remedy="drop samples whose label is not known before splitting",
            field="t1",
        )
    if len(a) > 1 and bool((a[1:] < a[:-1]).any()):
        row = int(np.argmax(a[1:] < a[:-1])) + 1
        raise DataError("samples are not sorted by t0", remedy="sort the samples by t0", row=row, field="t0")
    if bool((b < a).any()):
        row = int(np.argmax(b < a))
        raise DataError("a label span ends before it starts (t1 < t0)", row=row, field="t1")
    return a, b


def _check_n_samples(x: Any, n: int) -> None:
    if x is None:
        return
    m = x.height if isinstance(x, pl.DataFrame) else len(x)
    if m != n:
        raise DataError(
            f"X has {m} rows but the splitter was built with {n} label spans",
            remedy="build the splitter from the spans of exactly the rows of X, in the same order",
            file=_WHERE,
        )


def _check_embargo(embargo: int) -> None:
    if embargo < 0:
        raise ConfigError(f"embargo must be >= 0, got {embargo}", field="embargo", file=_WHERE)


def _purge_mask(
    t0: npt.NDArray[Any], t1: npt.NDArray[Any], blocks: Sequence[IntArray]
) -> npt.NDArray[np.bool_]:
    """True for samples whose closed span ``[t0, t1]`` overlaps the span of any test block.

    A block's span runs from its earliest ``t0`` to its latest ``t1``. Spans ``[a0, a1]`` and
    ``[b0, b1]`` overlap when ``a0 <= b1`` and ``b0 <= a1`` (touching endpoints count).
    """
    out = np.zeros(len(t0), dtype=bool)
    for block in blocks:
        if len(block) == 0:
            continue
        b0, b1 = t0[block].min(), t1[block].max()
        out |= (t0 <= b1) & (t1 >= b0)
    return out


def _embargo_mask(n: int, blocks: Sequence[IntArray], embargo: int) -> npt.NDArray[np.bool_]:
    """True for the ``embargo`` rows that follow the last row of each test block."""
    out = np.zeros(n, dtype=bool)
    if embargo > 0:
        for block in blocks:
            if len(block):
                end = int(block.max()) + 1
                out[end : end + embargo] = True
    return out


def _purged_train(
    t0: npt.NDArray[Any], t1: npt.NDArray[Any], blocks: Sequence[IntArray], embargo: int
) -> IntArray:
    """Indices that are in no test block, overlap no test block's span and are not embargoed."""
    n = len(t0)
    drop = _purge_mask(t0, t1, blocks) | _embargo_mask(n, blocks, embargo)
    for block in blocks:
        drop[block] = True
    return np.flatnonzero(~drop).astype(np.int64)


def _contiguous_groups(n: int, n_groups: int) -> list[IntArray]:
    if n < n_groups:
        raise DataError(
            f"{n} samples cannot make {n_groups} non-empty groups",
            remedy="use fewer splits or more samples",
            file=_WHERE,
        )
    return [g.astype(np.int64) for g in np.array_split(np.arange(n, dtype=np.int64), n_groups)]


class _SpanSplitter:
    """Shared state: the validated label spans."""

    def __init__(self, *, t0: SpanArray, t1: SpanArray) -> None:
        self.t0, self.t1 = _coerce_spans(t0, t1)

    @property
    def n_samples(self) -> int:
        """Number of samples the splitter was built for."""
        return len(self.t0)


class WalkForward(_SpanSplitter):
    """Walk-forward validation: each fold tests a later block and trains only on earlier samples.

    The last ``n_splits`` blocks of ``test_size`` rows are the test blocks (``test_size`` defaults to
    ``n // (n_splits + 1)``). With ``expanding=True`` training uses every earlier row; with
    ``expanding=False`` only the last ``train_size`` rows before the test block (``train_size``
    defaults to the first fold's training length). ``embargo`` rows just before each test block are
    left out (a gap, as scikit-learn's ``TimeSeriesSplit(gap=...)``). With ``purge=True`` a training
    sample is also dropped when its label is not known before the test block starts
    (``t1 >= min t0`` of the block), so no training label looks into the test period.
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        t0: SpanArray,
        t1: SpanArray,
        expanding: bool = True,
        train_size: int | None = None,
        test_size: int | None = None,
        purge: bool = True,
        embargo: int = 0,
    ) -> None:
        if n_splits < 1:
            raise ConfigError(f"n_splits must be >= 1, got {n_splits}", field="n_splits", file=_WHERE)
        for name, size in (("train_size", train_size), ("test_size", test_size)):
            if size is not None and size < 1:
                raise ConfigError(f"{name} must be >= 1, got {size}", field=name, file=_WHERE)
        _check_embargo(embargo)
        super().__init__(t0=t0, t1=t1)
        self.n_splits = n_splits
        self.expanding = expanding
        self.train_size = train_size
        self.test_size = test_size
        self.purge = purge
        self.embargo = embargo

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:  # noqa: N803 (scikit-learn API)
        """Number of folds."""
        return self.n_splits

    def _sizes(self) -> tuple[int, int]:
        n = self.n_samples
        test = self.test_size if self.test_size is not None else n // (self.n_splits + 1)
        first_train = n - self.n_splits * test - self.embargo
        if test < 1 or first_train < 1:
            raise DataError(
                f"{n} samples are too few for {self.n_splits} test blocks of {test} rows"
                f" after an embargo of {self.embargo}",
                remedy="use fewer splits, a smaller test_size or embargo, or more samples",
                file=_WHERE,
            )
        train = first_train if self.train_size is None else self.train_size
        return test, train

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[tuple[IntArray, IntArray]]:  # noqa: N803 (scikit-learn API)
        """Yield ``(train_idx, test_idx)`` for each fold, oldest test block first."""
        _check_n_samples(X, self.n_samples)
        n = self.n_samples
        test_size, train_size = self._sizes()
        for fold in range(self.n_splits):
            start = n - (self.n_splits - fold) * test_size
            test = np.arange(start, start + test_size, dtype=np.int64)
            stop = start - self.embargo
            lo = 0 if self.expanding else max(0, stop - train_size)
            train = np.arange(lo, stop, dtype=np.int64)
            if self.purge and len(train):
                train = train[self.t1[train] < self.t0[test].min()]
            yield train, test


class PurgedKFold(_SpanSplitter):
    """k-fold on contiguous blocks with purging and an embargo (AFML ch. 7, corrected).

    Fold ``i`` tests the ``i``-th of ``n_splits`` contiguous blocks. Training keeps every other
    sample except those whose span ``[t0, t1]`` overlaps the test block's span
    ``[min t0, max t1]`` (purged, on both sides of the block) and the ``embargo`` rows that follow
    the block. Give the embargo either as a number of rows (``embargo``) or as a fraction of the
    samples (``embargo_pct``, rounded up as rows), not both.
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        t0: SpanArray,
        t1: SpanArray,
        embargo: int | None = None,
        embargo_pct: float | None = None,
    ) -> None:
        if n_splits < 2:
            raise ConfigError(f"n_splits must be >= 2, got {n_splits}", field="n_splits", file=_WHERE)
        super().__init__(t0=t0, t1=t1)
        self.n_splits = n_splits
        self.embargo = _resolve_embargo(embargo, embargo_pct, self.n_samples)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:  # noqa: N803 (scikit-learn API)
        """Number of folds."""
        return self.n_splits

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[tuple[IntArray, IntArray]]:  # noqa: N803 (scikit-learn API)
        """Yield ``(train_idx, test_idx)`` for each fold, in the order of the test blocks."""
        _check_n_samples(X, self.n_samples)
        for block in _contiguous_groups(self.n_samples, self.n_splits):
            yield _purged_train(self.t0, self.t1, [block], self.embargo), block


def _resolve_embargo(embargo: int | None, embargo_pct: float | None, n: int) -> int:
    if embargo is not None and embargo_pct is not None:
        raise ConfigError("give embargo or embargo_pct, not both", field="embargo", file=_WHERE)
    if embargo_pct is not None:
        if not 0.0 <= embargo_pct < 1.0:
            raise ConfigError(f"embargo_pct must be in [0, 1), got {embargo_pct}", field="embargo_pct")
        return math.ceil(n * embargo_pct)
    rows = 0 if embargo is None else embargo
    _check_embargo(rows)
    return rows


class CombinatorialPurgedCV(_SpanSplitter):
    """Combinatorial purged cross-validation (AFML ch. 12).

    The samples are cut into ``n_groups`` contiguous groups; each split tests one of the
    ``C(n_groups, n_test_groups)`` combinations of ``n_test_groups`` groups (in lexicographic order)
    and trains on the rest, purged against every test group's span and embargoed ``embargo`` rows
    after each test group. Each group is tested ``C(N-1, k-1)`` times, which is also the number of
    backtest paths :meth:`paths` assembles.
    """

    def __init__(
        self, n_groups: int, n_test_groups: int, *, t0: SpanArray, t1: SpanArray, embargo: int = 0
    ) -> None:
        if n_groups < 2 or not 1 <= n_test_groups < n_groups:
            raise ConfigError(
                f"need n_groups >= 2 and 1 <= n_test_groups < n_groups, got {n_groups} and {n_test_groups}",
                field="n_test_groups",
                file=_WHERE,
            )
        _check_embargo(embargo)
        super().__init__(t0=t0, t1=t1)
        self.n_groups = n_groups
        self.n_test_groups = n_test_groups
        self.embargo = embargo

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:  # noqa: N803 (scikit-learn API)
        """``C(n_groups, n_test_groups)``."""
        return math.comb(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """``phi = k/N * C(N, k) = C(N-1, k-1)`` backtest paths."""
        return math.comb(self.n_groups - 1, self.n_test_groups - 1)

    def combinations(self) -> list[tuple[int, ...]]:
        """The test groups of each split, in the order :meth:`split` yields them."""
        return list(combinations(range(self.n_groups), self.n_test_groups))

    def groups(self) -> list[IntArray]:
        """Row indices of each of the ``n_groups`` contiguous groups."""
        return _contiguous_groups(self.n_samples, self.n_groups)

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[tuple[IntArray, IntArray]]:  # noqa: N803 (scikit-learn API)
        """Yield ``(train_idx, test_idx)`` for each combination of test groups."""
        _check_n_samples(X, self.n_samples)
        parts = self.groups()
        for combo in self.combinations():
            blocks = [parts[g] for g in combo]
            yield _purged_train(self.t0, self.t1, blocks, self.embargo), np.concatenate(blocks)

    def paths(self) -> npt.NDArray[np.int64]:
        """Backtest paths as an ``(n_paths, n_groups)`` array of split numbers.

        Entry ``[p, g]`` is the split (position in :meth:`split` / :meth:`combinations`) whose
        predictions on group ``g`` form that part of path ``p``. Group ``g``'s ``j``-th test split
        goes to path ``j``, so every path covers every group once, out of sample, and every
        (split, test group) pair is used exactly once.
        """
        out = np.full((self.n_paths, self.n_groups), -1, dtype=np.int64)
        seen = [0] * self.n_groups
        for s, combo in enumerate(self.combinations()):
            for g in combo:
                out[seen[g], g] = s
                seen[g] += 1
        return out
