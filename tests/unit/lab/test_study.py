"""run_study end to end on the simulated market: a planted effect is found, costs are charged,
baselines are reported, and a null market gives no edge."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from earnest.core.calendar import nse_calendar
from earnest.lab.spec import hypothesis_from_dict
from earnest.lab.study import StudyData, run_study, trial_rows, with_adjusted_p
from earnest.lab.verdict import EDGE
from earnest.simulate.labmarket import simulate_lab_market


def _data(planted: float, seed: int = 3) -> StudyData:
    m = simulate_lab_market(
        n_symbols=150,
        n_sessions=1000,
        seed=seed,
        planted_car=planted,
        planted_days=5,
        planted_min_pat_yoy=0.2,
    )
    return StudyData(m.events, m.bars, m.index_bars, nse_calendar(), data_hash=f"sim-{seed}-{planted}")


def _h(**over: Any) -> Any:
    spec: dict[str, Any] = {
        "name": "sim",
        "horizons": [5],
        "outcome": "abnormal",
        "period": {"start": "2011-09-01", "end": "2014-10-01"},
        "event": {"type": "results", "selector": "pat_yoy > 0.2"},
        "stats": {"min_effect": 0.005},
    }
    for key, value in over.items():
        if isinstance(value, dict):
            spec[key] = {**spec.get(key, {}), **value}
        else:
            spec[key] = value
    return hypothesis_from_dict(spec)


@pytest.fixture(scope="module")
def planted() -> StudyData:
    return _data(0.03)


def test_a_planted_abnormal_return_is_recovered_and_beats_every_baseline(planted: StudyData) -> None:
    study = run_study(_h(), planted)
    (v,) = study.variants
    cost = study.hypothesis.costs.round_trip_bps / 1e4
    truth = np.expm1(0.03) - cost  # planted log CAR over the 5 sessions, net of the round trip
    assert v.estimate.ci_low <= truth <= v.estimate.ci_high
    assert v.verdict.label == EDGE
    assert {b.name for b in v.baselines} == {"every_event", "random_dates"}  # index: zero by construction
    assert study.counts.selected < study.counts.in_scope <= study.counts.of_type
    assert v.tests is not None
    assert v.tests.n_events == v.estimate.n
    assert study.receipt.data_hash == planted.data_hash


def test_costs_lower_every_outcome_by_exactly_the_round_trip(planted: StudyData) -> None:
    on = run_study(_h(), planted).variants[0]
    off = run_study(_h(costs={"enabled": False}), planted).variants[0]
    rt = _h().costs.round_trip_bps / 1e4
    assert off.estimate.mean - on.estimate.mean == pytest.approx(rt, abs=1e-12)
    for b_on, b_off in zip(on.baselines, off.baselines, strict=True):
        assert b_off.estimate.mean - b_on.estimate.mean == pytest.approx(rt, abs=1e-12)


def test_the_same_spec_on_the_same_data_gives_the_same_numbers(planted: StudyData) -> None:
    a, b = run_study(_h(), planted), run_study(_h(), planted)
    assert a.summary().equals(b.summary())
    assert a.receipt.config_hash == b.receipt.config_hash
    assert [r["trial_key"] for r in trial_rows(a)] == [r["trial_key"] for r in trial_rows(b)]


def test_without_a_selector_the_every_event_baseline_is_left_out_and_said_so(planted: StudyData) -> None:
    study = run_study(_h(event={"selector": None}), planted)
    assert all(b.name != "every_event" for b in study.variants[0].baselines)
    assert any("no selector" in w for w in study.warnings)


def test_many_trials_in_the_ledger_can_take_an_edge_away(planted: StudyData) -> None:
    study = run_study(_h(stats={"min_effect": 0.005}), planted)
    key = study.variants[0].key
    weak = with_adjusted_p(study, {key: 0.2}, 40)  # as if BH over 40 trials left p = 0.2
    assert weak.variants[0].verdict.label != EDGE
    assert weak.variants[0].n_trials == 40
    assert "over 40 trial(s)" in weak.variants[0].verdict.reasons[0]


def test_a_null_market_shows_no_edge() -> None:
    study = run_study(_h(horizons=[1, 5, 10]), _data(0.0, seed=11))
    assert all(v.verdict.label != EDGE for v in study.variants)


def test_win_outcome_reports_the_exact_binomial_next_to_the_clustered_estimate(planted: StudyData) -> None:
    study = run_study(_h(outcome="win", stats={"min_effect": 0.55}), planted)
    (v,) = study.variants
    assert v.binomial is not None
    assert v.binomial.n == v.estimate.n
    assert v.binomial.win_rate == pytest.approx(v.estimate.mean)
    assert v.null_value == 0.5
    assert any("Clopper-Pearson" in r for r in v.verdict.reasons)


def test_period_bounds_are_inclusive_in_india_time(planted: StudyData) -> None:
    study = run_study(_h(), planted)
    ev = planted.events
    days = ev.get_column("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    inside = ((days >= dt.date(2011, 9, 1)) & (days <= dt.date(2014, 10, 1))).sum()
    assert study.counts.in_scope == inside
