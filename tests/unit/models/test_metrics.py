"""Out-of-sample metrics against numbers worked out by hand (and a few against the libraries)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve  # type: ignore[import-untyped]

from earnest.core.errors import DataError
from earnest.models.metrics import (
    baseline_table,
    brier,
    calibration_table,
    default_nw_lags,
    f1_at,
    ic_by_date,
    ic_summary,
    log_loss,
    newey_west_mean,
    pr_auc,
    precision_at_k,
    roc_auc,
)

# --- classification ---------------------------------------------------------------------------


def test_roc_auc_counts_pairs() -> None:
    # positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of the 4 pairs are ordered right
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_counts_ties_as_half() -> None:
    # pairs: (0.2 vs 0.2) -> 1/2, (0.9 vs 0.2) -> 1
    assert roc_auc([0, 1, 1], [0.2, 0.2, 0.9]) == pytest.approx(0.75)


def test_roc_auc_undefined_for_one_class_or_constant_scores() -> None:
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.5, 0.9]))
    assert math.isnan(roc_auc([0, 1, 1], [0.5, 0.5, 0.5]))


def test_pr_auc_is_average_precision() -> None:
    # ranked: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg): precision 1 at recall 1/2, 2/3 at recall 1
    assert pr_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert math.isnan(pr_auc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(pr_auc([0, 1, 0], [0.3, 0.3, 0.3]))


def test_brier_and_log_loss_by_hand() -> None:
    y, p = [1, 0, 1, 0], [0.9, 0.2, 0.6, 0.5]
    assert brier(y, p) == pytest.approx((0.01 + 0.04 + 0.16 + 0.25) / 4)
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6) + math.log(0.5)) / 4
    assert log_loss(y, p) == pytest.approx(expected)


def test_log_loss_of_a_hard_wrong_prediction_is_clipped_not_infinite() -> None:
    value = log_loss([0, 1], [1.0, 1.0])
    assert value == pytest.approx(-math.log(np.finfo(np.float64).eps) / 2)


def test_f1_at_threshold() -> None:
    y, s = [1, 0, 1, 0], [0.9, 0.2, 0.6, 0.5]
    # >= 0.5 predicts rows 0, 2, 3: TP 2, FP 1, FN 0 -> 2*2 / (2*2 + 1 + 0)
    assert f1_at(y, s) == pytest.approx(0.8)
    # >= 0.7 predicts row 0 only: TP 1, FP 0, FN 1 -> 2*1 / (2*1 + 0 + 1)
    assert f1_at(y, s, threshold=0.7) == pytest.approx(2 / 3)
    assert f1_at(y, s, threshold=0.95) == 0.0
    assert math.isnan(f1_at([0, 0], [0.1, 0.2]))


def test_precision_at_k_per_date_then_averaged() -> None:
    dates = ["a", "a", "a", "b", "b", "b"]
    y = [1, 0, 1, 0, 1, 1]
    s = [0.9, 0.5, 0.1, 0.3, 0.8, 0.7]
    # k=1: a picks 0.9 (pos), b picks 0.8 (pos)
    assert precision_at_k(y, s, dates, k=1) == pytest.approx(1.0)
    # k=2: a picks 0.9, 0.5 -> 1/2; b picks 0.8, 0.7 -> 2/2
    assert precision_at_k(y, s, dates, k=2) == pytest.approx(0.75)
    # k larger than a date: the whole date counts -> a 2/3, b 2/3
    assert precision_at_k(y, s, dates, k=5) == pytest.approx(2 / 3)


def test_precision_at_k_resolves_ties_by_expectation() -> None:
    # one slot, two rows tied at the top, one of them positive -> 1/2 in expectation
    assert precision_at_k([1, 0, 0], [0.5, 0.5, 0.1], [1, 1, 1], k=1) == pytest.approx(0.5)
    assert math.isnan(precision_at_k([1, 0], [0.3, 0.3], [1, 1], k=1))


def test_calibration_table_by_hand() -> None:
    table = calibration_table([0, 1, 1, 0, 1], [0.1, 0.15, 0.6, 0.7, 0.9], n_bins=4)
    # bin 1 ([0.25, 0.5)) is empty and dropped
    assert table["bin"].to_list() == [0, 2, 3]
    assert table["count"].to_list() == [2, 2, 1]
    assert table["mean_predicted"].to_list() == pytest.approx([0.125, 0.65, 0.9])
    assert table["observed_rate"].to_list() == pytest.approx([0.5, 0.5, 1.0])
    assert table["lower"].to_list() == pytest.approx([0.0, 0.5, 0.75])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_calibration_table_matches_sklearn(strategy: str) -> None:
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(size=200), [0.5, 0.2]])  # values on inner edges too
    y = (rng.uniform(size=p.size) < p).astype(int)
    table = calibration_table(y, p, n_bins=5, strategy=strategy)  # type: ignore[arg-type]
    rate, mean = calibration_curve(y, p, n_bins=5, strategy=strategy)
    assert table["observed_rate"].to_numpy() == pytest.approx(rate)
    assert table["mean_predicted"].to_numpy() == pytest.approx(mean)
    assert int(table["count"].sum()) == p.size


# --- ranking ----------------------------------------------------------------------------------


def test_ic_by_date_by_hand() -> None:
    dates = [2, 2, 2, 1, 1, 1, 3]
    s = [1, 2, 3, 1, 2, 3, 5]
    y = [1, 2, 10, 1, 3, 2, 0]
    pearson = ic_by_date(y, s, dates)
    assert pearson["date"].to_list() == [1, 2, 3]
    assert pearson["n"].to_list() == [3, 3, 1]
    # date 1: deviations (-1, 0, 1) and (-1, 1, 0): covariance sum 1, variance sums 2 and 2
    # date 2: deviations (-1, 0, 1) and (-10/3, -7/3, 17/3): covariance sum 9, variance sums 2, 438/9
    expected = [0.5, 9 / math.sqrt(2 * 438 / 9)]
    assert pearson["ic"].to_list()[:2] == pytest.approx(expected)
    assert math.isnan(pearson["ic"][2])  # one row: undefined
    spearman = ic_by_date(y, s, dates, method="spearman")
    assert spearman["ic"].to_list()[:2] == pytest.approx([0.5, 1.0])


def test_default_lags_follow_newey_west_1994() -> None:
    assert [default_nw_lags(n) for n in (0, 30, 100, 1000)] == [0, 3, 4, 6]


def test_newey_west_with_no_lag_is_the_plain_t_without_small_sample_correction() -> None:
    result = newey_west_mean([1.0, 2.0, 0.0, 4.0, 3.0], lags=0)
    # mean 2, population sd sqrt(2): t = 2 / (sqrt(2) / sqrt(5)) = sqrt(10)
    assert result.mean == pytest.approx(2.0)
    assert result.t_stat == pytest.approx(math.sqrt(10))
    assert (result.n, result.lags) == (5, 0)


def test_newey_west_matches_bartlett_formula_and_statsmodels() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=60)) * 0.1 + 0.3  # autocorrelated
    lags = 3
    e = x - x.mean()
    s = e @ e + 2 * sum((1 - j / (lags + 1)) * (e[j:] @ e[:-j]) for j in range(1, lags + 1))
    se = math.sqrt(s) / x.size
    result = newey_west_mean(np.append(x, np.nan), lags=lags)  # NaN dropped
    assert result.n == 60
    assert result.se == pytest.approx(se)
    assert result.t_stat == pytest.approx(x.mean() / se)
    fit = sm.OLS(x, np.ones(x.size)).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    assert result.t_stat == pytest.approx(float(fit.tvalues[0]))
    assert result.p_value == pytest.approx(float(fit.pvalues[0]))


def test_newey_west_undefined_for_too_few_or_constant_values() -> None:
    assert math.isnan(newey_west_mean([0.4], lags=0).t_stat)
    assert math.isnan(newey_west_mean([0.4, 0.4, 0.4], lags=1).t_stat)
    assert newey_west_mean([], lags=0).n == 0


def test_ic_summary_counts_only_dates_with_a_defined_ic() -> None:
    dates = [1, 1, 1, 2, 2, 2, 3]
    s = [1, 2, 3, 1, 2, 3, 5]
    y = [1, 3, 2, 1, 2, 10, 0]
    summary = ic_summary(y, s, dates, lags=0)
    assert summary.n_dates == 2
    assert summary.ic.mean == pytest.approx((0.5 + 9 / math.sqrt(2 * 438 / 9)) / 2)
    assert summary.rank_ic.mean == pytest.approx(0.75)


# --- baselines --------------------------------------------------------------------------------


def test_baseline_table_rows_by_hand() -> None:
    y = [1, 0, 1, 0, 0, 1, 0, 0]  # prevalence 3/8
    p = [0.9, 0.2, 0.6, 0.5, 0.1, 0.7, 0.3, 0.4]
    dates = [1, 1, 1, 1, 2, 2, 2, 2]
    table = baseline_table(y, p, dates, k=2, lags=0)
    assert table["scorer"].to_list() == ["model", "always_positive", "prevalence"]
    model, always, constant = table.rows(named=True)
    assert model["roc_auc"] == 1.0  # every positive outscores every negative
    assert model["brier"] == pytest.approx(brier(y, p))
    assert model["n_dates"] == 2
    rate = 3 / 8
    assert always["brier"] == pytest.approx(1 - rate)
    assert always["f1"] == pytest.approx(2 * rate / (1 + rate))
    assert constant["brier"] == pytest.approx(rate * (1 - rate))
    assert constant["log_loss"] == pytest.approx(-(rate * math.log(rate) + (1 - rate) * math.log(1 - rate)))
    assert constant["f1"] == 0.0  # 3/8 < 0.5 predicts nothing
    for row in (always, constant):
        for key in ("roc_auc", "pr_auc", "precision_at_k", "ic_mean", "rank_ic_t"):
            assert math.isnan(row[key]), key
        assert row["n_dates"] == 0


def test_baseline_table_uses_a_given_training_prevalence() -> None:
    table = baseline_table([1, 0, 0, 0], [0.6, 0.1, 0.2, 0.3], [1, 1, 2, 2], prevalence=0.5, lags=0)
    constant = table.filter(pl.col("scorer") == "prevalence").row(0, named=True)
    assert constant["brier"] == pytest.approx(0.25)


# --- errors -----------------------------------------------------------------------------------


def test_bad_inputs_raise_data_errors() -> None:
    with pytest.raises(DataError) as labels:
        roc_auc([0, 2], [0.1, 0.2])
    assert labels.value.field == "y"
    with pytest.raises(DataError) as length:
        brier([0, 1], [0.1])
    assert length.value.field == "scores"
    with pytest.raises(DataError):
        log_loss([0, 1], [0.1, 1.2])
    with pytest.raises(DataError):
        roc_auc([0, 1], [0.1, math.nan])
    with pytest.raises(DataError) as k:
        precision_at_k([0, 1], [0.1, 0.2], [1, 1], k=0)
    assert k.value.field == "k"
    with pytest.raises(DataError) as dates:
        ic_by_date([0, 1], [0.1, 0.2], [1])
    assert dates.value.field == "dates"
    with pytest.raises(DataError):
        baseline_table([0, 1], [0.1, 0.2], [1, 1], prevalence=1.5)


# --- property ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=5)), min_size=2, max_size=30))
def test_roc_auc_equals_pair_counting(rows: list[tuple[bool, int]]) -> None:
    y = np.array([int(b) for b, _ in rows])
    s = np.array([v / 5 for _, v in rows])
    pos, neg = s[y == 1], s[y == 0]
    value = roc_auc(y, s)
    if pos.size == 0 or neg.size == 0 or s.min() == s.max():
        assert math.isnan(value)
        return
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert value == pytest.approx(wins / (pos.size * neg.size))
