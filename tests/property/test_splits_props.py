"""Properties every label-span-aware splitter must have (issue 6, Done-when), on random panels.

Panels: ``t0`` sorted with ties (several rows per session), label spans of 0 to ``max_span`` steps.
Checked for every fold: train and test are disjoint; no training label span overlaps any test
label span; at least ``embargo`` rows follow each test block before a training row; walk-forward
never trains on the future; CPCV tests each group ``C(N-1, k-1)`` times and builds that many paths.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.models import CombinatorialPurgedCV, PurgedKFold, WalkForward

Arr = npt.NDArray[np.int64]


@st.composite
def spans(draw: st.DrawFn, min_n: int = 6, max_n: int = 60) -> tuple[Arr, Arr]:
    n = draw(st.integers(min_n, max_n))
    steps = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    lengths = draw(st.lists(st.integers(0, draw(st.integers(0, 6))), min_size=n, max_size=n))
    t0 = np.cumsum(np.asarray(steps, dtype=np.int64))
    return t0, t0 + np.asarray(lengths, dtype=np.int64)


def _check_fold(t0: Arr, t1: Arr, train: Arr, test: Arr, embargo: int) -> None:
    n = len(t0)
    assert train.dtype.kind == "i"
    assert test.dtype.kind == "i"
    assert len(test) > 0
    assert np.all((train >= 0) & (train < n))
    assert np.all((test >= 0) & (test < n))
    assert len(np.unique(train)) == len(train)
    assert len(np.unique(test)) == len(test)
    assert not set(train.tolist()) & set(test.tolist())
    # no training span overlaps any test span (closed intervals)
    if len(train):
        overlap = (t0[train][:, None] <= t1[test][None, :]) & (t0[test][None, :] <= t1[train][:, None])
        assert not overlap.any()
    # at least `embargo` rows after each contiguous test block before training resumes
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    ends = [i for i in range(n) if is_test[i] and (i + 1 == n or not is_test[i + 1])]
    train_set = set(train.tolist())
    for end in ends:
        assert not train_set & set(range(end + 1, min(n, end + 1 + embargo)))


@settings(max_examples=150, deadline=None)
@given(spans(), st.integers(2, 6), st.integers(0, 5))
def test_purged_kfold_properties(sp: tuple[Arr, Arr], k: int, embargo: int) -> None:
    t0, t1 = sp
    cv = PurgedKFold(k, t0=t0, t1=t1, embargo=embargo)
    folds = list(cv.split(np.zeros((len(t0), 1))))
    assert len(folds) == cv.get_n_splits() == k
    for train, test in folds:
        _check_fold(t0, t1, train, test, embargo)
    # the test blocks partition the samples, in order
    assert np.concatenate([te for _, te in folds]).tolist() == list(range(len(t0)))


@settings(max_examples=150, deadline=None)
@given(spans(min_n=12), st.integers(1, 4), st.booleans(), st.integers(0, 2), st.booleans())
def test_walk_forward_never_trains_on_the_future(
    sp: tuple[Arr, Arr], k: int, expanding: bool, embargo: int, purge: bool
) -> None:
    t0, t1 = sp
    cv = WalkForward(k, t0=t0, t1=t1, expanding=expanding, embargo=embargo, purge=purge)
    folds = list(cv.split())
    assert len(folds) == cv.get_n_splits() == k
    last_test_start = -1
    for train, test in folds:
        assert test.min() > last_test_start  # test blocks move forward
        last_test_start = int(test.min())
        if len(train):
            assert train.max() < test.min() - embargo  # rows, with the gap
            if purge:  # every training label was known before the test block's first entry
                assert t1[train].max() < t0[test].min()
                _check_fold(t0, t1, train, test, embargo)


@settings(max_examples=100, deadline=None)
@given(spans(min_n=8), st.integers(2, 6), st.data(), st.integers(0, 3))
def test_cpcv_properties(sp: tuple[Arr, Arr], n_groups: int, data: st.DataObject, embargo: int) -> None:
    t0, t1 = sp
    k = data.draw(st.integers(1, n_groups - 1))
    cv = CombinatorialPurgedCV(n_groups, k, t0=t0, t1=t1, embargo=embargo)
    folds = list(cv.split())
    assert len(folds) == cv.get_n_splits() == math.comb(n_groups, k)
    groups = cv.groups()
    times_tested = [0] * n_groups
    for (train, test), combo in zip(folds, cv.combinations(), strict=True):
        _check_fold(t0, t1, train, test, embargo)
        assert sorted(test.tolist()) == sorted(np.concatenate([groups[g] for g in combo]).tolist())
        for g in combo:
            times_tested[g] += 1
    assert times_tested == [math.comb(n_groups - 1, k - 1)] * n_groups
    paths = cv.paths()
    assert paths.shape == (cv.n_paths, n_groups) == (k * math.comb(n_groups, k) // n_groups, n_groups)
    combos = cv.combinations()
    for p in range(cv.n_paths):
        for g in range(n_groups):
            assert g in combos[int(paths[p, g])]  # each path piece is out of sample
    # every (split, test group) pair is used by exactly one path
    pairs = {(int(paths[p, g]), g) for p in range(cv.n_paths) for g in range(n_groups)}
    assert pairs == {(s, g) for s, combo in enumerate(combos) for g in combo}
