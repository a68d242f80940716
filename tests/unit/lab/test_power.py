"""Power, MDE and sample sizes: REFERENCES.md section 7 reproduced at its stated precision, plus
hand-checkable cases of the SE-based functions the lab uses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from earnest.core.errors import ConfigError
from earnest.lab import power as lp
from earnest.lab.power import (
    events_needed,
    exact_binomial_power,
    mde_from_se,
    mde_mean,
    mde_proportion,
    n_for_mean,
    n_for_proportion,
    n_for_proportion_exact,
    n_two_proportions,
    power_curve,
    power_from_se,
    power_mean,
)

Z975, Z80 = 1.959963984540054, 0.8416212335729143


# --------------------------------------------------------------------------- REFERENCES.md section 7


def test_win_rate_sample_sizes_55_vs_50() -> None:
    assert round(n_for_proportion(0.55), 2) == 782.53
    assert math.ceil(n_for_proportion(0.55)) == 783
    assert round(n_for_proportion(0.55, two_sided=False), 2) == 616.16
    assert math.ceil(n_for_proportion(0.55, two_sided=False)) == 617
    assert round(n_for_proportion(0.55, method="arcsine"), 2) == 782.26
    assert round(n_for_proportion(0.55, method="arcsine", two_sided=False), 2) == 616.19


def test_exact_binomial_sample_sizes_are_a_saw_tooth() -> None:
    one = n_for_proportion_exact(0.55, alternative="greater")
    assert (one.first, one.stable) == (620, 654)
    assert exact_binomial_power(0.55, 653, alternative="greater") < 0.8
    two = n_for_proportion_exact(0.55, alternative="two-sided", n_max=900)
    assert two.first == 786


def test_power_of_42_events() -> None:
    assert round(exact_binomial_power(0.55, 42), 3) == 0.089
    assert round(exact_binomial_power(0.60, 42), 3) == 0.237
    assert round(mde_proportion(42), 2) == 0.71


def test_mean_abnormal_return_sample_sizes() -> None:
    # delta 1%, sigma 5%: d = 0.2
    assert round(n_for_mean(0.2, dist="z"), 1) == 196.2
    assert math.ceil(n_for_mean(0.2, dist="z")) == 197
    assert round(n_for_mean(0.2), 2) == 198.15
    assert math.ceil(n_for_mean(0.2)) == 199
    assert round(n_for_mean(0.2, two_sided=False), 1) == 155.9
    assert round(power_mean(0.2, 42), 3) == 0.244
    assert round(mde_mean(42), 3) == 0.443


def test_two_sample_win_rates() -> None:
    assert math.ceil(n_two_proportions(0.55, 0.50)) == 1565


def test_events_needed_reproduces_the_mean_case() -> None:
    se = 0.05 / math.sqrt(42)  # sigma 5% over 42 events
    assert events_needed(0.01, se, 42) == 197  # normal reference
    assert events_needed(0.01, se, 42, df=41) == 199  # t, df scaled as 41 * m / 42
    assert events_needed(0.01, se, 42, df=41, two_sided=False) == 156


# --------------------------------------------------------------------------- SE-based, by hand


def test_power_from_se_normal_by_hand() -> None:
    # effect = (z_.975 + z_.8) se -> power 0.8 plus the far tail Phi(-z_.975 - ncp)
    ncp = Z975 + Z80
    expected = 0.8 + sps.norm.cdf(-Z975 - ncp)
    assert power_from_se(ncp * 0.01, 0.01) == pytest.approx(expected)
    # one-sided: crit 1.645, ncp 1.645 -> 0.5
    assert power_from_se(1.6448536269514722, 1.0, two_sided=False) == pytest.approx(0.5)
    assert power_from_se(-1.0, 1.0, two_sided=False) < 0.05
    assert power_from_se(0.0, 1.0) == pytest.approx(0.05)


def test_power_from_se_noncentral_t() -> None:
    crit = sps.t.isf(0.025, 10)
    expected = sps.nct.sf(crit, 10, 2.5) + sps.nct.cdf(-crit, 10, 2.5)
    assert power_from_se(2.5, 1.0, df=10) == pytest.approx(expected)
    assert power_from_se(2.5, 1.0, df=10) < power_from_se(2.5, 1.0)
    assert power_from_se(40.0, 1.0, df=41) == pytest.approx(1.0)  # scipy's NaN far tail read as 0


def test_mde_from_se_inverts_power() -> None:
    assert mde_from_se(0.01) == pytest.approx((Z975 + Z80) * 0.01, rel=1e-4)
    for df in (None, 5.0, 41.0):
        m = mde_from_se(0.02, df=df, power=0.9)
        assert power_from_se(m, 0.02, df=df) == pytest.approx(0.9)
    assert mde_from_se(1.0, two_sided=False) == pytest.approx(1.6448536269514722 + Z80)


def test_events_needed_is_the_first_count_reaching_power() -> None:
    se, n, effect = 0.02, 50, 0.01
    m = events_needed(effect, se, n)
    assert power_from_se(effect, se * math.sqrt(n / m)) >= 0.8
    assert power_from_se(effect, se * math.sqrt(n / (m - 1))) < 0.8
    # (z sum)^2 * n * (se/effect)^2 = 7.849 * 50 * 4 = 1569.8 -> 1570 (the far tail does not change it)
    assert m == 1570
    assert events_needed(0.0, se, n) == math.inf
    assert events_needed(-0.01, se, n, two_sided=False) == math.inf
    assert events_needed(-0.01, se, n) == m


def test_power_curve_grid() -> None:
    curve = power_curve(0.01, 42, effects=[0.0, 0.01, 0.02], ns=[42, 168])
    assert curve.columns == ["events", "effect", "se", "power"]
    assert curve["events"].to_list() == [42, 42, 42, 168, 168, 168]
    np.testing.assert_allclose(curve["se"].to_numpy(), [0.01] * 3 + [0.005] * 3)
    assert curve["power"][0] == pytest.approx(0.05)
    assert curve["power"][1] == pytest.approx(power_from_se(0.01, 0.01))
    assert curve["power"][4] == pytest.approx(power_from_se(0.01, 0.005))
    with_t = power_curve(0.01, 42, effects=[0.01], df=41)
    assert with_t["power"][0] == pytest.approx(power_from_se(0.01, 0.01, df=41))
    assert power_curve(0.01, 42, effects=[0.01]).height == 1


def test_exact_pvalues_match_scipy_binomtest() -> None:
    for n, p0 in ((1, 0.5), (7, 0.5), (20, 0.3), (42, 0.5), (33, 0.71)):
        for alt in ("two-sided", "greater", "less"):
            got = lp._exact_pvalues(n, p0, alt)  # type: ignore[arg-type]
            want = [sps.binomtest(k, n, p0, alternative=alt).pvalue for k in range(n + 1)]
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ConfigError):
        power_from_se(0.01, 0.0)
    with pytest.raises(ConfigError):
        mde_from_se(0.01, power=0.01)
    with pytest.raises(ConfigError):
        events_needed(0.01, 0.01, 0)
    with pytest.raises(ConfigError):
        power_curve(0.01, 42, effects=[0.01], ns=[0])
    with pytest.raises(ConfigError):
        n_for_proportion_exact(0.55, n_max=100)
