"""The MLflow model registry on a local SQLite file: a model loaded back predicts exactly what the
in-memory model predicted, lineage and cards round-trip, and promotion obeys the statistical gate."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from earnest.core.errors import ConfigError, DataError, NotFoundError
from earnest.core.receipt import Receipt
from earnest.models.card import Lineage, ModelCard, metrics_from_table
from earnest.models.estimators import make_estimator, score
from earnest.models.gate import GateResult, promotion_gate
from earnest.models.metrics import baseline_table
from earnest.models.registry import PRODUCTION, PromotionRefusedError, Registry

pytest.importorskip("mlflow")
pytest.importorskip("skops")

FEATURES = ["ret_5d", "vol_20d", "sue"]


def _data(seed: int = 0) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(240, len(FEATURES)))
    y = (x[:, 0] + 0.5 * rng.normal(size=240) > 0).astype(np.int64)
    dates = np.repeat(np.arange(24), 10)
    return x, y, dates


def _lineage(seed: int = 0) -> Lineage:
    return Lineage(
        data_hash="a" * 64,
        features={"ret_5d": "1", "vol_20d": "2", "sue": "1"},
        label_spec="win_3d_lag1",
        config_hash="c" * 64,
        code_version="earnest 0.1.0+gtest",
        seed=seed,
        train_start=dt.date(2021, 1, 1),
        train_end=dt.date(2023, 6, 30),
        n_rows=240,
        hypothesis="earnings surprise drift",
    )


def _fit(kind: str, task: str = "classification", seed: int = 0) -> Any:
    x, y, _ = _data(seed)
    params = None if kind == "logistic" else {"n_estimators": 15}
    target = y if task == "classification" else x[:, 0] + 0.1 * y
    return make_estimator(kind, task, seed=seed, params=params).fit(x, target)


def _oos(estimator: Any, *, skilful: bool) -> pl.DataFrame:
    x, y, dates = _data(99)
    model = score(estimator, x)
    noise = np.random.default_rng(5).normal(size=len(y))
    return pl.DataFrame(
        {
            "date": dates,
            "label": y,
            "score": model if skilful else noise,
            "baseline_score": noise[::-1].copy(),
        }
    )


def _register(registry: Registry, name: str, estimator: Any, gate: GateResult | None) -> int:
    lineage = _lineage()
    card = ModelCard(
        name=name,
        intended_use="rank results events by the chance of a 3-day win",
        lineage=lineage,
        oos_metrics={"roc_auc": 0.71, "log_loss": 0.6},
        baselines={"logistic": {"roc_auc": 0.66, "log_loss": 0.64}, "prevalence": {"roc_auc": float("nan")}},
        gate=gate,
        caveats=["simulated data"],
        estimator=type(estimator).__name__,
    )
    oos = _oos(estimator, skilful=True)
    out = registry.register(
        name,
        estimator,
        features=FEATURES,
        lineage=lineage,
        metrics={"roc_auc": 0.71, "log_loss": 0.6},
        oos=oos,
        card=card,
        gate=gate,
    )
    return out.version


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry for the module. MLflow creates its SQLite schema with ~100 committed migrations;
    on a RAM-backed folder (Linux's shared-memory tmpfs, when there) that takes ~1.5 s instead of
    ~10 s of fsyncs on a busy disk. The folder is removed afterwards."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        home = Path(tempfile.mkdtemp(prefix="earnest-test-registry-", dir=shm))
        try:
            yield Registry.local(home)
        finally:
            shutil.rmtree(home, ignore_errors=True)
    else:
        yield Registry.local(tmp_path_factory.mktemp("earnest-home"))


def test_local_registry_lives_under_home(tmp_path: Path) -> None:
    registry = Registry.local(tmp_path)
    assert registry.tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert registry.artifact_root == tmp_path.resolve() / "mlflow" / "artifacts"
    assert Registry.open(None, home=tmp_path).tracking_uri == registry.tracking_uri
    assert Registry(f"sqlite:///{tmp_path}/r.db").artifact_root == tmp_path / "artifacts"
    assert Registry.open("http://127.0.0.1:5000", home=tmp_path).tracking_uri == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("kind", "task"),
    [
        ("logistic", "classification"),
        ("logistic", "regression"),
        ("lightgbm", "classification"),
        ("lightgbm", "regression"),
        ("xgboost", "classification"),
        ("xgboost", "regression"),
    ],
)
def test_loaded_model_predicts_exactly_what_memory_did(registry: Registry, kind: str, task: str) -> None:
    pytest.importorskip(kind if kind != "logistic" else "sklearn")
    estimator = _fit(kind, task)
    x, _, _ = _data(7)
    expected = score(estimator, x)
    version = _register(registry, f"exact-{kind}-{task}", estimator, gate=None)
    loaded = registry.load(f"exact-{kind}-{task}", version=version)
    assert loaded.features == tuple(FEATURES)
    assert np.array_equal(loaded.predict_scores(x), expected)
    frame = pl.DataFrame(x, schema=FEATURES)
    assert np.array_equal(loaded.predict_scores(frame), expected)


def test_predict_scores_selects_features_by_name_and_names_missing_ones(registry: Registry) -> None:
    estimator = _fit("logistic")
    _register(registry, "columns", estimator, gate=None)
    loaded = registry.load("columns")
    x, _, _ = _data(3)
    shuffled = (
        pl.DataFrame(x, schema=FEATURES).select("sue", "ret_5d", "vol_20d").with_columns(other=pl.lit(1))
    )
    assert np.array_equal(loaded.predict_scores(shuffled), score(estimator, x))
    with pytest.raises(DataError, match="vol_20d") as err:
        loaded.predict_scores(shuffled.drop("vol_20d"))
    assert err.value.field == "vol_20d"
    with pytest.raises(DataError, match="3 columns"):
        loaded.predict_scores(x[:, :2])


def test_lineage_card_metrics_and_oos_round_trip(registry: Registry) -> None:
    estimator = _fit("logistic")
    gate = promotion_gate(_oos(estimator, skilful=True), min_dates=10)
    version = _register(registry, "roundtrip", estimator, gate=gate)
    info = registry.show("roundtrip", version=version)
    assert info.lineage == _lineage()
    assert info.features == FEATURES
    assert info.metrics == {"roc_auc": 0.71, "log_loss": 0.6}
    assert info.gate == gate
    assert info.tags["earnest.lineage.data_hash"] == "a" * 64
    assert info.params["estimator"] == "sklearn.pipeline.Pipeline"
    assert "# Model card: roundtrip" in info.card
    assert "`vol_20d` (version 2)" in info.card
    assert "| roc_auc | 0.71 | 0.66 | n/a |" in info.card
    oos = registry.oos("roundtrip", version=version)
    assert oos is not None
    assert oos.equals(_oos(estimator, skilful=True))


def test_list_models_has_one_row_per_version(registry: Registry) -> None:
    estimator = _fit("logistic")
    gate = promotion_gate(_oos(estimator, skilful=True), min_dates=10)
    _register(registry, "listed", estimator, gate=None)
    _register(registry, "listed", estimator, gate=gate)
    frame = registry.list_models().filter(pl.col("name") == "listed")
    assert frame["version"].to_list() == [1, 2]
    assert frame["gate_passed"].to_list() == [None, True]
    assert frame["roc_auc"].to_list() == [0.71, 0.71]
    assert {"name", "version", "aliases", "created", "run_id", "gate_passed"} <= set(frame.columns)


def test_promotion_is_refused_on_a_failing_gate(registry: Registry) -> None:
    estimator = _fit("logistic")
    failing = promotion_gate(_oos(estimator, skilful=False), min_dates=10)
    assert not failing.passed
    version = _register(registry, "refused", estimator, gate=failing)
    with pytest.raises(PromotionRefusedError, match="gate failed") as err:
        registry.promote("refused", version, gate=failing)
    assert err.value.details["failed"] == list(failing.failed())
    assert "no version is in production" in err.value.remedy
    assert registry.production("refused") is None
    assert registry.show("refused").aliases == ()


def test_promotion_moves_production_between_versions(registry: Registry) -> None:
    first, second = _fit("logistic", seed=0), _fit("logistic", seed=1)
    passing = promotion_gate(_oos(first, skilful=True), min_dates=10)
    assert passing.passed, passing.reasons
    v1 = _register(registry, "promoted", first, gate=passing)
    v2 = _register(registry, "promoted", second, gate=passing)
    info = registry.promote("promoted", v1, gate=passing, by="analyst")
    assert info.aliases == (PRODUCTION,)
    assert info.promoted_by == "analyst"
    assert info.promoted_at is not None
    prod = registry.production("promoted")
    assert prod is not None
    assert prod.version == v1
    registry.promote("promoted", v2, gate=passing, by="analyst")
    prod = registry.production("promoted")
    assert prod is not None
    assert prod.version == v2
    assert registry.show("promoted", version=v1).aliases == ()
    assert registry.show("promoted", alias=PRODUCTION).tags["earnest.replaced_version"] == str(v1)
    listed = registry.list_models().filter(pl.col("name") == "promoted")
    assert listed["aliases"].to_list() == ["", PRODUCTION]
    x, _, _ = _data(4)
    assert np.array_equal(prod.predict_scores(x), score(second, x))


def test_unknown_names_versions_and_aliases_say_what_exists(registry: Registry) -> None:
    _register(registry, "known-model", _fit("logistic"), gate=None)
    with pytest.raises(NotFoundError, match="did you mean known-model"):
        registry.load("known-modle")
    with pytest.raises(NotFoundError, match="versions: 1"):
        registry.show("known-model", version=9)
    with pytest.raises(NotFoundError, match="promote a version first"):
        registry.load("known-model", alias=PRODUCTION)
    with pytest.raises(ConfigError, match="not both"):
        registry.show("known-model", version=1, alias=PRODUCTION)
    with pytest.raises(NotFoundError):
        registry.production("never-registered")


def test_register_refuses_mismatched_features_and_bad_names(registry: Registry) -> None:
    estimator = _fit("logistic")
    card = ModelCard(name="x", intended_use="test", lineage=_lineage())
    common: dict[str, Any] = {"lineage": _lineage(), "metrics": {}, "oos": None, "card": card, "gate": None}
    with pytest.raises(DataError, match="features differ"):
        registry.register("bad", estimator, features=list(reversed(FEATURES)), **common)
    with pytest.raises(ConfigError, match="invalid model name"):
        registry.register("bad name/x", estimator, features=FEATURES, **common)


class _Opaque:
    """Not a type skops trusts: registering it must be refused, not pickled."""

    def predict(self, x: Any) -> Any:
        return np.zeros(len(x))


def test_register_refuses_untrusted_estimator_types(registry: Registry) -> None:
    card = ModelCard(name="x", intended_use="test", lineage=_lineage())
    with pytest.raises(ConfigError, match="skops would have to trust"):
        registry.register(
            "opaque",
            _Opaque(),
            features=FEATURES,
            lineage=_lineage(),
            metrics={},
            oos=None,
            card=card,
            gate=None,
        )


def test_card_takes_metrics_from_a_baseline_table() -> None:
    x, y, dates = _data(11)
    table = baseline_table(y, score(_fit("logistic"), x), dates, k=3)
    model, baselines = metrics_from_table(table)
    assert set(baselines) == {"always_positive", "prevalence"}
    assert model["n"] == 240.0
    assert baselines["always_positive"]["brier"] == pytest.approx(float(np.mean((1 - y) ** 2)))
    card = ModelCard(
        name="t", intended_use="test", lineage=_lineage(), oos_metrics=model, baselines=baselines
    )
    text = card.to_markdown()
    assert "| metric | model | always_positive | prevalence |" in text
    assert "The promotion gate has not been run" in text


def test_lineage_from_receipt_and_its_checks() -> None:
    receipt = Receipt("d" * 64, "c" * 64, "earnest 0.1.0", 7, "2024-01-01T00:00:00+00:00")
    lineage = Lineage.from_receipt(
        receipt, features={"a": "1", "b": "3"}, label_spec="fwd_ret_3d_lag1", n_rows=10
    )
    assert (lineage.data_hash, lineage.config_hash, lineage.seed) == ("d" * 64, "c" * 64, 7)
    assert lineage.feature_names == ["a", "b"]
    assert Lineage.from_dict(lineage.to_dict()) == lineage
    with pytest.raises(DataError, match="at least one feature"):
        Lineage.from_receipt(receipt, features={}, label_spec="x")
    with pytest.raises(DataError, match="after it ends"):
        Lineage.from_receipt(
            receipt,
            features={"a": "1"},
            label_spec="x",
            train_start=dt.date(2024, 2, 1),
            train_end=dt.date(2024, 1, 1),
        )
