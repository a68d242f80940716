"""Performance metrics: REFERENCES.md section 6 conventions by hand, section 4 published examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from earnest.backtest import perf
from earnest.backtest.perf import (
    annual_volatility,
    cagr,
    calmar,
    deflated_sharpe,
    drawdown,
    expected_max_sharpe,
    exposure,
    hit_rate,
    max_drawdown,
    min_btl,
    min_trl,
    moments,
    psr,
    sharpe,
    sortino,
    summarise,
    turnover,
)
from earnest.core.errors import DataError

# mean 0.005; deviations .005 -.015 .015 -.005 -> sum of squares 5e-4; sd(ddof=1) = sqrt(5e-4 / 3)
R4 = [0.01, -0.01, 0.02, 0.0]


# --- section 6 conventions --------------------------------------------------------------------


def test_sharpe_uses_ddof_1_and_sqrt_252() -> None:
    # per period 0.005 / sqrt(5e-4/3) = sqrt(0.15); annualised sqrt(0.15 * 252) = sqrt(37.8)
    assert sharpe(R4) == pytest.approx(math.sqrt(37.8), rel=1e-12)
    assert sharpe(R4, periods_per_year=1) == pytest.approx(math.sqrt(0.15), rel=1e-12)
    assert sharpe(pl.Series(R4)) == pytest.approx(math.sqrt(37.8), rel=1e-12)


def test_volatility_ddof_1() -> None:
    assert annual_volatility(R4) == pytest.approx(math.sqrt(5e-4 / 3 * 252), rel=1e-12)


def test_sortino_downside_deviation_over_all_observations() -> None:
    # downside: only -0.01, but averaged over all 4 -> sqrt(1e-4 / 4) = 0.005 = the mean:
    # Sortino = sqrt(252). Averaging over the losing days only would give sqrt(252) / 2.
    assert sortino(R4) == pytest.approx(math.sqrt(252), rel=1e-12)


def test_sortino_without_downside_is_nan() -> None:
    assert math.isnan(sortino([0.01, 0.02]))


def test_max_drawdown_counts_initial_capital_as_peak() -> None:
    assert max_drawdown([-0.10, 0.05]) == pytest.approx(-0.10)
    # wealth 1.1, 0.88, 0.924: the peak is 1.1, the trough 0.88 -> -20 %
    assert max_drawdown([0.10, -0.20, 0.05]) == pytest.approx(-0.20)
    assert max_drawdown([0.01, 0.02]) == 0.0
    assert max_drawdown([-1.0, 0.5]) == -1.0
    np.testing.assert_allclose(drawdown([0.10, -0.20, 0.05]), [0.0, -0.20, 0.924 / 1.1 - 1.0])


def test_cagr_compounds() -> None:
    assert cagr([0.10, 0.10], periods_per_year=2) == pytest.approx(0.21)  # one year
    assert cagr([0.10, 0.10], periods_per_year=1) == pytest.approx(0.10)  # two years
    assert cagr([-1.0, 0.2]) == -1.0


def test_calmar_is_cagr_over_drawdown() -> None:
    # one year (3 periods): growth 0.924 -> CAGR -0.076, MDD -0.2 -> -0.38
    assert calmar([0.10, -0.20, 0.05], periods_per_year=3) == pytest.approx(-0.38)
    assert math.isnan(calmar([0.01, 0.02]))


def test_hit_rate_ignores_flat_periods() -> None:
    assert hit_rate([0.01, 0.0, -0.02, 0.03]) == pytest.approx(2 / 3)
    assert math.isnan(hit_rate([0.0, 0.0]))


def test_turnover_and_exposure() -> None:
    assert turnover([0.1, 0.3]) == pytest.approx(0.2 * 252)
    assert exposure([0.0, 0.5, -1.0, 1.0]) == pytest.approx((0.625, 0.75))
    with pytest.raises(DataError):
        turnover([0.1, -0.1])


@pytest.mark.parametrize("bad", [[], [0.1, math.nan], [0.1, -1.5], [[0.1, 0.2]], ["x"]])
def test_bad_returns_raise_data_error(bad: object) -> None:
    with pytest.raises(DataError) as err:
        sharpe(bad)  # type: ignore[arg-type]
    assert err.value.field == "returns"
    assert err.value.remedy


# --- section 4 published examples ---------------------------------------------------------------


def test_psr_paper_example() -> None:
    # Sharpe Ratio Efficient Frontier (2012): monthly SR 1.585/sqrt(12), T=24, skew -2.448, kurt 10.164
    value = psr(1.585 / math.sqrt(12), 0.0, n_obs=24, skew=-2.448, kurt=10.164)
    assert value == pytest.approx(0.913234, abs=5e-7)
    assert value == pytest.approx(0.91323430688486018, rel=1e-12)  # pypbo's assertion


def test_psr_with_excess_kurtosis_is_a_different_number() -> None:
    # the classic bug (excess kurtosis 7.164 instead of Pearson 10.164) moves PSR visibly
    wrong = psr(1.585 / math.sqrt(12), 0.0, n_obs=24, skew=-2.448, kurt=7.164)
    assert abs(wrong - 0.913234) > 1e-3


@pytest.mark.parametrize(
    ("n", "expected", "tol"), [(100, 2.5306029, 5e-8), (10, 1.5746, 5e-5), (1000, 3.2551, 5e-5)]
)
def test_expected_max_sharpe(n: int, expected: float, tol: float) -> None:
    assert expected_max_sharpe(n) == pytest.approx(expected, abs=tol)


def test_expected_max_sharpe_scales_with_sqrt_variance_and_one_trial_is_zero() -> None:
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * 2.5306029, abs=1e-7)
    assert expected_max_sharpe(1, 1.0) == 0.0


def _dsr_paper(*, days: int = 250, ddof: int = 1) -> float:
    # The Deflated Sharpe Ratio (2014): SR 2.5 and V[SR] 0.5 annualised, T 1250, N 100, skew -3, kurt 10
    return deflated_sharpe(
        2.5 / math.sqrt(days), n_trials=100, var_trials_sr=0.5 / days, n_obs=1250, skew=-3, kurt=10, ddof=ddof
    )


def test_dsr_paper_example_and_sensitivities() -> None:
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(0.113172, abs=5e-7)
    assert expected_max_sharpe(100, 0.5 / 250) * math.sqrt(250) == pytest.approx(1.7894, abs=5e-5)
    assert _dsr_paper() == pytest.approx(0.900397, abs=5e-7)
    assert _dsr_paper() == pytest.approx(0.90039683444939034, rel=1e-12)  # pypbo's assertion
    assert _dsr_paper(ddof=0) == pytest.approx(0.90049, abs=5e-6)  # sqrt(T) instead of sqrt(T-1)
    assert _dsr_paper(days=252) == pytest.approx(0.89967, abs=5e-6)


def test_dsr_z_statistic() -> None:
    # z = 1.28382 in the paper: Phi^-1(DSR)
    from scipy import stats

    assert stats.norm.ppf(_dsr_paper()) == pytest.approx(1.28382, abs=5e-6)


def test_min_trl_paper_figure_8() -> None:
    daily = min_trl(2 / math.sqrt(250), 1 / math.sqrt(250), prob=0.95) / 250
    weekly = min_trl(2 / math.sqrt(52), 1 / math.sqrt(52), prob=0.95) / 52
    monthly = min_trl(3 / math.sqrt(12), 2.5 / math.sqrt(12), skew=-0.72, kurt=5.78, prob=0.95) / 12
    assert daily == pytest.approx(2.7312, abs=5e-5)
    assert weekly == pytest.approx(2.8288, abs=5e-5)
    assert monthly == pytest.approx(27.353, abs=5e-4)
    assert min_trl(0.1, 0.1) == math.inf


def test_min_btl_paper_example() -> None:
    years, upper = min_btl(45, sr=1.0)
    assert years == pytest.approx(4.998, abs=5e-4)
    assert upper == pytest.approx(7.613, abs=5e-4)
    assert upper == pytest.approx(2 * math.log(45))


def test_psr_refuses_a_non_positive_variance_factor() -> None:
    # 1 - 0 * 1 + (kurt - 1)/4 * 1 = 0 for kurt = -3: only an excess kurtosis mistake gets here
    with pytest.raises(DataError) as err:
        psr(1.0, n_obs=10, kurt=-3.0)
    assert "Pearson" in err.value.remedy


def test_moments_follow_pandas_adjusted_estimators() -> None:
    r = np.random.default_rng(3).standard_t(5, 300) * 0.01
    sr, skew, kurt, n = moments(r)
    s = pd.Series(r)
    assert n == 300
    assert sr == pytest.approx(s.mean() / s.std(ddof=1), rel=1e-12)
    assert skew == pytest.approx(s.skew(), rel=1e-10)
    assert kurt == pytest.approx(s.kurt() + 3.0, rel=1e-10)


def test_deflated_sharpe_from_returns_equals_psr_against_sr0() -> None:
    r = np.random.default_rng(4).normal(0.001, 0.01, 500)
    sr, skew, kurt, n = moments(r)
    sr0 = expected_max_sharpe(20, 1e-3)
    expected = psr(sr, sr0, n_obs=n, skew=skew, kurt=kurt)
    assert deflated_sharpe(r, n_trials=20, var_trials_sr=1e-3) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(DataError):
        deflated_sharpe(0.1, n_trials=20, var_trials_sr=1e-3)  # an SR needs n_obs


# --- summary ----------------------------------------------------------------------------------


def test_summary_is_json_and_consistent() -> None:
    net = np.random.default_rng(5).normal(0.0008, 0.01, 400)
    s = summarise(net, gross=net + 0.001, turnover=np.full(400, 0.2), exposure=np.ones(400))
    d = json.loads(json.dumps(s.to_dict()))
    assert d["n_obs"] == 400
    assert d["sharpe"] == pytest.approx(sharpe(net))
    assert d["max_drawdown"] == pytest.approx(max_drawdown(net))
    assert d["cost_drag"] == pytest.approx(0.252)  # 0.1 % a day x 252
    assert d["turnover"] == pytest.approx(50.4)
    assert d["time_in_market"] == 1.0
    assert d["dsr"] is None  # no trials given
    sr, skew, kurt, n = moments(net)
    assert d["psr"] == pytest.approx(psr(sr, n_obs=n, skew=skew, kurt=kurt))
    assert d["min_trl_years"] == pytest.approx(min_trl(sr, skew=skew, kurt=kurt) / 252)


def test_summary_dsr_with_one_trial_is_psr_and_more_trials_lower_it() -> None:
    net = np.random.default_rng(6).normal(0.001, 0.01, 300)
    one = summarise(net, n_trials=1, var_trials_sr=1e-3)
    many = summarise(net, n_trials=50, var_trials_sr=1e-3)
    assert one.dsr == pytest.approx(one.psr)
    assert many.dsr is not None
    assert one.dsr is not None
    assert many.dsr < one.dsr
    assert many.expected_max_sharpe == pytest.approx(expected_max_sharpe(50, 1e-3) * math.sqrt(252))


def test_summary_of_a_flat_series_has_no_sharpe_statistics() -> None:
    d = summarise(np.zeros(10)).to_dict()
    assert d["sharpe"] is None
    assert d["psr"] is None
    assert d["max_drawdown"] == 0.0


def test_summary_rejects_misaligned_inputs() -> None:
    with pytest.raises(DataError) as err:
        summarise([0.01, 0.02, -0.01], gross=[0.01, 0.02])
    assert err.value.field == "gross"
    with pytest.raises(DataError):
        summarise([0.01, 0.02, -0.01], exposure=[1.0])


def test_public_surface() -> None:
    assert set(perf.__all__) >= {
        "psr",
        "deflated_sharpe",
        "min_trl",
        "min_btl",
        "summarise",
        "PerformanceSummary",
    }
    for name in perf.__all__:
        assert hasattr(perf, name)


def test_moments_of_a_constant_series_raise() -> None:
    with pytest.raises(DataError) as err:
        deflated_sharpe(np.full(20, 0.001), n_trials=5, var_trials_sr=1e-3)
    assert "constant" in err.value.message


def test_identical_returns_have_no_sharpe_and_zero_volatility() -> None:
    r = np.full(20, 0.001)  # np.std of these is ~1e-19, not 0
    assert math.isnan(sharpe(r))
    assert annual_volatility(r) == 0.0
