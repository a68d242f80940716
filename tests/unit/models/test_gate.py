"""The statistical promotion gate: a hand-checked example, planted skill passes, noise fails, the
ledger's Benjamini-Hochberg adjustment can turn a pass into a fail, and the null pass rate is near alpha."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from earnest.core.errors import DataError
from earnest.models.gate import GateResult, promotion_gate

# Four dates of three rows, labels 1, 2, 3 on each. Spearman of a permutation of (1, 2, 3) against
# them: identity 1, one adjacent swap 0.5, (2,3,1) or (3,1,2) -0.5, reversed -1.
_MODEL = [[1, 2, 3], [1, 2, 3], [2, 1, 3], [1, 2, 3]]  # rank IC 1, 1, 0.5, 1
_BASE = [[2, 1, 3], [2, 3, 1], [1, 3, 2], [3, 2, 1]]  # rank IC 0.5, -0.5, 0.5, -1


def _hand_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [d for d in range(4) for _ in range(3)],
            "label": [1.0, 2.0, 3.0] * 4,
            "score": [float(s) for row in _MODEL for s in row],
            "baseline_score": [float(s) for row in _BASE for s in row],
        }
    )


def _hand_p() -> float:
    # differences 0.5, 1.5, 0, 2: mean 1, residuals -.5, .5, -1, 1; NW with 0 lags and no small-sample
    # correction: se = sqrt(sum e^2) / n = sqrt(2.5) / 4
    t = 1.0 / (math.sqrt(2.5) / 4.0)
    return float(sps.norm.sf(t))


def test_hand_checked_example() -> None:
    result = promotion_gate(_hand_frame(), min_dates=4, lags=0)
    assert result.n_dates == 4
    assert result.effect == pytest.approx(1.0)
    assert result.t_stat == pytest.approx(4.0 / math.sqrt(2.5))
    assert result.p == pytest.approx(_hand_p())  # 0.0057
    assert result.rank_ic == pytest.approx(0.875)
    assert result.baseline_rank_ic == pytest.approx(-0.125)
    assert result.n_trials == 1
    assert result.p_adjusted == pytest.approx(result.p)
    assert result.passed
    assert result.failed() == ()


def test_ledger_family_is_bh_adjusted_by_hand() -> None:
    # family 0.01, 0.5, 0.9 plus the gate's 0.0057: BH sorted ranks 1..4 -> 0.0057*4, 0.01*4/2 = 0.02,
    # 0.5*4/3, 0.9; cumulative minimum from the top gives the gate min(0.0228, 0.02) = 0.02.
    result = promotion_gate(_hand_frame(), ledger_p=[0.01, 0.5, None, 0.9, math.nan], min_dates=4, lags=0)
    assert result.n_trials == 4
    assert result.p_adjusted == pytest.approx(0.02)
    assert result.passed


def test_big_ledger_family_flips_pass_to_fail() -> None:
    alone = promotion_gate(_hand_frame(), min_dates=4, lags=0)
    crowded = promotion_gate(_hand_frame(), ledger_p=[0.5] * 20, min_dates=4, lags=0)
    assert alone.passed
    assert not crowded.passed
    assert crowded.p == pytest.approx(alone.p)
    assert crowded.p_adjusted == pytest.approx(min(1.0, alone.p * 21))
    assert crowded.failed() == ("significance",)
    assert "21 tests" in crowded.reasons[0]


def test_too_few_dates_fails_even_with_a_strong_effect() -> None:
    result = promotion_gate(_hand_frame(), min_dates=5, lags=0)
    assert not result.passed
    assert result.failed() == ("min_dates",)
    assert "only 4 dates" in result.reasons[0]


def _market(seed: int, *, n_dates: int, n_names: int, skill: float, base_skill: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_dates, n_names))
    label = signal + rng.normal(size=signal.shape) * 2.0
    score = skill * signal + rng.normal(size=signal.shape)
    base = base_skill * signal + rng.normal(size=signal.shape)
    return pl.DataFrame(
        {
            "date": np.repeat(np.arange(n_dates), n_names),
            "label": label.ravel(),
            "score": score.ravel(),
            "baseline_score": base.ravel(),
        }
    )


def test_planted_skill_beats_a_weak_baseline() -> None:
    result = promotion_gate(_market(1, n_dates=60, n_names=30, skill=2.0, base_skill=0.1))
    assert result.passed, result.reasons
    assert result.effect > 0.1
    assert result.p_adjusted < 0.001
    assert result.n_dates == 60


def test_noise_model_fails_against_a_skilful_baseline() -> None:
    result = promotion_gate(_market(2, n_dates=60, n_names=30, skill=0.0, base_skill=2.0))
    assert not result.passed
    assert "beats_baseline" in result.failed()
    assert result.effect < 0


def test_binary_labels_work_too() -> None:
    frame = _market(3, n_dates=40, n_names=25, skill=2.0, base_skill=0.0)
    frame = frame.with_columns((pl.col("label") > 0).cast(pl.Float64).alias("label"))
    result = promotion_gate(frame)
    assert result.passed, result.reasons


def test_missing_column_is_named() -> None:
    with pytest.raises(DataError, match="baseline_score") as err:
        promotion_gate(_hand_frame().drop("baseline_score"))
    assert err.value.field == "baseline_score"


@pytest.mark.parametrize(("option", "value"), [("alpha", 0.0), ("alpha", 1.5), ("min_dates", 1)])
def test_bad_options_are_refused(option: str, value: float) -> None:
    with pytest.raises(DataError):
        promotion_gate(_hand_frame(), **{option: value})  # type: ignore[arg-type]


def test_result_round_trips_through_strict_json() -> None:
    result = promotion_gate(_hand_frame(), ledger_p=[0.3], min_dates=4, lags=0)
    text = result.to_json()
    again = GateResult.from_dict(json.loads(text))
    assert again == result


def test_nan_figures_become_null_in_json() -> None:
    one_date = _hand_frame().filter(pl.col("date") == 0)
    result = promotion_gate(one_date, min_dates=2)
    data = json.loads(result.to_json())
    assert not result.passed
    assert data["t_stat"] is None
    assert math.isnan(GateResult.from_dict(data).t_stat)


@pytest.mark.slow
def test_null_false_positive_rate_is_near_alpha() -> None:
    """200 markets where neither model nor baseline has skill: the raw one-sided p falls below 0.05
    in about 5 % of them (binomial sd 1.5 %), and the gate passes no more often than that."""
    p_below, passed = 0, 0
    for seed in range(200):
        result = promotion_gate(_market(seed, n_dates=40, n_names=20, skill=0.0, base_skill=0.0))
        p_below += result.p < 0.05
        passed += result.passed
    assert 2 <= p_below <= 20  # 1 % .. 10 %
    assert passed <= p_below


def test_ledger_frame_uses_its_raw_p_values() -> None:
    ledger = pl.DataFrame({"trial_key": ["a", "b", "c"], "p_value": [0.01, 0.5, None]})
    from_frame = promotion_gate(_hand_frame(), ledger_p=ledger, min_dates=4, lags=0)
    from_list = promotion_gate(_hand_frame(), ledger_p=[0.01, 0.5], min_dates=4, lags=0)
    assert from_frame == from_list
    with pytest.raises(DataError, match="p_value"):
        promotion_gate(_hand_frame(), ledger_p=ledger.drop("p_value"), min_dates=4)


def test_constant_positive_difference_has_p_zero() -> None:
    # model ranks every date perfectly (rank IC 1), the baseline exactly backwards (-1): the
    # difference is 2 on every date, with no variance, so the one-sided p-value is 0.
    frame = pl.DataFrame(
        {
            "date": [d for d in range(5) for _ in range(3)],
            "label": [1.0, 2.0, 3.0] * 5,
            "score": [1.0, 2.0, 3.0] * 5,
            "baseline_score": [3.0, 2.0, 1.0] * 5,
        }
    )
    result = promotion_gate(frame, min_dates=5)
    assert result.effect == pytest.approx(2.0)
    assert result.p == 0.0
    assert result.passed
