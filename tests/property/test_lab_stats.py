"""Properties of the lab's statistics (hypothesis): invariances every event-study statistic must have,
the clustered mean equal to the event mean, monotonicity of the t statistics in a planted shift, and
Benjamini-Hochberg's basic inequalities."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.lab.stats import TEST_NAMES, benjamini_hochberg, clustered_mean, event_study_tests, iid_mean

L1, L2, H = 12, 4, 3


@st.composite
def panels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(4, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    est = rng.standard_t(4, (n, L1)) * 0.02
    evt = rng.standard_t(4, (n, L2)) * 0.02
    days = rng.integers(0, draw(st.integers(1, 40)), n).astype(np.int64)
    return est, evt, days


def _stats(est: np.ndarray, evt: np.ndarray, days: np.ndarray) -> dict[str, float]:
    t = event_study_tests(evt, est, horizon=H, event_day=days, min_est_days=8, n_boot=50, seed=1)
    return dict(zip(t.frame["test"], t.frame["statistic"], strict=True))


@settings(max_examples=40, deadline=None)
@given(panels(), st.integers(0, 2**32 - 1))
def test_permuting_events_changes_no_statistic(panel: tuple[np.ndarray, ...], seed: int) -> None:
    est, evt, days = panel
    perm = np.random.default_rng(seed).permutation(days.size)
    a, b = _stats(est, evt, days), _stats(est[perm], evt[perm], days[perm])
    for name in TEST_NAMES:
        if math.isnan(a[name]):
            assert math.isnan(b[name]), name
        else:
            assert math.isclose(a[name], b[name], rel_tol=1e-9, abs_tol=1e-12), name


@settings(max_examples=40, deadline=None)
@given(panels(), st.floats(0.1, 100.0))
def test_rescaling_returns_leaves_t_statistics_unchanged(panel: tuple[np.ndarray, ...], k: float) -> None:
    est, evt, days = panel
    a, b = _stats(est, evt, days), _stats(est * k, evt * k, days)
    for name in TEST_NAMES:
        if name == "bootstrap_dates":
            assert math.isclose(b[name], k * a[name], rel_tol=1e-9, abs_tol=1e-15)
        elif not math.isnan(a[name]):
            assert math.isclose(a[name], b[name], rel_tol=1e-7, abs_tol=1e-9), name


@settings(max_examples=40, deadline=None)
@given(panels(), st.floats(0.001, 0.05))
def test_adding_abnormal_return_raises_the_t_statistics(panel: tuple[np.ndarray, ...], c: float) -> None:
    est, evt, days = panel
    a, b = _stats(est, evt, days), _stats(est, evt + c, days)
    for name in (
        "clustered_t",
        "cross_sectional_t",
        "j1",
        "j2",
        "patell_z",
        "bmp_t",
        "kolari_pynnonen_t",
        "brown_warner_t",
    ):
        if not math.isnan(a[name]):
            assert b[name] > a[name], name
    assert b["sign_z"] >= a["sign_z"]
    assert b["generalized_sign_z"] >= a["generalized_sign_z"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=40),
    st.integers(0, 2**32 - 1),
    st.integers(1, 25),
    st.sampled_from(["uniform", "bartlett"]),
)
def test_clustered_mean_is_the_event_mean(xs: list[float], seed: int, horizon: int, kernel: str) -> None:
    x = np.array(xs)
    days = np.random.default_rng(seed).integers(0, 60, x.size).astype(np.int64)
    m = clustered_mean(x, event_day=days, horizon=horizon, kernel=kernel)  # type: ignore[arg-type]
    assert math.isclose(m.mean, float(x.mean()), rel_tol=1e-12, abs_tol=1e-12)
    assert m.n == x.size
    assert m.n_clusters == np.unique(days).size
    if math.isfinite(m.se):
        assert m.se >= 0
        assert m.df > 0
        assert m.ci_low <= m.mean <= m.ci_high


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=30), st.integers(1, 10))
def test_clustered_mean_with_disjoint_windows_is_the_iid_test(xs: list[float], horizon: int) -> None:
    x = np.array(xs)
    if np.ptp(x) < 1e-6:
        return
    days = np.arange(x.size, dtype=np.int64) * horizon  # one event a date, windows never overlap
    c, i = clustered_mean(x, event_day=days, horizon=horizon), iid_mean(x)
    assert math.isclose(c.se, i.se, rel_tol=1e-9)
    assert math.isclose(c.df, i.df, rel_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50))
def test_benjamini_hochberg_bounds_and_order(ps: list[float]) -> None:
    p = np.array(ps)
    adj = benjamini_hochberg(p)
    assert (adj >= p - 1e-15).all()
    assert (adj <= 1.0).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(adj[order]) >= -1e-15).all()
