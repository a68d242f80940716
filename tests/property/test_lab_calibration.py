"""Calibration of the lab's primary test on simulated markets with known answers (issue 5, Done when).

Each run simulates a small market (150 stocks x 750 NSE sessions: about 1,600 results events a run,
clustered on the same dates in results seasons, with overlapping 5-session holding windows), builds
the event windows, fits the market model and estimates the mean CAR over 5 sessions with
:func:`earnest.lab.stats.clustered_mean`. With nothing planted the 5% test must reject in 3.5% to
6.5% of 1,000 runs; with a planted abnormal return its confidence interval must cover the truth in
about 95% of runs and the detection rate must be within 5 points of the power
:func:`earnest.lab.power.power_from_se` predicted from each run's standard error. The planted check
uses 800 runs, not the 400 the issue asks for at least: at 60% power a detection rate over 400 runs
has a binomial standard error of 2.4 points, so a perfectly calibrated test would miss a 5-point band
about one time in twenty; over 800 runs (1.7 points) the band is about three standard errors wide.

Seeds are fixed, so the outcome is deterministic: a failure means the statistics (or the windows)
changed, not bad luck.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from earnest.core.calendar import nse_calendar
from earnest.lab.power import power_from_se
from earnest.lab.stats import MeanEstimate, clustered_mean
from earnest.lab.windows import WindowSpec, car, event_windows, market_model
from earnest.simulate.labmarket import simulate_lab_market

pytestmark = pytest.mark.slow

SYMBOLS, SESSIONS = 150, 750
HORIZON = 5
ALPHA = 0.05
SPEC = WindowSpec(
    estimation_sessions=120, gap_sessions=10, event_sessions=HORIZON, min_estimation_sessions=60
)
TRUTH = 0.003
"""The planted mean CAR over the 5 sessions (0.06% a day): about 60% power with these markets."""
NULL_RUNS, PLANTED_RUNS = 1000, 800


def estimate(seed: int, planted: float) -> MeanEstimate:
    m = simulate_lab_market(
        n_symbols=SYMBOLS, n_sessions=SESSIONS, seed=seed, planted_car=planted, planted_days=HORIZON
    )
    w = event_windows(
        m.events,
        m.bars,
        m.index_bars,
        spec=SPEC,
        calendar=nse_calendar(),
        exclude_from_estimation=m.events,
    )
    w = market_model(w)
    values = car(w, HORIZON)
    ok = np.isfinite(values)
    return clustered_mean(values[ok], event_day=w.event_day[ok], horizon=HORIZON, alpha=ALPHA)


def test_null_false_positive_rate_is_nominal() -> None:
    p = np.array([estimate(seed, 0.0).p_value for seed in range(NULL_RUNS)])
    assert np.isfinite(p).all()
    rate = float((p < ALPHA).mean())
    assert 0.035 <= rate <= 0.065, f"false-positive rate {rate:.3f} over {NULL_RUNS} null runs"


def test_planted_effect_is_covered_and_detected_as_often_as_predicted() -> None:
    runs = [estimate(100_000 + seed, TRUTH) for seed in range(PLANTED_RUNS)]
    mean = np.array([r.mean for r in runs])
    covered = np.mean([r.ci_low <= TRUTH <= r.ci_high for r in runs])
    detected = np.mean([r.p_value < ALPHA for r in runs])
    predicted = np.mean([power_from_se(TRUTH, r.se, df=r.df, alpha=ALPHA) for r in runs])
    # the estimate is unbiased: its average is within 3 standard errors of the truth
    assert abs(mean.mean() - TRUTH) < 3 * mean.std() / math.sqrt(PLANTED_RUNS)
    assert 0.92 <= covered <= 0.98, f"CI coverage {covered:.3f}"
    assert 0.5 <= predicted <= 0.75, f"the effect should give moderate power, got {predicted:.3f}"
    assert abs(detected - predicted) <= 0.05, f"detected {detected:.3f} vs predicted power {predicted:.3f}"
