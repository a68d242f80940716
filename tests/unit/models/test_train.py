"""Walk-forward out-of-sample predictions: hand-checked folds, no leakage, executors agree exactly."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.dummy import DummyRegressor

from earnest.core.errors import ConfigError, DataError
from earnest.models import PurgedKFold, WalkForward
from earnest.models.estimators import make_estimator
from earnest.models.train import walk_forward_predict
from earnest.parallel import DaskExecutor, Executor, InProcessExecutor, local_cluster


class OverlapSpy:
    """Estimator whose 'score' counts training rows whose label span overlaps the test block's span.

    Columns 0 and 1 of ``X`` are each row's ``t0`` and ``t1``. A leak-free fold scores 0 everywhere.
    """

    def fit(self, X: npt.NDArray[Any], y: npt.NDArray[Any]) -> OverlapSpy:  # noqa: N803
        self.spans_ = X[:, :2].copy()
        return self

    def predict(self, X: npt.NDArray[Any]) -> npt.NDArray[np.float64]:  # noqa: N803
        lo, hi = X[:, 0].min(), X[:, 1].max()
        overlapping = (self.spans_[:, 0] <= hi) & (lo <= self.spans_[:, 1])
        return np.full(len(X), float(overlapping.sum()))


def _synthetic(n: int, n_features: int, *, horizon: int, seed: int) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(seed)
    t0 = np.arange(n, dtype=np.int64)
    t1 = t0 + horizon
    x = rng.normal(size=(n, n_features))
    logit = x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n)
    return x, (logit > 0).astype(np.int64), t0, t1


def test_hand_checked_folds_train_only_on_earlier_known_labels() -> None:
    # t0 = i, t1 = i + 1, y = i. Test blocks [4, 5, 6] and [7, 8, 9]; purging keeps training rows
    # whose label is known before the block starts (t1 < 4, resp. t1 < 7): rows 0-2, resp. 0-5.
    t0 = np.arange(10)
    y = np.arange(10, dtype=np.float64)
    splitter = WalkForward(2, t0=t0, t1=t0 + 1, test_size=3)
    out = walk_forward_predict(y.reshape(-1, 1), y, splitter=splitter, estimator_factory=DummyRegressor)
    assert out["row"].to_list() == [4, 5, 6, 7, 8, 9]
    assert out["fold"].to_list() == [0, 0, 0, 1, 1, 1]
    assert out["score"].to_list() == [1.0, 1.0, 1.0, 2.5, 2.5, 2.5]  # mean(0..2), mean(0..5)


@pytest.mark.parametrize("kind", ["walk_forward", "purged_kfold"])
def test_no_fold_trains_on_a_label_span_overlapping_its_test_block(kind: str) -> None:
    n = 120
    t0 = np.arange(n)
    t1 = t0 + 7  # each label overlaps the next 7 entries
    splitter: Any = (
        WalkForward(4, t0=t0, t1=t1) if kind == "walk_forward" else PurgedKFold(4, t0=t0, t1=t1, embargo=3)
    )
    x = np.column_stack([t0, t1]).astype(np.float64)
    out = walk_forward_predict(x, np.zeros(n), splitter=splitter, estimator_factory=OverlapSpy)
    assert out.height == sum(len(te) for _, te in splitter.split())
    assert out["score"].unique().to_list() == [0.0]


def test_unpurged_walk_forward_is_caught_by_the_spy() -> None:
    # Control for the test above: without purging, labels of the last training rows reach into the
    # test block, so the spy must see overlaps.
    t0 = np.arange(120)
    splitter = WalkForward(4, t0=t0, t1=t0 + 7, purge=False)
    x = np.column_stack([t0, t0 + 7]).astype(np.float64)
    out = walk_forward_predict(x, np.zeros(120), splitter=splitter, estimator_factory=OverlapSpy)
    assert out["score"].min() == 7.0


def _factories() -> dict[str, Any]:
    return {
        kind: functools.partial(
            make_estimator,
            kind,
            "classification",
            seed=7,
            params={"n_estimators": 20} if kind != "logistic" else {},
        )
        for kind in ("logistic", "lightgbm", "xgboost")
    }


def _all_predictions(executor: Executor) -> dict[str, Any]:
    x, y, t0, t1 = _synthetic(600, 6, horizon=5, seed=3)
    splitter = WalkForward(4, t0=t0, t1=t1, embargo=2)
    return {
        kind: walk_forward_predict(x, y, splitter=splitter, estimator_factory=f, executor=executor)
        for kind, f in _factories().items()
    }


def test_in_process_predictions_are_reproducible_and_informative() -> None:
    first, second = _all_predictions(InProcessExecutor()), _all_predictions(InProcessExecutor())
    _, y, _, _ = _synthetic(600, 6, horizon=5, seed=3)
    for kind, frame in first.items():
        assert frame.equals(second[kind]), kind
        scores = frame["score"].to_numpy()
        assert ((scores >= 0) & (scores <= 1)).all()
        # The signal is strong: positives must score higher on average out of sample.
        labels = y[frame["row"].to_numpy()]
        assert scores[labels == 1].mean() > scores[labels == 0].mean() + 0.2, kind


def test_dask_local_cluster_equals_in_process_exactly() -> None:
    expected = _all_predictions(InProcessExecutor())
    with local_cluster(2) as executor:
        got = _all_predictions(executor)
    for kind, frame in expected.items():
        assert got[kind].equals(frame), kind


def test_errors() -> None:
    with pytest.raises(ConfigError):
        make_estimator("forest", "classification")
    with pytest.raises(ConfigError):
        make_estimator("lightgbm", "ranking")
    with pytest.raises(ConfigError):
        DaskExecutor()
    t0 = np.arange(10)
    with pytest.raises(DataError):
        walk_forward_predict(
            np.zeros((10, 1)),
            np.zeros(9),
            splitter=WalkForward(2, t0=t0, t1=t0),
            estimator_factory=DummyRegressor,
        )


def test_regression_estimators_predict_values() -> None:
    x, _, t0, t1 = _synthetic(300, 3, horizon=1, seed=1)
    y = 2.0 * x[:, 0]
    splitter = WalkForward(3, t0=t0, t1=t1)
    for kind in ("logistic", "lightgbm", "xgboost"):
        factory = functools.partial(make_estimator, kind, "regression", seed=0)
        out = walk_forward_predict(x, y, splitter=splitter, estimator_factory=factory)
        err = out["score"].to_numpy() - y[out["row"].to_numpy()]
        assert np.sqrt(np.mean(err**2)) < 0.5 * y.std(), kind
