"""Risk: VaR/CVaR by method on hand series, coverage tests by hand and against published regions,
rolling VaR without look-ahead, stress windows."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from earnest.backtest import risk
from earnest.backtest.risk import (
    STRESS_WINDOWS,
    StressWindow,
    bootstrap_var,
    christoffersen,
    historical_var,
    kupiec_pof,
    risk_report,
    rolling_var_backtest,
    stress_test,
)
from earnest.core.errors import DataError

TEN = [-0.05, -0.04, -0.03, -0.02, -0.01, 0.0, 0.01, 0.02, 0.03, 0.04]


# --- historical -------------------------------------------------------------------------------


def test_historical_var_on_a_hand_series() -> None:
    # 10% quantile, linear: position 0.9 between -0.05 and -0.04 -> -0.041; tail at or below: -0.05
    v = historical_var(TEN, confidence=0.90)
    assert (v.method, v.confidence, v.horizon_days, v.n_obs) == ("historical", 0.90, 1, 10)
    assert v.var == pytest.approx(0.041)
    assert v.cvar == pytest.approx(0.05)
    # 20% quantile: position 1.8 -> -0.032; tail -0.05, -0.04 -> CVaR 0.045
    v = historical_var(TEN, confidence=0.80)
    assert (v.var, v.cvar) == pytest.approx((0.032, 0.045))


def test_historical_var_over_a_horizon_compounds_overlapping_windows() -> None:
    # two-day returns: 1.1 * 0.9 - 1 = -0.01 and 0.9 * 1.1 - 1 = -0.01
    v = historical_var([0.1, -0.1, 0.1], confidence=0.95, horizon_days=2)
    assert v.var == pytest.approx(0.01)
    assert v.horizon_days == 2


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"confidence": 1.0}, "confidence"), ({"horizon_days": 11}, "horizon_days")]
)
def test_historical_var_rejects_bad_options(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(DataError) as err:
        historical_var(TEN, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


# --- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_var_is_labelled_and_deterministic_for_a_seed() -> None:
    r = np.random.default_rng(0).normal(0.0, 0.01, 500)
    a = bootstrap_var(r, confidence=[0.95, 0.99], n_paths=2000, block_size=5, seed=7)
    b = bootstrap_var(r, confidence=[0.95, 0.99], n_paths=2000, block_size=5, seed=7)
    c = bootstrap_var(r, confidence=[0.95, 0.99], n_paths=2000, block_size=5, seed=8)
    assert a == b
    assert a != c
    assert [x.confidence for x in a] == [0.95, 0.99]
    first = a[0]
    assert (first.method, first.n_paths, first.block_size, first.seed, first.n_obs) == (
        "stationary_bootstrap",
        2000,
        5.0,
        7,
        500,
    )
    circ = bootstrap_var(r, method="circular", n_paths=500, block_size=2.5, seed=1)[0]
    assert (circ.method, circ.block_size) == ("circular_block_bootstrap", 3.0)


def test_bootstrap_var_is_near_historical_on_iid_data() -> None:
    r = np.random.default_rng(1).normal(0.0, 0.01, 3000)
    hist = historical_var(r, confidence=0.95)
    for method in ("stationary", "circular"):
        boot = bootstrap_var(r, confidence=0.95, n_paths=20_000, method=method, seed=2)[0]  # type: ignore[arg-type]
        assert boot.var == pytest.approx(hist.var, rel=0.05)
        assert boot.cvar == pytest.approx(hist.cvar, rel=0.05)
        assert boot.block_size is not None
        assert boot.block_size >= 1.0  # Politis-White on iid data: short blocks


def test_bootstrap_var_over_ten_days_scales_like_sqrt_time_on_iid_data() -> None:
    r = np.random.default_rng(2).normal(0.0, 0.01, 2500)
    boot = bootstrap_var(r, confidence=0.99, horizon_days=10, n_paths=10_000, block_size=1, seed=3)[0]
    # iid normal: 10-day 99% VaR ~ 2.326 * 0.01 * sqrt(10) = 0.0736
    assert boot.var == pytest.approx(2.326 * 0.01 * math.sqrt(10), rel=0.08)
    assert boot.horizon_days == 10


def test_bootstrap_var_rejects_bad_options() -> None:
    with pytest.raises(DataError):
        bootstrap_var(TEN, n_paths=10)
    with pytest.raises(DataError):
        bootstrap_var(TEN, method="iid")  # type: ignore[arg-type]
    with pytest.raises(DataError):
        bootstrap_var(TEN, block_size=0.5)


# --- coverage tests ---------------------------------------------------------------------------


def test_kupiec_by_hand() -> None:
    # n=250, x=5, p=0.01: LR = -2[245 ln .99 + 5 ln .01] + 2[245 ln .98 + 5 ln .02]
    #   = 50.97636 - 49.01955 = 1.95681; chi2(1) tail 0.16185
    t = kupiec_pof([1] * 5 + [0] * 245, confidence=0.99)
    assert (t.name, t.df) == ("kupiec_pof", 1)
    assert t.statistic == pytest.approx(1.95681, abs=1e-4)
    assert t.p_value == pytest.approx(0.16185, abs=1e-4)
    # no exceedance at all: LR = -2 * 250 ln 0.99 = 5.02517
    assert kupiec_pof(np.zeros(250, dtype=bool), confidence=0.99).statistic == pytest.approx(
        5.02517, abs=1e-4
    )
    # exactly the expected count: LR = 0, p = 1
    assert kupiec_pof([1] * 5 + [0] * 95, confidence=0.95).p_value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("confidence", "n", "low", "high"),
    [
        (0.99, 510, 1, 11),
        (0.99, 1000, 4, 17),
        (0.975, 255, 2, 12),
        (0.95, 255, 6, 21),
        (0.95, 510, 16, 36),
        (0.95, 1000, 37, 65),
    ],
)
def test_kupiec_matches_published_non_rejection_regions(
    confidence: float, n: int, low: int, high: int
) -> None:
    # Kupiec (1995) 5%-level non-rejection regions low < x < high, as tabulated in Jorion, Value at Risk
    def accepted(x: int) -> bool:
        return kupiec_pof([1] * x + [0] * (n - x), confidence=confidence).p_value > 0.05

    assert not accepted(low)
    assert accepted(low + 1)
    assert accepted(high - 1)
    assert not accepted(high)


def test_christoffersen_by_hand_no_clustering() -> None:
    # transitions of 0011000100: n00=4, n01=2, n10=2, n11=1 -> pi01 = pi11 = pi = 1/3 -> LR_ind = 0
    ind, cc = christoffersen([0, 0, 1, 1, 0, 0, 0, 1, 0, 0], confidence=0.90)
    assert ind.statistic == 0.0
    assert ind.p_value == pytest.approx(1.0)
    # LR_cc = LR_uc(n=10, x=3, p=0.1) = -2[7 ln .9 + 3 ln .1] + 2[7 ln .7 + 3 ln .3] = 3.07327
    assert (cc.df, cc.statistic) == (2, pytest.approx(3.07327, abs=1e-4))


def test_christoffersen_by_hand_clustered() -> None:
    # 0000111000: n00=5, n01=1, n10=1, n11=2; pi01=1/6, pi11=2/3, pi=1/3
    # ln L0 = 6 ln(2/3) + 3 ln(1/3) = -5.728627; ln L1 = 5 ln(5/6) + ln(1/6) + ln(1/3) + 2 ln(2/3) = -4.612910
    ind, cc = christoffersen(np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0], dtype=bool), confidence=0.90)
    assert ind.name == "christoffersen_independence"
    assert ind.statistic == pytest.approx(2 * (5.728627 - 4.612910), abs=1e-5)
    assert cc.statistic == pytest.approx(ind.statistic + 3.07327, abs=1e-4)
    assert cc.p_value == pytest.approx(math.exp(-cc.statistic / 2))  # chi2(2) tail


def test_coverage_tests_reject_non_binary_series() -> None:
    with pytest.raises(DataError) as err:
        kupiec_pof([0, 2, 1], confidence=0.99)
    assert err.value.field == "exceedances"


def test_rolling_var_uses_only_the_trailing_window() -> None:
    rng = np.random.default_rng(4)
    r = rng.normal(0.0, 0.01, 80)
    r[60] = -0.2  # a crash: exceeds any VaR fitted on the 30 days before it
    bt = rolling_var_backtest(r, window=30, confidence=0.95)
    assert bt.n_days == 50
    assert bt.var.shape == (50,)
    for k in (0, 17, 30, 49):
        assert bt.var[k] == pytest.approx(historical_var(r[k : k + 30], confidence=0.95).var)
    np.testing.assert_array_equal(bt.exceedances, r[30:] < -bt.var)
    assert bt.exceedances[30]
    assert bt.n_exceedances == int(bt.exceedances.sum())
    assert bt.expected_exceedances == pytest.approx(2.5)
    assert bt.kupiec.statistic == pytest.approx(kupiec_pof(bt.exceedances, confidence=0.95).statistic)
    # the crash does not change any VaR fitted before it (no look-ahead)
    r2 = r.copy()
    r2[60] = 0.0
    np.testing.assert_array_equal(rolling_var_backtest(r2, window=30, confidence=0.95).var[:31], bt.var[:31])


def test_rolling_var_needs_a_long_enough_series() -> None:
    with pytest.raises(DataError) as err:
        rolling_var_backtest(np.zeros(30), window=30)
    assert err.value.field == "window"


# --- stress windows ---------------------------------------------------------------------------


def _covid_series() -> tuple[list[dt.date], np.ndarray]:
    dates: list[dt.date] = []
    day = dt.date(2019, 12, 2)
    while day <= dt.date(2020, 4, 30):
        if day.weekday() < 5:
            dates.append(day)
        day += dt.timedelta(days=1)
    r = np.zeros(len(dates))
    for when, value in (
        (dt.date(2020, 3, 9), -0.05),
        (dt.date(2020, 3, 12), -0.08),
        (dt.date(2020, 3, 16), 0.02),
    ):
        r[dates.index(when)] = value
    r[dates.index(dt.date(2020, 4, 1))] = -0.5  # outside the window: must not count
    return dates, r


def test_stress_window_figures_only_when_covered() -> None:
    dates, r = _covid_series()
    results = {s.name: s for s in stress_test(r, dates)}
    assert set(results) == {w.name for w in STRESS_WINDOWS}
    assert not results["GFC 2008"].covered
    assert results["GFC 2008"].total_return is None
    assert not results["Demonetisation 2016"].covered
    covid = results["COVID crash 2020"]
    assert covid.covered
    assert (covid.start, covid.end) == (dt.date(2020, 2, 19), dt.date(2020, 3, 23))
    assert covid.n_obs == 24  # weekdays 19 Feb .. 23 Mar 2020
    assert covid.total_return == pytest.approx(0.95 * 0.92 * 1.02 - 1)
    assert covid.max_drawdown == pytest.approx(0.95 * 0.92 - 1)  # capital at the start is the first peak
    assert (covid.worst_day, covid.worst_day_return) == (dt.date(2020, 3, 12), pytest.approx(-0.08))
    d = json.loads(json.dumps(covid.to_dict()))
    assert d["worst_day"] == "2020-03-12"


def test_a_partly_covered_window_is_not_covered() -> None:
    dates, r = _covid_series()
    cut = dates.index(dt.date(2020, 3, 2))
    short = stress_test(
        r[:cut], dates[:cut], windows=[w for w in STRESS_WINDOWS if w.name.startswith("COVID")]
    )
    assert [s.covered for s in short] == [False]
    custom = StressWindow("my window", dt.date(2020, 1, 6), dt.date(2020, 1, 10), "a test window")
    [mine] = stress_test(r, pl.Series(dates), windows=[custom])
    assert (mine.covered, mine.n_obs, mine.total_return) == (True, 5, 0.0)


def test_stress_dates_must_align_and_increase() -> None:
    with pytest.raises(DataError):
        stress_test([0.01, 0.02], [dt.date(2020, 1, 2)])
    with pytest.raises(DataError):
        stress_test([0.01, 0.02], [dt.date(2020, 1, 2), dt.date(2020, 1, 2)])


# --- one call ---------------------------------------------------------------------------------


def test_risk_report_names_every_method_and_serialises() -> None:
    dates, r = _covid_series()
    rng = np.random.default_rng(5)
    r = r + rng.normal(0.0, 0.01, r.size)
    rep = risk_report(r, dates=dates, n_paths=1000, backtest_window=40)
    methods = {(v.method, v.confidence) for v in rep.var}
    assert methods == {
        (m, c)
        for m in ("historical", "stationary_bootstrap", "circular_block_bootstrap")
        for c in (0.95, 0.99)
    }
    assert [b.confidence for b in rep.backtests] == [0.95, 0.99]
    assert len(rep.stress) == 3
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["backtests"][0]["kupiec"]["df"] == 1
    assert risk_report(r[:50], n_paths=200).backtests == []  # too short for a 250-day window


def test_public_surface() -> None:
    for name in risk.__all__:
        assert hasattr(risk, name)


@pytest.mark.filterwarnings("error")
def test_bootstrap_of_a_constant_series_uses_single_day_blocks() -> None:
    [v] = bootstrap_var(np.full(60, 0.01), confidence=0.95, n_paths=200, seed=0)
    assert v.block_size == 1.0
    assert v.var == pytest.approx(-0.01)  # the 5% quantile is a 1% gain
    assert v.cvar == pytest.approx(-0.01)


def test_stress_windows_on_real_nifty_closes(shared_data: Path) -> None:
    # NIFTY 50 daily closes 2000-01-03 .. 2019-12-02 (index_daily_yahoo): covers 2008 and 2016, not 2020
    bars = pl.read_csv(shared_data / "index_daily_yahoo" / "NIFTY 50.csv").select(
        pl.col("Date").str.to_date(), "Close"
    )
    close = dict(zip(bars["Date"].to_list(), bars["Close"].to_list(), strict=True))
    returns = bars["Close"].pct_change().to_numpy()[1:]
    results = {s.name: s for s in stress_test(returns, bars["Date"][1:])}
    gfc, demo, covid = results["GFC 2008"], results["Demonetisation 2016"], results["COVID crash 2020"]
    assert not covid.covered
    # a window's return runs from the close before its first session to its last close
    assert gfc.total_return == pytest.approx(close[dt.date(2009, 3, 31)] / close[dt.date(2007, 12, 31)] - 1)
    assert demo.total_return == pytest.approx(close[dt.date(2016, 12, 30)] / close[dt.date(2016, 11, 8)] - 1)
    # the 2008 drawdown: 6287.85 (8 Jan 2008) to 2524.20 (27 Oct 2008)
    assert gfc.max_drawdown == pytest.approx(2524.20 / 6287.85 - 1, abs=1e-9)
    assert gfc.worst_day == dt.date(2008, 10, 24)
