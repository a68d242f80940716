"""The verdict rules, on hand-made estimates: EDGE, NO EDGE (two ways) and INCONCLUSIVE."""

from __future__ import annotations

import math

import pytest

from earnest.lab.spec import hypothesis_from_dict
from earnest.lab.stats import MeanEstimate
from earnest.lab.verdict import EDGE, INCONCLUSIVE, NO_EDGE, decide

H = hypothesis_from_dict(
    {
        "name": "t",
        "period": {"start": "2020-01-01", "end": "2021-01-01"},
        "event": {"type": "results"},
        "stats": {"min_effect": 0.005, "alpha": 0.05},
    }
)


def est(mean: float, se: float, n: int = 400) -> MeanEstimate:
    """A normal-theory estimate: CI = mean ± 1.96 se, p from z."""
    from scipy import stats

    z = mean / se
    return MeanEstimate(
        mean,
        se,
        mean - 1.96 * se,
        mean + 1.96 * se,
        z,
        math.inf,
        float(2 * stats.norm.sf(abs(z))),
        n,
        n,
        "iid",
    )


def call(e: MeanEstimate, baselines: list[tuple[str, MeanEstimate]], p_adj: float, power: float = 0.9):
    return decide(
        H, estimate=e, null_value=0.0, baselines=baselines, power=power, events_needed=500.0,
        years_needed=4.0, p_adjusted=p_adj, n_trials=3,
    )  # fmt: skip


def test_edge_needs_significance_a_tradable_size_and_a_beaten_baseline() -> None:
    # mean 2%, se 0.4%: z = 5; best baseline 0.5% with se 0.3%: diff 1.5%, se 0.5%, CI low 0.52% > 0
    v = call(est(0.02, 0.004), [("every_event", est(0.005, 0.003)), ("random_dates", est(0.0, 0.003))], 1e-6)
    assert v.label == EDGE
    assert v.best_baseline == "every_event"
    assert v.diff_vs_best == pytest.approx(0.015)
    assert v.diff_ci_low == pytest.approx(0.015 - 1.959964 * 0.005, abs=1e-6)


def test_significant_but_adjusted_p_too_large_is_not_an_edge() -> None:
    v = call(est(0.02, 0.004), [("every_event", est(0.005, 0.003))], 0.06)
    assert v.label == INCONCLUSIVE


def test_no_edge_when_the_whole_ci_is_below_the_smallest_effect() -> None:
    # CI = [0.1% - 0.196%, 0.1% + 0.196%] = [-0.096%, 0.296%] < 0.5%
    v = call(est(0.001, 0.001), [("random_dates", est(0.0, 0.001))], 0.3)
    assert v.label == NO_EDGE
    assert "smallest effect worth trading" in v.reasons[-1]


def test_no_edge_when_the_gain_over_the_baseline_cannot_reach_the_smallest_effect() -> None:
    # hypothesis 2% (se 0.1%), baseline 1.9% (se 0.1%): gain CI top = 0.1% + 1.96 * 0.1414% = 0.377% < 0.5%
    v = call(est(0.02, 0.001), [("every_event", est(0.019, 0.001))], 1e-9)
    assert v.label == NO_EDGE
    assert "no edge beyond the baseline" in v.reasons[-1]


def test_inconclusive_says_how_many_events_and_years_are_needed() -> None:
    v = call(est(0.004, 0.004), [("random_dates", est(0.0, 0.004))], 0.4, power=0.2)
    assert v.label == INCONCLUSIVE
    assert "500 events needed" in v.reasons[-1]
    assert "4.0 years" in v.reasons[-1]


def test_significant_and_beating_the_baseline_but_too_small_to_trade_is_inconclusive() -> None:
    # mean 0.4% (< 0.5%), se 0.1%: significant; baseline 0 ± 0.1%: beaten; CI top 0.596% >= 0.5%
    v = call(est(0.004, 0.001), [("random_dates", est(0.0, 0.001))], 1e-4)
    assert v.label == INCONCLUSIVE
    assert any("below +0.50%" in r for r in v.reasons)


def test_too_few_events_is_inconclusive_without_a_test() -> None:
    e = MeanEstimate(math.nan, math.nan, math.nan, math.nan, math.nan, 0.0, math.nan, 1, 1, "iid")
    assert call(e, [], math.nan).label == INCONCLUSIVE


def test_well_powered_but_not_significant_says_the_effect_is_probably_smaller() -> None:
    # mean 0.3% (se 0.15%): CI top 0.594% >= 0.5%, not NO EDGE; power 0.95 but adjusted p 0.06
    v = call(est(0.003, 0.0015), [("random_dates", est(0.0, 0.001))], 0.06, power=0.95)
    assert v.label == INCONCLUSIVE
    assert "probably smaller" in v.reasons[-1]
