"""Out-of-sample metrics for classifiers and rankers, always reported next to baselines.

Inputs are the *out-of-sample* labels ``y`` (0/1), the model's ``scores`` (probabilities of the
positive class for the probability metrics) and, for the per-date metrics, the ``dates`` each row
belongs to (a cross-section: the events or symbols of one session).

Classification (scikit-learn under the hood):

- :func:`roc_auc` — probability that a random positive scores above a random negative (ties count
  half). NaN when ``y`` has one class or when the scores are constant (a constant ranks nothing).
- :func:`pr_auc` — average precision (step-wise area under the precision-recall curve). NaN when
  there is no positive or the scores are constant.
- :func:`log_loss` — mean negative log-likelihood. scikit-learn clips probabilities to the float
  epsilon, so a hard wrong 0/1 prediction costs ``-log(2.2e-16) ~ 36.04`` instead of infinity.
- :func:`brier` — mean squared error of the probabilities.
- :func:`f1_at` — F1 = 2TP / (2TP + FP + FN) of ``score >= threshold``; NaN only when TP+FP+FN = 0.
- :func:`precision_at_k` — per date, the share of positives among the ``k`` highest scores
  (``min(k, n)`` on dates with fewer rows), averaged over dates with equal weight. Ties across the
  cut are resolved by their expectation under a random tie-break. NaN for constant scores.
- :func:`calibration_table` — bins of predicted probability with mean prediction, observed rate
  and count (same bins as :func:`sklearn.calibration.calibration_curve`, empty bins dropped).

Ranking:

- :func:`ic_by_date` — information coefficient per date: Pearson (``IC``) or Spearman (``rank IC``)
  correlation between scores and outcomes within one date.
- :func:`newey_west_mean` — mean of a series with a Newey-West (HAC, Bartlett kernel) t-statistic:
  statsmodels OLS on a constant with ``cov_type="HAC"``, no small-sample correction. The default lag
  is the Newey-West (1994) rule ``floor(4 * (n/100) ** (2/9))``; with overlapping labels spanning
  ``h`` dates, pass at least ``lags=h - 1``, since consecutive ICs share outcomes.
- :func:`ic_summary` — IC and rank IC means with their t-statistics and the number of dates.

:func:`baseline_table` puts the model next to an always-positive classifier (score 1) and a
constant-rate scorer (score = prevalence), one row each, with NaN where a metric is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import statsmodels.api as sm
from sklearn import metrics as skm  # type: ignore[import-untyped]

from earnest.core.errors import DataError

__all__ = [
    "ICSummary",
    "NeweyWestMean",
    "baseline_table",
    "brier",
    "calibration_table",
    "default_nw_lags",
    "f1_at",
    "ic_by_date",
    "ic_summary",
    "log_loss",
    "newey_west_mean",
    "pr_auc",
    "precision_at_k",
    "roc_auc",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike | pl.Series
Dates = Sequence[Any] | pl.Series | npt.NDArray[Any]
_REMEDY = "pass 1-d arrays of equal length: y in {0, 1}, finite scores"


def _labels(y: ArrayLike) -> FloatArray:
    arr = np.asarray(y.to_numpy() if isinstance(y, pl.Series) else y, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"y must be a non-empty 1-d array, got shape {arr.shape}", _REMEDY, field="y")
    if not np.isin(arr, (0.0, 1.0)).all():
        raise DataError("y must contain only 0 and 1", _REMEDY, field="y")
    return arr


def _scores(scores: ArrayLike, n: int, *, probabilities: bool = False) -> FloatArray:
    arr = np.asarray(scores.to_numpy() if isinstance(scores, pl.Series) else scores, dtype=np.float64)
    if arr.shape != (n,):
        raise DataError(f"scores must have shape ({n},), got {arr.shape}", _REMEDY, field="scores")
    if not np.isfinite(arr).all():
        raise DataError("scores must be finite", _REMEDY, field="scores")
    if probabilities and ((arr < 0).any() or (arr > 1).any()):
        raise DataError("probabilities must lie in [0, 1]", "pass predict_proba()[:, 1]", field="scores")
    return arr


def _pair(y: ArrayLike, scores: ArrayLike, *, probabilities: bool = False) -> tuple[FloatArray, FloatArray]:
    arr = _labels(y)
    return arr, _scores(scores, arr.size, probabilities=probabilities)


def _constant(arr: FloatArray) -> bool:
    return bool(arr.min() == arr.max())


def roc_auc(y: ArrayLike, scores: ArrayLike) -> float:
    """ROC-AUC: share of (positive, negative) pairs ranked correctly, ties counting half."""
    yy, ss = _pair(y, scores)
    if _constant(yy) or _constant(ss):
        return math.nan
    return float(skm.roc_auc_score(yy, ss))


def pr_auc(y: ArrayLike, scores: ArrayLike) -> float:
    """PR-AUC as average precision: sum over thresholds of (recall step) x precision."""
    yy, ss = _pair(y, scores)
    if not yy.any() or _constant(ss):
        return math.nan
    return float(skm.average_precision_score(yy, ss))


def log_loss(y: ArrayLike, probabilities: ArrayLike) -> float:
    """Mean negative log-likelihood of the probabilities (natural log, clipped at float eps)."""
    yy, pp = _pair(y, probabilities, probabilities=True)
    return float(skm.log_loss(yy, pp, labels=[0.0, 1.0]))


def brier(y: ArrayLike, probabilities: ArrayLike) -> float:
    """Brier score: mean of (probability - outcome)^2; 0 is perfect, 0.25 is a coin at 0.5."""
    yy, pp = _pair(y, probabilities, probabilities=True)
    return float(skm.brier_score_loss(yy, pp))


def f1_at(y: ArrayLike, scores: ArrayLike, *, threshold: float = 0.5) -> float:
    """F1 of the rule ``score >= threshold``; NaN when there is nothing to count (TP+FP+FN = 0)."""
    yy, ss = _pair(y, scores)
    predicted = (ss >= threshold).astype(np.float64)
    return float(skm.f1_score(yy, predicted, zero_division=np.nan))


def _dates(dates: Dates, n: int) -> pl.Series:
    series = dates if isinstance(dates, pl.Series) else pl.Series("date", list(dates))
    if series.len() != n:
        raise DataError(f"dates must have {n} entries, got {series.len()}", _REMEDY, field="dates")
    if series.null_count():
        raise DataError("dates must not contain nulls", _REMEDY, field="dates")
    return series.alias("date")


def _expected_top_k(y: FloatArray, s: FloatArray, k: int) -> float:
    """Expected share of positives among the k highest scores, ties broken at random."""
    k = min(k, y.size)
    cut = np.sort(s)[::-1][k - 1]
    above = s > cut
    tied = s == cut
    taken_from_ties = k - int(above.sum())
    hits = y[above].sum() + taken_from_ties * y[tied].mean()
    return float(hits / k)


def precision_at_k(y: ArrayLike, scores: ArrayLike, dates: Dates, *, k: int) -> float:
    """Mean over dates of the share of positives among each date's ``k`` highest scores."""
    if k < 1:
        raise DataError(f"k must be at least 1, got {k}", "pass k >= 1", field="k")
    yy, ss = _pair(y, scores)
    if _constant(ss):
        return math.nan
    codes = _dates(dates, yy.size).to_physical().rank("dense").to_numpy()
    per_date = [_expected_top_k(yy[codes == c], ss[codes == c], k) for c in np.unique(codes)]
    return float(np.mean(per_date))


def calibration_table(
    y: ArrayLike,
    probabilities: ArrayLike,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> pl.DataFrame:
    """Reliability table: one row per non-empty bin of predicted probability.

    Columns ``bin`` (0-based), ``lower`` and ``upper`` (bin edges), ``mean_predicted``,
    ``observed_rate`` (share of positives) and ``count``. Bins are those of scikit-learn's
    ``calibration_curve``: equal-width on [0, 1] or at the quantiles of the predictions; a
    prediction on an inner edge belongs to the bin below it.
    """
    if n_bins < 1:
        raise DataError(f"n_bins must be at least 1, got {n_bins}", "pass n_bins >= 1")
    yy, pp = _pair(y, probabilities, probabilities=True)
    if strategy == "quantile":
        edges = np.percentile(pp, np.linspace(0.0, 100.0, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], pp)
    count = np.bincount(idx, minlength=n_bins)
    keep = count > 0
    sum_p = np.bincount(idx, weights=pp, minlength=n_bins)
    sum_y = np.bincount(idx, weights=yy, minlength=n_bins)
    bins = np.arange(n_bins)[keep]
    return pl.DataFrame(
        {
            "bin": bins.astype(np.int64),
            "lower": edges[:-1][keep],
            "upper": edges[1:][keep],
            "mean_predicted": sum_p[keep] / count[keep],
            "observed_rate": sum_y[keep] / count[keep],
            "count": count[keep].astype(np.int64),
        }
    )


def ic_by_date(
    outcomes: ArrayLike,
    scores: ArrayLike,
    dates: Dates,
    *,
    method: Literal["pearson", "spearman"] = "pearson",
) -> pl.DataFrame:
    """Cross-sectional correlation of scores with outcomes, one row per date (sorted).

    ``outcomes`` may be returns or 0/1 labels. Columns ``date``, ``ic`` (NaN when a date has fewer
    than 2 rows or constant scores or outcomes) and ``n`` (rows on that date).
    """
    out = np.asarray(outcomes.to_numpy() if isinstance(outcomes, pl.Series) else outcomes, dtype=np.float64)
    if out.ndim != 1 or not np.isfinite(out).all():
        raise DataError("outcomes must be a finite 1-d array", _REMEDY, field="outcomes")
    frame = pl.DataFrame({"date": _dates(dates, out.size), "y": out, "s": _scores(scores, out.size)})
    return (
        frame.group_by("date")
        .agg(
            ic=pl.corr("s", "y", method=method).fill_null(math.nan),
            n=pl.len().cast(pl.Int64),
        )
        .with_columns(pl.when(pl.col("n") < 2).then(math.nan).otherwise(pl.col("ic")).alias("ic"))
        .sort("date")
    )


def default_nw_lags(n: int) -> int:
    """Newey-West (1994) rule-of-thumb lag: ``floor(4 * (n / 100) ** (2 / 9))``."""
    return math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)) if n > 0 else 0


@dataclass(frozen=True, slots=True)
class NeweyWestMean:
    """Mean of a series with its HAC standard error.

    ``t_stat`` = mean / se, where se is the Newey-West (Bartlett) standard error with ``lags`` lags;
    ``p_value`` is two-sided from the normal; ``n`` counts the finite values used.
    """

    mean: float
    se: float
    t_stat: float
    p_value: float
    n: int
    lags: int


def newey_west_mean(values: ArrayLike, *, lags: int | None = None) -> NeweyWestMean:
    """Mean of ``values`` (NaN dropped) with a Newey-West t-statistic (see module docstring)."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pl.Series) else values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    used = default_nw_lags(n) if lags is None else lags
    if used < 0:
        raise DataError(f"lags must be >= 0, got {used}", "pass lags >= 0", field="lags")
    if n < 2 or _constant(arr):
        mean = float(arr.mean()) if n else math.nan
        return NeweyWestMean(mean, math.nan, math.nan, math.nan, n, used)
    fit = sm.OLS(arr, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": used})
    return NeweyWestMean(
        mean=float(fit.params[0]),
        se=float(fit.bse[0]),
        t_stat=float(fit.tvalues[0]),
        p_value=float(fit.pvalues[0]),
        n=n,
        lags=used,
    )


@dataclass(frozen=True, slots=True)
class ICSummary:
    """IC and rank IC over dates: means, Newey-West t-statistics and the number of dates used."""

    ic: NeweyWestMean
    rank_ic: NeweyWestMean

    @property
    def n_dates(self) -> int:
        """Dates with a defined IC (at least 2 rows and non-constant scores and outcomes)."""
        return self.ic.n


def ic_summary(outcomes: ArrayLike, scores: ArrayLike, dates: Dates, *, lags: int | None = None) -> ICSummary:
    """IC (Pearson) and rank IC (Spearman) per date, summarised by :func:`newey_west_mean`."""
    pearson = ic_by_date(outcomes, scores, dates, method="pearson")["ic"]
    spearman = ic_by_date(outcomes, scores, dates, method="spearman")["ic"]
    return ICSummary(ic=newey_west_mean(pearson, lags=lags), rank_ic=newey_west_mean(spearman, lags=lags))


def _row(
    name: str, y: FloatArray, s: FloatArray, dates: Dates, *, threshold: float, k: int, lags: int | None
) -> dict[str, Any]:
    summary = ic_summary(y, s, dates, lags=lags)
    return {
        "scorer": name,
        "n": int(y.size),
        "roc_auc": roc_auc(y, s),
        "pr_auc": pr_auc(y, s),
        "log_loss": log_loss(y, s),
        "brier": brier(y, s),
        "f1": f1_at(y, s, threshold=threshold),
        "precision_at_k": precision_at_k(y, s, dates, k=k),
        "ic_mean": summary.ic.mean,
        "ic_t": summary.ic.t_stat,
        "rank_ic_mean": summary.rank_ic.mean,
        "rank_ic_t": summary.rank_ic.t_stat,
        "n_dates": summary.n_dates,
    }


def baseline_table(
    y: ArrayLike,
    scores: ArrayLike,
    dates: Dates,
    *,
    threshold: float = 0.5,
    k: int = 10,
    lags: int | None = None,
    prevalence: float | None = None,
) -> pl.DataFrame:
    """The model's out-of-sample metrics next to two baselines, one row each.

    Rows (column ``scorer``): ``model``; ``always_positive`` (score 1 for every row); and
    ``prevalence`` (constant score equal to ``prevalence``, by default the positive rate of ``y``
    itself — pass the *training* rate to avoid peeking at the test labels). ``scores`` must be
    probabilities. Constant scorers rank nothing, so their AUCs, precision at k and ICs are NaN.
    """
    yy, ss = _pair(y, scores, probabilities=True)
    rate = float(yy.mean()) if prevalence is None else prevalence
    if not 0.0 <= rate <= 1.0:
        raise DataError(f"prevalence must lie in [0, 1], got {rate}", "pass a rate", field="prevalence")
    options: dict[str, Any] = {"threshold": threshold, "k": k, "lags": lags}
    rows = [
        _row("model", yy, ss, dates, **options),
        _row("always_positive", yy, np.ones_like(yy), dates, **options),
        _row("prevalence", yy, np.full_like(yy, rate), dates, **options),
    ]
    return pl.DataFrame(rows).with_columns(pl.col(pl.Float64).fill_null(math.nan))
