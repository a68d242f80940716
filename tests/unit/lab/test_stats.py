"""Event-study statistics on tiny hand-made arrays.

Every expected number is either worked out by hand in a comment or recomputed here by a separate,
plain per-event formula (loops, dense matrices, scipy on one row at a time), never by the code under
test.

Fixture (market-adjusted, N = 3 events, L1 = 5 estimation days, L2 = 3 event days, horizon h = 2):

    EST = [[1, -1, 2, -2, 0], [2, 0, -1, 1, -2], [0.5, -0.5, 1.5, -1, 0]]
    EVT = [[1, 2, 0], [-1, 3, 1], [2, 0.5, 1]]
    CAR = [3, 2, 2.5]: mean 2.5, sd 0.5
    sigma2 (sample variance, L1 - 1 = 4): 10/4 = 2.5, 10/4 = 2.5, 3.7/4 = 0.925
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from earnest.core.errors import ConfigError, DataError, NotFoundError
from earnest.lab import stats as ls
from earnest.lab.stats import (
    TEST_NAMES,
    benjamini_hochberg,
    binomial,
    clustered_mean,
    event_study_tests,
    iid_mean,
    patell_by_day,
)

EST = np.array([[1.0, -1, 2, -2, 0], [2, 0, -1, 1, -2], [0.5, -0.5, 1.5, -1, 0]])
EVT = np.array([[1.0, 2, 0], [-1, 3, 1], [2, 0.5, 1]])
DAY = np.array([10, 10, 30], dtype=np.int64)
H = 2


def run(**kw: object) -> ls.TestTable:
    args: dict[str, object] = {"horizon": H, "event_day": DAY, "min_est_days": 4, "n_boot": 200}
    args.update(kw)
    return event_study_tests(EVT, EST, **args)  # type: ignore[arg-type]


def stat(table: ls.TestTable, name: str) -> float:
    return table.get(name).statistic


# --------------------------------------------------------------------------- market-adjusted


def test_table_shape_and_primary() -> None:
    t = run()
    assert t.frame.columns == ["test", "statistic", "p_value", "df", "reference", "note"]
    assert tuple(t.frame["test"]) == TEST_NAMES
    assert t.primary == "clustered_t"
    assert t.primary_result.test == "clustered_t"
    assert t.n_events == 3
    assert t.n_standardized == 3
    assert t.car_mean == pytest.approx(2.5)
    with pytest.raises(NotFoundError):
        t.get("nope")


def test_cross_sectional_t_by_hand() -> None:
    # mean 2.5, sd 0.5 -> t = 2.5 / (0.5 / sqrt 3) = 5 sqrt 3
    row = run().get("cross_sectional_t")
    assert row.statistic == pytest.approx(5 * math.sqrt(3))
    assert row.df == 2
    assert row.p_value == pytest.approx(2 * sps.t.sf(5 * math.sqrt(3), 2))


def test_j1_by_hand() -> None:
    # Var(CAR_i) = h sigma2_i = 5, 5, 1.85; J1 = 2.5 / (sqrt(11.85) / 3)
    j1 = 2.5 / (math.sqrt(11.85) / 3)
    row = run().get("j1")
    assert row.statistic == pytest.approx(j1)
    assert row.df is None
    assert row.p_value == pytest.approx(2 * sps.norm.sf(j1))


def test_j2_and_bmp_market_adjusted() -> None:
    scar = np.array([3 / math.sqrt(5), 2 / math.sqrt(5), 2.5 / math.sqrt(1.85)])
    # market-adjusted: dof = L1 - 1 = 4, Var(t_4) = 4/2 = 2 for every event
    j2 = scar.sum() / math.sqrt(3 * 2.0)
    bmp = scar.mean() / (scar.std(ddof=1) / math.sqrt(3))
    t = run()
    assert stat(t, "j2") == pytest.approx(j2)
    assert stat(t, "bmp_t") == pytest.approx(bmp)
    assert t.get("bmp_t").df == 2


def test_patell_equals_j2_without_market_model() -> None:
    # with market-adjusted returns every day has the same sd, so CSAR_i = CAR_i / sigma_i and
    # CSAR_i / sqrt(h) = SCAR_i: Patell and J2 coincide
    t = run()
    assert stat(t, "patell_z") == pytest.approx(stat(t, "j2"))


def test_brown_warner_by_hand() -> None:
    aar = EST.mean(0)  # [7/6, -1/2, 5/6, -2/3, -2/3]
    s = aar.std(ddof=1)
    row = run().get("brown_warner_t")
    assert row.statistic == pytest.approx(2.5 / (math.sqrt(2) * s))
    assert row.df == 4


def test_sign_tests_by_hand() -> None:
    t = run()
    # all 3 CARs positive: z = (3 - 1.5) / sqrt(0.75) = sqrt 3; exact p = 2 * 0.5^3 = 0.25
    assert stat(t, "sign_z") == pytest.approx(math.sqrt(3))
    assert t.get("sign_exact").statistic == 3
    assert t.get("sign_exact").p_value == pytest.approx(0.25)


def test_generalized_sign_by_hand() -> None:
    # positive estimation days: 2/5, 2/5, 2/5 -> p = 0.4; z = (3 - 1.2) / sqrt(3 * 0.4 * 0.6)
    assert stat(run(), "generalized_sign_z") == pytest.approx(1.8 / math.sqrt(0.72))


def test_corrado_against_row_by_row_ranks() -> None:
    full = np.concatenate([EST, EVT], axis=1)
    u = np.array([sps.rankdata(r) / (r.size + 1) - 0.5 for r in full])
    ubar = u.mean(0)
    expected = ubar[5:7].sum() / (math.sqrt(2) * math.sqrt(np.mean(ubar**2)))
    assert stat(run(), "corrado_rank") == pytest.approx(expected)


def test_corrado_handles_missing_days() -> None:
    est = EST.copy()
    est[0, 0] = np.nan
    full = np.concatenate([est, EVT], axis=1)
    u = np.full(full.shape, np.nan)
    for i, r in enumerate(full):
        ok = ~np.isnan(r)
        u[i, ok] = sps.rankdata(r[ok]) / (ok.sum() + 1) - 0.5
    ubar = np.nanmean(u, 0)
    expected = ubar[5:7].sum() / (math.sqrt(2) * math.sqrt(np.mean(ubar**2)))
    t = event_study_tests(EVT, est, horizon=2, event_day=DAY, min_est_days=4, n_boot=10)
    assert stat(t, "corrado_rank") == pytest.approx(expected)


def test_kolari_pynnonen_all_on_one_date_is_the_average_pairwise_correlation() -> None:
    same = np.array([5, 5, 5], dtype=np.int64)
    c = np.corrcoef(EST)
    r_bar = (c.sum() - 3) / 6
    assert r_bar > 0
    t = run(event_day=same)
    assert t.r_bar == pytest.approx(r_bar)
    bmp = stat(t, "bmp_t")
    assert stat(t, "kolari_pynnonen_t") == pytest.approx(bmp * math.sqrt((1 - r_bar) / (1 + 2 * r_bar)))


def test_kolari_pynnonen_far_apart_dates_share_only_same_date_pairs() -> None:
    # events 0 and 2 on one date, event 1 far away: only the ordered pairs (0,2), (2,0) overlap, so
    # r̄ = corr(0, 2) * 2 / 6 = 0.98639 / 3
    days = np.array([10, 1000, 10], dtype=np.int64)
    c02 = np.corrcoef(EST[0], EST[2])[0, 1]
    assert c02 == pytest.approx(0.98639, abs=1e-5)
    assert run(event_day=days).r_bar == pytest.approx(c02 / 3)


def test_kolari_pynnonen_nearby_dates_use_calendar_overlap() -> None:
    # event 0 one session after event 1: their estimation windows share 4 sessions (event 1's column
    # c + 1 is event 0's column c), and their 2-day CARs share 1 of 2 days. Pooled rho = cross products
    # of standardized residuals on shared sessions / shared cells = 2 * 3.5 / 8 = 0.875 (z by hand:
    # event 1 = [2, 0, -1, 1, -2] / sqrt 2, event 0 = [1, -1, 2, -2, 0] / sqrt 2, sum z1[c+1] z0[c] =
    # (0 + 1 + 2 + 4) / 2 = 3.5). r̄ = 0.875 * (2 ordered pairs * share 1/2) / 6.
    days = np.array([11, 10, 1000], dtype=np.int64)
    t = run(event_day=days)
    assert t.r_bar == pytest.approx(0.875 / 6)
    bmp = stat(t, "bmp_t")
    r = 0.875 / 6
    assert stat(t, "kolari_pynnonen_t") == pytest.approx(bmp * math.sqrt((1 - r) / (1 + 2 * r)))


def test_bootstrap_resamples_whole_dates() -> None:
    # 1-day CARs [1, 3 | 10] on two dates: a resample of 2 dates is (A, A) -> 8/4 = 2, (B, B) -> 10 or
    # (A, B) -> 14/3, each pair of a date's events staying together. Each extreme has probability 1/4,
    # so the 2.5% and 97.5% quantiles of 500 resamples are 2 and 10.
    evt = np.array([[1.0, 0, 0], [3, 0, 0], [10, 0, 0]])
    t = event_study_tests(evt, EST, horizon=1, event_day=DAY, min_est_days=4, n_boot=500, seed=3)
    assert t.bootstrap_ci == pytest.approx((2.0, 10.0))
    assert t.get("bootstrap_dates").statistic == pytest.approx(14 / 3)
    again = event_study_tests(evt, EST, horizon=1, event_day=DAY, min_est_days=4, n_boot=500, seed=3)
    assert again.get("bootstrap_dates").p_value == t.get("bootstrap_dates").p_value


# --------------------------------------------------------------------------- market model


def _market_model_fixture() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(7)
    n, l1, l2 = 4, 8, 3
    m_est = rng.normal(0, 1, (n, l1))
    m_evt = rng.normal(0, 1, (n, l2))
    r_est = 0.5 + 1.2 * m_est + rng.normal(0, 1, (n, l1))
    r_evt = 0.5 + 1.2 * m_evt + rng.normal(0.3, 1, (n, l2))
    ar_est, ar_evt = np.empty_like(r_est), np.empty_like(r_evt)
    for i in range(n):
        beta, alpha = np.polyfit(m_est[i], r_est[i], 1)
        ar_est[i] = r_est[i] - alpha - beta * m_est[i]
        ar_evt[i] = r_evt[i] - alpha - beta * m_evt[i]
    return ar_est, ar_evt, m_est, m_evt


def _mm_reference(ar_est: np.ndarray, ar_evt: np.ndarray, m_est: np.ndarray, m_evt: np.ndarray, h: int):  # type: ignore[no-untyped-def]
    """Per event: CAR variance gamma' V gamma with V = s2 (I + X*(X'X)^-1 X*'), the daily variances
    (its diagonal), s2 = SSR / (L1 - 2)."""
    car_var, day_var = [], []
    for i in range(ar_est.shape[0]):
        s2 = (ar_est[i] ** 2).sum() / (ar_est.shape[1] - 2)
        x = np.column_stack([np.ones(ar_est.shape[1]), m_est[i]])
        xs = np.column_stack([np.ones(h), m_evt[i, :h]])
        v = s2 * (np.eye(h) + xs @ np.linalg.inv(x.T @ x) @ xs.T)
        car_var.append(np.ones(h) @ v @ np.ones(h))
        day_var.append(np.diag(v))
    return np.array(car_var), np.array(day_var)


def test_market_model_prediction_error_correction() -> None:
    ar_est, ar_evt, m_est, m_evt = _market_model_fixture()
    h = 3
    car = ar_evt[:, :h].sum(1)
    car_var, day_var = _mm_reference(ar_est, ar_evt, m_est, m_evt, h)
    days = np.array([1, 40, 80, 120], dtype=np.int64)
    t = event_study_tests(
        ar_evt, ar_est, horizon=h, event_day=days, mkt_evt=m_evt, mkt_est=m_est, min_est_days=5
    )
    assert stat(t, "j1") == pytest.approx(car.mean() / (math.sqrt(car_var.sum()) / 4))
    scar = car / np.sqrt(car_var)
    # common L1 = 8: J2 = sqrt(N (L1 - 4) / (L1 - 2)) * mean(SCAR) (MacKinlay 1997)
    assert stat(t, "j2") == pytest.approx(math.sqrt(4 * 4 / 6) * scar.mean())
    assert stat(t, "bmp_t") == pytest.approx(scar.mean() / (scar.std(ddof=1) / 2))
    csar = (ar_evt[:, :h] / np.sqrt(day_var)).sum(1)
    patell = (csar / np.sqrt(h * 6 / 4)).sum() / 2
    assert stat(t, "patell_z") == pytest.approx(patell)
    by_day = patell_by_day(ar_evt, ar_est, mkt_evt=m_evt, mkt_est=m_est, min_est_days=5)
    _, day_var_all = _mm_reference(ar_est, ar_evt, m_est, m_evt, 3)
    sar = ar_evt / np.sqrt(day_var_all)
    np.testing.assert_allclose(by_day, sar.sum(0) / math.sqrt(4 * 6 / 4))


# --------------------------------------------------------------------------- exclusions and errors


def test_missing_car_days_and_short_estimation_windows_are_counted() -> None:
    evt = EVT.copy()
    evt[2, 1] = np.nan  # event 2 has no complete 2-day CAR
    est = np.vstack([EST, EST[:1]])
    est[3, :3] = np.nan  # event 3 has 2 estimation days only
    evt = np.vstack([evt, EVT[:1]])
    days = np.array([10, 10, 30, 50], dtype=np.int64)
    t = event_study_tests(evt, est, horizon=2, event_day=days, min_est_days=4, n_boot=10)
    assert t.n_events == 3
    assert t.n_standardized == 2
    assert "1 events without a complete 2-day CAR" in t.get("j1").note
    assert "1 events with < 4 estimation days" in t.get("j1").note
    assert t.get("cross_sectional_t").df == 2


def test_default_needs_thirty_estimation_days() -> None:
    t = event_study_tests(EVT, EST, horizon=2, event_day=DAY, n_boot=10)
    assert t.n_standardized == 0
    assert math.isnan(stat(t, "j1"))
    assert stat(t, "cross_sectional_t") == pytest.approx(5 * math.sqrt(3))


def test_bad_inputs_raise() -> None:
    with pytest.raises(ConfigError):
        run(horizon=4)
    with pytest.raises(ConfigError):
        run(horizon=0)
    with pytest.raises(DataError):
        run(event_day=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(DataError):
        event_study_tests(EVT[:2], EST, horizon=1, event_day=DAY[:2])
    with pytest.raises(ConfigError):
        run(mkt_evt=EVT)
    with pytest.raises(ConfigError):
        run(min_est_days=2)


# --------------------------------------------------------------------------- clustered mean


def test_clustered_mean_two_dates_by_hand() -> None:
    # x = [1, 4 | 2, 5] on dates 0 and 1, horizon 1: mean 3, e = [-2, 1, -1, 2], date sums u = [-1, 1].
    # rho estimate: (u'u - e'e) < 0 -> 0. Working model iid: P = diag(c) - cc'/N = [[1, -1], [-1, 1]],
    # tr P = 2, tr P^2 = 4 -> bias factor N / tr P = 2, df = 2^2 / 4 = 1. V = u'u = 2 -> var 4,
    # se = sqrt(4) / 4 = 0.5, t = 6.
    m = clustered_mean([1.0, 4, 2, 5], event_day=np.array([0, 0, 1, 1]), horizon=1)
    assert m.mean == pytest.approx(3)
    assert m.se == pytest.approx(0.5)
    assert m.df == pytest.approx(1)
    assert m.t == pytest.approx(6)
    assert m.p_value == pytest.approx(2 * sps.t.sf(6, 1))
    q = sps.t.ppf(0.975, 1)
    assert (m.ci_low, m.ci_high) == pytest.approx((3 - 0.5 * q, 3 + 0.5 * q))
    assert (m.n, m.n_clusters, m.method) == (4, 2, "overlap-uniform")


def test_clustered_mean_is_the_iid_t_test_when_nothing_is_shared() -> None:
    x = np.array([0.3, -1.2, 2.5, 0.7, 1.1, -0.4])
    days = np.arange(6, dtype=np.int64) * 10  # 10 sessions apart, horizon 5: no overlap
    c = clustered_mean(x, event_day=days, horizon=5)
    i = iid_mean(x)
    assert (c.mean, c.se, c.df, c.p_value) == pytest.approx((i.mean, i.se, i.df, i.p_value))
    assert i.p_value == pytest.approx(sps.ttest_1samp(x, 0).pvalue)


def _dense_reference(x: np.ndarray, days: np.ndarray, h: int, kernel: str) -> tuple[float, float]:
    """se and df from N x N matrices: K_ij = w(|d_i - d_j|), Sigma = (1 - rho) I + rho * share."""
    n = x.size
    e = x - x.mean()
    gap = np.abs(days[:, None] - days[None, :])
    share = np.clip(1 - gap / h, 0, None)
    k = (gap < h).astype(float) if kernel == "uniform" else share
    off = ~np.eye(n, dtype=bool)
    s2 = e @ e / (n - 1)
    rho = float(np.clip((e @ (share * off) @ e) / (s2 * (share[off] ** 2).sum()), 0, 0.99))
    sigma = (1 - rho) * np.eye(n) + rho * share
    m = np.eye(n) - np.ones((n, n)) / n
    a = m @ k @ m
    tr1, tr2 = np.trace(a @ sigma), np.trace(a @ sigma @ a @ sigma)
    v = e @ k @ e
    var = v * (np.ones(n) @ sigma @ np.ones(n)) / tr1
    return math.sqrt(var) / n, tr1**2 / tr2


@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
def test_clustered_mean_matches_dense_matrices(kernel: str) -> None:
    rng = np.random.default_rng(11)
    days = np.sort(rng.integers(0, 40, 25)).astype(np.int64)
    x = rng.normal(0, 1, 25) + 0.8 * rng.normal(0, 1, 40)[days]  # shared date shocks
    se, df = _dense_reference(x, days, 5, kernel)
    m = clustered_mean(x, event_day=days, horizon=5, kernel=kernel)  # type: ignore[arg-type]
    assert m.se == pytest.approx(se)
    assert m.df == pytest.approx(df)
    assert m.method == f"overlap-{kernel}"


def test_clustered_mean_edge_cases() -> None:
    one = clustered_mean([1.0, 2.0], event_day=np.array([3, 3]), horizon=2)
    assert one.mean == 1.5
    assert math.isnan(one.se)
    assert one.n_clusters == 1
    empty = clustered_mean([np.nan], event_day=np.array([3]), horizon=2)
    assert empty.n == 0
    assert math.isnan(empty.mean)
    dropped = clustered_mean([1.0, np.nan, 3.0], event_day=np.array([0, 5, 100]), horizon=2)
    assert dropped.n == 2
    assert dropped.mean == 2
    with pytest.raises(DataError):
        clustered_mean([1.0, 2.0], event_day=np.array([1]), horizon=1)
    with pytest.raises(ConfigError):
        clustered_mean([1.0, 2.0], event_day=np.array([1, 2]), horizon=1, alpha=1.5)


# --------------------------------------------------------------------------- binomial, BH


def test_binomial_42_events() -> None:
    # REFERENCES.md section 7: 16 wins of 42 against 50%
    b = binomial(16, 42)
    assert round(b.p_two_sided, 5) == 0.16415
    assert round(b.p_less, 5) == 0.08207
    assert tuple(round(v, 5) for v in b.clopper_pearson) == (0.23572, 0.54363)
    assert tuple(round(v, 5) for v in b.wilson) == (0.25000, 0.53186)
    assert b.win_rate == pytest.approx(16 / 42)
    assert b.p_greater == pytest.approx(sps.binom.sf(15, 42, 0.5))


def test_binomial_rejects_bad_counts() -> None:
    with pytest.raises(ConfigError):
        binomial(5, 4)
    with pytest.raises(ConfigError):
        binomial(1, 4, p0=1.0)


def test_benjamini_hochberg_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> p * 4 / rank = 0.02, 0.02, 0.04, 0.04 (already monotone)
    adj = benjamini_hochberg([0.01, 0.04, np.nan, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.02, 0.04, np.nan, 0.04, 0.02])
    with pytest.raises(DataError):
        benjamini_hochberg([0.5, 1.5])


def test_precomputed_rank_scores_give_the_same_table() -> None:
    rng = np.random.default_rng(4)
    est = rng.normal(0, 0.02, (40, 30))
    evt = rng.normal(0.001, 0.02, (40, 6))
    est[3, :5] = np.nan
    evt[7, 4:] = np.nan  # incomplete for horizons above 4: dropped there, kept at 3
    day = rng.integers(0, 25, 40)
    u = ls.rank_scores(est, evt)
    for h in (3, 6):
        plain = ls.event_study_tests(evt, est, horizon=h, event_day=day, n_boot=50)
        shared = ls.event_study_tests(evt, est, horizon=h, event_day=day, n_boot=50, rank_u=u)
        assert plain.frame.equals(shared.frame)
