"""Out-of-sample predictions by walk-forward (or any span-aware) validation.

:func:`walk_forward_predict` takes a feature matrix, a target, a splitter from
:mod:`earnest.models.splits` and an estimator factory, fits one fresh estimator per fold on that
fold's training rows only, and scores the fold's test rows. The result is one row per
(test row, fold): ``row`` (position in ``X``), ``fold`` (0-based, in the splitter's order) and
``score`` (P(positive class) for a classifier, the prediction for a regressor).

The per-fold work, :func:`fit_score_fold`, is a pure function of a :class:`FoldJob` (the fold's
training and test slices and the factory), so it runs unchanged on any
:class:`earnest.parallel.Executor`: in process or on a Dask cluster, with identical results for a
deterministic factory (see :func:`earnest.models.estimators.make_estimator`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from earnest.core.errors import DataError
from earnest.models.estimators import score
from earnest.parallel import Executor, InProcessExecutor

__all__ = ["FoldJob", "FoldResult", "fit_score_fold", "walk_forward_predict"]

_WHERE = "earnest.models.train"

EstimatorFactory = Callable[[], Any]
"""Returns a new unfitted estimator; must be picklable (module-level function or ``functools.partial``)."""


@dataclass(frozen=True)
class FoldJob:
    """Everything one fold needs: its training slice, its test slice and how to build the model."""

    fold: int
    x_train: npt.NDArray[Any]
    y_train: npt.NDArray[Any]
    x_test: npt.NDArray[Any]
    test_idx: npt.NDArray[np.int64]
    estimator_factory: EstimatorFactory


@dataclass(frozen=True)
class FoldResult:
    """One fold's out-of-sample scores, aligned with ``test_idx`` (row positions in ``X``)."""

    fold: int
    test_idx: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]


def fit_score_fold(job: FoldJob) -> FoldResult:
    """Fit a fresh estimator on the job's training rows and score its test rows (a pure function)."""
    estimator = job.estimator_factory()
    estimator.fit(job.x_train, job.y_train)
    scores = np.asarray(score(estimator, job.x_test), dtype=np.float64)
    return FoldResult(fold=job.fold, test_idx=job.test_idx, scores=scores)


def _as_matrix(X: Any) -> npt.NDArray[Any]:  # noqa: N803 (scikit-learn convention)
    if isinstance(X, pl.DataFrame):
        return X.to_numpy()
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(f"X must be 2-dimensional, got shape {arr.shape}", field="X", file=_WHERE)
    return arr


def _as_vector(y: Any) -> npt.NDArray[Any]:
    arr = y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y)
    if arr.ndim != 1:
        raise DataError(f"y must be 1-dimensional, got shape {arr.shape}", field="y", file=_WHERE)
    return arr


def _jobs(
    X: npt.NDArray[Any],  # noqa: N803 (scikit-learn convention)
    y: npt.NDArray[Any],
    splitter: Any,
    estimator_factory: EstimatorFactory,
) -> list[FoldJob]:
    jobs = []
    for fold, (train, test) in enumerate(splitter.split(X, y)):
        train_idx = np.asarray(train, dtype=np.int64)
        test_idx = np.asarray(test, dtype=np.int64)
        if len(train_idx) == 0 or len(test_idx) == 0:
            raise DataError(
                f"fold {fold} has {len(train_idx)} training and {len(test_idx)} test rows",
                remedy="use fewer splits, a smaller embargo, or more samples",
                file=_WHERE,
            )
        jobs.append(
            FoldJob(
                fold=fold,
                x_train=X[train_idx],
                y_train=y[train_idx],
                x_test=X[test_idx],
                test_idx=test_idx,
                estimator_factory=estimator_factory,
            )
        )
    return jobs


def walk_forward_predict(
    X: Any,  # noqa: N803 (scikit-learn convention)
    y: Any,
    *,
    splitter: Any,
    estimator_factory: EstimatorFactory,
    executor: Executor | None = None,
) -> pl.DataFrame:
    """Out-of-sample scores: one fresh model per fold, fitted on that fold's training rows only.

    ``X`` is a 2-D array or polars frame (rows ordered as the splitter's spans), ``y`` the target,
    ``splitter`` any object with the scikit-learn ``split(X, y)`` API (e.g.
    :class:`earnest.models.splits.WalkForward`), ``estimator_factory`` a picklable no-argument
    callable returning an unfitted estimator, ``executor`` where the folds run (in process by
    default). Returns columns ``row`` (Int64), ``fold`` (Int64), ``score`` (Float64), sorted by
    fold then row. Rows in no test block do not appear; with combinatorial CV a row may appear once
    per fold that tests it.
    """
    x_arr, y_arr = _as_matrix(X), _as_vector(y)
    if len(x_arr) != len(y_arr):
        raise DataError(f"X has {len(x_arr)} rows but y has {len(y_arr)}", field="y", file=_WHERE)
    jobs = _jobs(x_arr, y_arr, splitter, estimator_factory)
    results = (executor or InProcessExecutor()).map(fit_score_fold, jobs)
    if not results:
        return pl.DataFrame(schema={"row": pl.Int64, "fold": pl.Int64, "score": pl.Float64})
    frame = pl.DataFrame(
        {
            "row": np.concatenate([r.test_idx for r in results]),
            "fold": np.concatenate([np.full(len(r.test_idx), r.fold, dtype=np.int64) for r in results]),
            "score": np.concatenate([r.scores for r in results]),
        },
        schema={"row": pl.Int64, "fold": pl.Int64, "score": pl.Float64},
    )
    return frame.sort(["fold", "row"])
