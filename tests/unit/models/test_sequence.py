"""The LSTM-with-attention sequence model: learns a planted pattern, deterministic, picklable, leak-free.

Tiny networks (8 hidden units) on a few hundred samples keep every fit under a second.
"""

from __future__ import annotations

import copy
import functools
import pickle
import sys
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402

from earnest.core.errors import ConfigError, DataError  # noqa: E402
from earnest.models import WalkForward, make_estimator, roc_auc  # noqa: E402
from earnest.models.sequence import (  # noqa: E402
    LSTMAttentionClassifier,
    LSTMAttentionRegressor,
)
from earnest.models.train import walk_forward_predict  # noqa: E402

pytestmark = pytest.mark.deep

STEPS, FEATURES, LAG = 6, 2, 3
TINY: dict[str, Any] = {"hidden_size": 8, "max_epochs": 30, "learning_rate": 1e-2, "batch_size": 64}


def _planted(n: int, *, seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Noise sequences; the label is the sign of feature 0 at step t-3 (index STEPS-1-LAG)."""
    x = np.random.default_rng(seed).normal(size=(n, STEPS, FEATURES)).astype(np.float32)
    return x, (x[:, STEPS - 1 - LAG, 0] > 0).astype(np.int64)


@pytest.fixture(scope="module")
def data() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    return _planted(700, seed=1)


@pytest.fixture(scope="module")
def fitted(data: tuple[Any, Any]) -> LSTMAttentionClassifier:
    x, y = data
    return LSTMAttentionClassifier(**TINY, seed=0).fit(x[:600], y[:600])


def test_learns_a_planted_lag_three_pattern_on_held_out_rows(fitted: Any, data: tuple[Any, Any]) -> None:
    x, y = data
    accuracy = float((fitted.predict(x[600:]) == y[600:]).mean())
    assert accuracy > 0.85  # chance is about 0.5
    assert list(fitted.classes_) == [0, 1]
    proba = fitted.predict_proba(x[600:])
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.predict(x[600:]), (proba[:, 1] > 0.5).astype(np.int64))


def test_attention_weights_are_a_distribution_over_steps_that_favours_the_planted_step(
    fitted: Any, data: tuple[Any, Any]
) -> None:
    weights = fitted.attention_weights(data[0][600:])
    assert weights.shape == (100, STEPS)
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    # The only informative step gets more weight on average than a uniform 1/STEPS.
    assert weights[:, STEPS - 1 - LAG].mean() > 1.0 / STEPS


def test_same_seed_gives_identical_predictions_and_another_seed_does_not(data: tuple[Any, Any]) -> None:
    x, y = data
    options = {**TINY, "max_epochs": 3}
    first = LSTMAttentionClassifier(**options, seed=7).fit(x[:300], y[:300]).predict_proba(x[300:])
    again = LSTMAttentionClassifier(**options, seed=7).fit(x[:300], y[:300]).predict_proba(x[300:])
    other = LSTMAttentionClassifier(**options, seed=8).fit(x[:300], y[:300]).predict_proba(x[300:])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_fit_leaves_torch_global_state_as_it_found_it(data: tuple[Any, Any]) -> None:
    x, y = data
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    LSTMAttentionClassifier(**{**TINY, "max_epochs": 1}, n_jobs=1).fit(x[:100], y[:100])
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), rng_state)


def test_pickle_deepcopy_and_clone_round_trips(fitted: Any, data: tuple[Any, Any]) -> None:
    x = data[0][600:]
    expected = fitted.predict_proba(x)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(x), expected)
    np.testing.assert_array_equal(restored.attention_weights(x), fitted.attention_weights(x))
    np.testing.assert_array_equal(copy.deepcopy(fitted).predict_proba(x), expected)
    assert "network_" not in fitted.__getstate__()  # weights travel as arrays, not as a torch module
    unfitted = clone(fitted)
    assert unfitted.get_params() == fitted.get_params()
    assert not hasattr(unfitted, "network_")


def test_skops_round_trip_needs_only_the_estimator_class_trusted(fitted: Any, data: tuple[Any, Any]) -> None:
    # The model registry stores estimators with skops (not pickle): the state must be plain arrays.
    sio = pytest.importorskip("skops.io")
    blob = sio.dumps(fitted)
    assert sio.get_untrusted_types(data=blob) == ["earnest.models.sequence.LSTMAttentionClassifier"]
    restored = sio.loads(blob, trusted=["earnest.models.sequence.LSTMAttentionClassifier"])
    np.testing.assert_array_equal(restored.predict_proba(data[0][600:]), fitted.predict_proba(data[0][600:]))


def test_two_d_columns_are_seq_len_blocks_of_features_oldest_first(data: tuple[Any, Any]) -> None:
    x, y = data
    flat = x.reshape(len(x), -1)  # column j = feature j % FEATURES at step j // FEATURES
    assert flat[0, FEATURES * (STEPS - 1 - LAG)] == x[0, STEPS - 1 - LAG, 0]
    options = {**TINY, "max_epochs": 3}
    from_3d = LSTMAttentionClassifier(**options).fit(x[:300], y[:300])
    from_2d = LSTMAttentionClassifier(**options, seq_len=STEPS).fit(flat[:300], y[:300])
    np.testing.assert_array_equal(from_2d.predict_proba(flat[300:]), from_3d.predict_proba(x[300:]))
    np.testing.assert_array_equal(from_2d.predict_proba(x[300:]), from_3d.predict_proba(x[300:]))
    # A model fitted on 3-D X reads 2-D X with the steps it was fitted on.
    np.testing.assert_array_equal(from_3d.predict_proba(flat[300:]), from_3d.predict_proba(x[300:]))


def test_regression_learns_a_planted_return_in_the_targets_units() -> None:
    x, _ = _planted(500, seed=2)
    noise = np.random.default_rng(3).normal(scale=0.005, size=500)
    y = 0.01 + 0.02 * x[:, STEPS - 1 - LAG, 0] + noise  # returns of about 1 % +- 2 %
    for loss in ("mse", "huber"):
        model = LSTMAttentionRegressor(**TINY, loss=loss).fit(x[:400], y[:400])
        assert not hasattr(model, "predict_proba")
        assert model.score(x[400:], y[400:]) > 0.6  # R^2; the noise caps it at about 0.94
        assert abs(model.predict(x[400:]).mean() - 0.01) < 0.005


def test_standardisation_and_early_stopping_use_only_the_time_ordered_training_part() -> None:
    # 100 rows, validation_fraction 0.2, gap 5: rows 0-74 train, 75-79 are the gap, 80-99 validate.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 3, 1)).astype(np.float32)
    x[75:] += 1000.0  # a regime the scaler must not see
    y = rng.integers(0, 2, size=100)
    model = LSTMAttentionClassifier(
        **{**TINY, "max_epochs": 200}, patience=2, validation_fraction=0.2, validation_gap=5
    ).fit(x, y)
    np.testing.assert_allclose(model.feature_mean_, [x[:75].mean(dtype=np.float64)], rtol=1e-6)
    np.testing.assert_allclose(model.feature_scale_, [x[:75].std(dtype=np.float64)], rtol=1e-6)
    # Random labels: the validation loss stops improving long before 200 epochs.
    assert model.n_epochs_ < 200
    assert len(model.validation_loss_curve_) == model.n_epochs_
    assert model.best_epoch_ == int(np.argmin(model.validation_loss_curve_))
    assert model.n_epochs_ == model.best_epoch_ + 1 + 2  # stopped after `patience` worse epochs


def test_no_validation_tail_trains_every_epoch(data: tuple[Any, Any]) -> None:
    x, y = data
    model = LSTMAttentionClassifier(**{**TINY, "max_epochs": 4}, validation_fraction=0.0).fit(
        x[:100], y[:100]
    )
    assert model.n_epochs_ == 4
    assert model.best_epoch_ == 3
    assert model.validation_loss_curve_ == []


class PicklingExecutor:
    """Runs each fold on a pickled copy of its job, as a process or Dask worker would."""

    def map(self, fn: Any, items: Any) -> list[Any]:
        return [pickle.loads(pickle.dumps(fn(pickle.loads(pickle.dumps(item))))) for item in items]


def test_make_estimator_builds_it_and_it_runs_inside_walk_forward_predict() -> None:
    x, y = _planted(900, seed=5)
    flat = x.reshape(len(x), -1)
    t0 = np.arange(len(x))
    params = {**TINY, "seq_len": STEPS}
    built = make_estimator("lstm", "classification", seed=3, n_jobs=1, params=params)
    assert isinstance(built, LSTMAttentionClassifier)
    assert (built.seed, built.n_jobs, built.seq_len, built.hidden_size) == (3, 1, STEPS, 8)
    assert isinstance(make_estimator("lstm", "regression"), LSTMAttentionRegressor)

    factory = functools.partial(make_estimator, "lstm", "classification", seed=0, params=params)
    splitter = WalkForward(2, t0=t0, t1=t0 + 1)
    out = walk_forward_predict(flat, y, splitter=splitter, estimator_factory=factory)
    assert out["row"].to_list() == list(range(300, 900))  # test blocks of 900 // 3 rows
    scores = out["score"].to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc(y[300:], scores) > 0.85
    shipped = walk_forward_predict(
        flat, y, splitter=splitter, estimator_factory=factory, executor=PicklingExecutor()
    )
    assert shipped.equals(out)


def test_missing_torch_raises_config_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    monkeypatch.delitem(sys.modules, "earnest.models.sequence", raising=False)
    with pytest.raises(ConfigError) as caught:
        make_estimator("lstm", "classification")
    assert "earnest[deep]" in caught.value.remedy


@pytest.mark.parametrize(
    ("make_x", "seq_len", "error", "field"),
    [
        (lambda x: x.reshape(len(x), -1), None, ConfigError, "seq_len"),  # 2-D without seq_len
        (lambda x: x.reshape(len(x), -1), 5, DataError, "X"),  # 12 columns are not 5 blocks
        (lambda x: x[:, :, 0, None, None], None, DataError, "X"),  # 4-D
        (lambda x: np.where(np.arange(len(x))[:, None, None] == 3, np.nan, x), None, DataError, "X"),
    ],
)
def test_bad_inputs_raise_with_the_field(make_x: Any, seq_len: Any, error: Any, field: str) -> None:
    x, y = _planted(40, seed=6)
    with pytest.raises(error) as caught:
        LSTMAttentionClassifier(seq_len=seq_len).fit(make_x(x), y)
    assert caught.value.field == field


def test_bad_options_and_targets_raise(fitted: Any) -> None:
    x, y = _planted(40, seed=6)
    with pytest.raises(ConfigError) as caught:
        LSTMAttentionClassifier(hidden_size=0).fit(x, y)
    assert caught.value.field == "hidden_size"
    with pytest.raises(ConfigError):
        LSTMAttentionClassifier(validation_fraction=1.0).fit(x, y)
    with pytest.raises(ConfigError):
        LSTMAttentionRegressor(loss="mae").fit(x, y.astype(float))
    with pytest.raises(DataError) as one_class:
        LSTMAttentionClassifier().fit(x, np.ones(40))
    assert one_class.value.field == "y"
    with pytest.raises(DataError):
        fitted.predict(x[:, :4, :])  # fitted on 6 steps


def test_registry_round_trip_predicts_exactly_the_same(tmp_path: Any, data: tuple[Any, Any]) -> None:
    """The LSTM goes through the MLflow registry (skops, earnest's trusted types) like any model."""
    pytest.importorskip("mlflow")
    import datetime as dt

    import polars as pl

    from earnest.models.card import Lineage, ModelCard
    from earnest.models.registry import Registry

    x, y = data
    flat = x.reshape(len(x), -1)
    names = [f"f{k}_t{t}" for t in range(STEPS) for k in range(FEATURES)]
    model = LSTMAttentionClassifier(**{**TINY, "max_epochs": 3}, seq_len=STEPS, seed=0).fit(
        flat[:300], y[:300]
    )
    lineage = Lineage(
        data_hash="a" * 64,
        features=dict.fromkeys(names, "1"),
        label_spec="planted",
        config_hash="c" * 64,
        code_version="test",
        seed=0,
        train_start=dt.date(2020, 1, 1),
        train_end=dt.date(2020, 12, 31),
        n_rows=300,
    )
    card = ModelCard(
        name="lstm", intended_use="test", lineage=lineage, oos_metrics={}, baselines={}, gate=None
    )
    registry = Registry.local(tmp_path)
    out = registry.register(
        "lstm", model, features=names, lineage=lineage, metrics={}, oos=None, card=card, gate=None
    )
    loaded = registry.load("lstm", version=out.version)
    frame = pl.DataFrame(flat[300:], schema=names)
    np.testing.assert_array_equal(loaded.predict_scores(frame), model.predict_proba(flat[300:])[:, 1])
