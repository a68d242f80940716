"""Label-span-aware splitters on tiny panels whose folds are worked out by hand.

Unless said otherwise, sample ``i`` has ``t0 = i`` and its label is known one step later
(``t1 = i + 1``), so each label span touches the next sample's entry. Two closed spans overlap when
``a0 <= b1`` and ``b0 <= a1``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from earnest.core.errors import ConfigError, DataError
from earnest.models import CombinatorialPurgedCV, PurgedKFold, WalkForward, spans_from_frame


def _folds(splitter: WalkForward | PurgedKFold | CombinatorialPurgedCV) -> list[tuple[list[int], list[int]]]:
    return [(tr.tolist(), te.tolist()) for tr, te in splitter.split()]


def _afml_snippet_7_3(
    t0: npt.NDArray[np.int64], t1: npt.NDArray[np.int64], n_splits: int, embargo: int
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """AFML Snippet 7.3 (PurgedKFold.split) transcribed to numpy, defect included.

    ``self.t1`` is a Series of t1 indexed by t0; searchsorted on that index is searchsorted on t0.
    """
    n = len(t0)
    indices = np.arange(n)
    out = []
    for block in np.array_split(indices, n_splits):
        i, j = block[0], block[-1] + 1
        test = indices[i:j]
        max_t1_idx = int(np.searchsorted(t0, t1[test].max()))
        train = np.searchsorted(t0, t0[t1 <= t0[i]])
        if max_t1_idx < n:
            train = np.concatenate((train, indices[max_t1_idx + embargo :]))
        out.append((train, test))
    return out


# ---------------------------------------------------------------- PurgedKFold


def test_purged_kfold_purges_both_sides_of_a_middle_block() -> None:
    t0 = np.arange(6)
    folds = _folds(PurgedKFold(3, t0=t0, t1=t0 + 1))
    # block [0,1] spans [0,2]: sample 2 (span [2,3]) touches it -> purged.
    # block [2,3] spans [2,4]: samples 1 ([1,2]) and 4 ([4,5]) touch it -> purged.
    # block [4,5] spans [4,6]: sample 3 ([3,4]) touches it -> purged.
    assert folds == [([3, 4, 5], [0, 1]), ([0, 5], [2, 3]), ([0, 1, 2], [4, 5])]


def test_purged_kfold_embargo_drops_rows_after_each_block() -> None:
    t0 = np.arange(6)
    folds = _folds(PurgedKFold(3, t0=t0, t1=t0 + 1, embargo=2))
    # the two rows after block [2,3] are 4 (already purged) and 5; nothing follows block [4,5].
    assert folds == [([4, 5], [0, 1]), ([0], [2, 3]), ([0, 1, 2], [4, 5])]


def test_purged_kfold_without_overlap_is_plain_contiguous_kfold() -> None:
    t0 = np.arange(6)
    folds = _folds(PurgedKFold(3, t0=t0, t1=t0))  # label known at entry: no span reaches another row
    assert folds == [([2, 3, 4, 5], [0, 1]), ([0, 1, 4, 5], [2, 3]), ([0, 1, 2, 3], [4, 5])]


def test_snippet_7_3_defect_trains_on_its_own_test_set_and_ours_does_not() -> None:
    """REFERENCES.md section 4: with no embargo Snippet 7.3's last fold trains on one of its test rows."""
    t0 = np.arange(6, dtype=np.int64)
    t1 = t0.copy()
    train, test = _afml_snippet_7_3(t0, t1, 3, 0)[-1]
    # the defect, reproduced: row 5 enters through the right side (searchsorted of the block's last
    # t1 lands on the last test row, not past it) and row 4 through the left side (t1 <= test start).
    assert set(train.tolist()) & set(test.tolist()) == {4, 5}
    for (tr, te), (_ref_tr, ref_te) in zip(
        PurgedKFold(3, t0=t0, t1=t1).split(), _afml_snippet_7_3(t0, t1, 3, 0), strict=True
    ):
        assert te.tolist() == ref_te.tolist()
        assert not set(tr.tolist()) & set(te.tolist())
    assert _folds(PurgedKFold(3, t0=t0, t1=t1))[-1] == ([0, 1, 2, 3], [4, 5])


def test_embargo_pct_rounds_up_to_rows() -> None:
    t0 = np.arange(10)
    assert PurgedKFold(2, t0=t0, t1=t0, embargo_pct=0.15).embargo == 2  # ceil(1.5)
    assert PurgedKFold(2, t0=t0, t1=t0).embargo == 0


def test_dates_from_a_polars_frame_and_ties_within_a_session() -> None:
    d = [dt.date(2024, 1, day) for day in (1, 1, 2, 2, 3, 3)]
    known = [dt.datetime(2024, 1, day, 10, 30) for day in (1, 1, 2, 2, 3, 3)]
    frame = pl.DataFrame({"entry": d, "known": known})
    folds = _folds(PurgedKFold(3, **spans_from_frame(frame, t0="entry", t1="known")))
    # spans stay within their own day, so only the test day itself is held out.
    assert folds == [([2, 3, 4, 5], [0, 1]), ([0, 1, 4, 5], [2, 3]), ([0, 1, 2, 3], [4, 5])]
    # a block boundary that cuts day 2 (rows 2 | 3) purges the other half of that day from training
    folds3 = _folds(
        PurgedKFold(2, **spans_from_frame(frame.head(4).vstack(frame.tail(1)), t0="entry", t1="known"))
    )
    assert folds3[0] == ([4], [0, 1, 2])
    assert folds3[1] == ([0, 1], [3, 4])


# ---------------------------------------------------------------- WalkForward


def test_walk_forward_expanding_purges_labels_not_known_at_test_start() -> None:
    t0 = np.arange(10)
    # test_size = 10 // 4 = 2: test blocks [4,5], [6,7], [8,9]; sample i is known at i+1.
    assert _folds(WalkForward(3, t0=t0, t1=t0 + 1)) == [
        ([0, 1, 2], [4, 5]),
        ([0, 1, 2, 3, 4], [6, 7]),
        ([0, 1, 2, 3, 4, 5, 6], [8, 9]),
    ]
    assert _folds(WalkForward(3, t0=t0, t1=t0 + 1, purge=False))[0] == ([0, 1, 2, 3], [4, 5])


def test_walk_forward_rolling_window_and_embargo_gap() -> None:
    t0 = np.arange(10)
    # rolling: the window keeps the first fold's length (4 rows) before purging.
    assert _folds(WalkForward(3, t0=t0, t1=t0 + 1, expanding=False)) == [
        ([0, 1, 2], [4, 5]),
        ([2, 3, 4], [6, 7]),
        ([4, 5, 6], [8, 9]),
    ]
    assert _folds(WalkForward(2, t0=t0, t1=t0, train_size=3, test_size=3, expanding=False, embargo=1)) == [
        ([0, 1, 2], [4, 5, 6]),
        ([3, 4, 5], [7, 8, 9]),
    ]


# ---------------------------------------------------------------- CombinatorialPurgedCV


def test_cpcv_splits_paths_and_purging_between_two_test_groups() -> None:
    t0 = np.arange(8)
    cv = CombinatorialPurgedCV(4, 2, t0=t0, t1=t0 + 1, embargo=1)
    assert cv.get_n_splits() == 6
    assert cv.n_paths == 3
    assert cv.combinations() == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    # groups [0,1] [2,3] [4,5] [6,7]; testing 0 and 2 purges 2 and 3, 6; embargo after 1 and 5 adds 2, 6.
    assert _folds(cv)[1] == ([7], [0, 1, 4, 5])
    assert cv.paths().tolist() == [[0, 0, 1, 2], [1, 3, 3, 4], [2, 4, 5, 5]]


# ---------------------------------------------------------------- errors


def test_errors_say_what_is_wrong() -> None:
    t0 = np.arange(6)
    with pytest.raises(DataError) as unsorted:
        PurgedKFold(2, t0=[0, 2, 1], t1=[3, 3, 3])
    assert unsorted.value.row == 2
    assert unsorted.value.field == "t0"
    with pytest.raises(DataError) as backwards:
        PurgedKFold(2, t0=[0, 1, 2], t1=[1, 0, 3])
    assert backwards.value.row == 1
    assert backwards.value.field == "t1"
    with pytest.raises(DataError):
        list(PurgedKFold(2, t0=t0, t1=t0).split(np.zeros((5, 2))))
    with pytest.raises(DataError):
        PurgedKFold(2, t0=[0.0, 1.0], t1=[1.0, float("nan")])
    with pytest.raises(ConfigError):
        PurgedKFold(2, t0=t0, t1=t0, embargo=1, embargo_pct=0.1)
    with pytest.raises(ConfigError):
        CombinatorialPurgedCV(4, 4, t0=t0, t1=t0)
    with pytest.raises(DataError):
        list(WalkForward(5, t0=t0, t1=t0, test_size=2).split())
    with pytest.raises(DataError):
        spans_from_frame(pl.DataFrame({"a": [1]}), t0="a", t1="b")
