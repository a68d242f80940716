"""The service on the real MLflow registry: it serves the ``production`` version, and promoting
another version swaps it in while the server runs (no restart)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest

from earnest.config import ServiceSettings, Settings
from earnest.service.app import create_app
from earnest.service.auth import apikey_create
from earnest.service.demo import DEMO_FEATURES, fill_demo_store, fit_demo_model, serve_in_thread
from earnest.service.models import ModelHolder, RegistryModelSource
from earnest.store import open_store

pytest.importorskip("mlflow")
pytest.importorskip("skops")

from earnest.models.card import Lineage, ModelCard
from earnest.models.gate import GateResult, promotion_gate
from earnest.models.registry import Registry

pytestmark = pytest.mark.slow  # MLflow's import and its SQLite schema take several seconds


@pytest.fixture
def home() -> Iterator[Path]:
    """A RAM-backed folder when there is one: MLflow's ~100 SQLite migrations fsync a lot."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="earnest-service-registry-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _oos() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 240)
    return pl.DataFrame(
        {
            "date": np.repeat(np.arange(24), 10),
            "label": label,
            "score": label + 0.3 * rng.normal(size=240),
            "baseline_score": rng.normal(size=240),
        }
    )


def _gate() -> GateResult:
    gate = promotion_gate(_oos(), min_dates=10)
    assert gate.passed, gate.reasons
    return gate


def _register(registry: Registry, estimator: object, days: list[dt.date], gate: GateResult) -> int:
    lineage = Lineage(
        data_hash="a" * 64,
        features=dict.fromkeys(DEMO_FEATURES, "1"),
        label_spec="up_1d_lag0",
        config_hash="c" * 64,
        code_version="test",
        seed=0,
        train_start=days[0],
        train_end=days[-1],
        n_rows=100,
    )
    card = ModelCard(
        name="svc",
        intended_use="exercise the service",
        lineage=lineage,
        oos_metrics={"roc_auc": 0.6},
        baselines={},
        gate=gate,
        caveats=["simulated data"],
        estimator=type(estimator).__name__,
    )
    out = registry.register(
        "svc",
        estimator,
        features=list(DEMO_FEATURES),
        lineage=lineage,
        metrics={},
        card=card,
        gate=gate,
        oos=_oos(),
    )
    return out.version


def test_promotion_in_the_registry_swaps_the_served_model(home: Path) -> None:
    store = open_store(f"duckdb:///{home / 'earnest.duckdb'}")
    try:
        days = fill_demo_store(store, n_symbols=4, n_sessions=120)
        first = fit_demo_model(store, days[40:100]).estimator
        second = fit_demo_model(store, days[40:100], c=0.01).estimator
        registry = Registry.local(home)
        gate = _gate()
        v1 = _register(registry, first, days[40:100], gate)
        v2 = _register(registry, second, days[40:100], gate)
        source = RegistryModelSource(registry, "svc")
        assert source.version_token() is None  # nothing promoted yet
        registry.promote("svc", v1, gate=gate)
        holder = ModelHolder(source)
        assert holder.poll() is True
        assert holder.model is not None
        assert (holder.model.version, holder.model.features) == (str(v1), DEMO_FEATURES)
        _, key = apikey_create(store, name="registry")
        settings = Settings(home=home, service=ServiceSettings(reload_poll_s=0.2))
        app = create_app(settings, store=store, model_source=RegistryModelSource(registry, "svc"))
        body = {"symbol": "SYM001", "as_of": days[-1].isoformat()}
        with serve_in_thread(app) as url, httpx.Client(base_url=url, headers={"X-API-Key": key}) as client:
            before = client.post("/v1/predict", json=body).json()
            registry.promote("svc", v2, gate=gate)
            deadline = time.monotonic() + 60
            while client.get("/v1/models").json()["serving"]["version"] != str(v2):
                assert time.monotonic() < deadline, "the promoted version was never served"
                time.sleep(0.1)
            after = client.post("/v1/predict", json=body).json()
            lineage = client.get("/v1/models").json()["serving"]["lineage"]
        frame = pl.DataFrame([before["features"]]).select(DEMO_FEATURES).to_numpy()
        assert before["model"]["version"] == str(v1)
        assert before["score"] == pytest.approx(float(first.predict_proba(frame)[0, 1]), rel=1e-12)
        assert after["model"]["version"] == str(v2)
        assert after["score"] == pytest.approx(float(second.predict_proba(frame)[0, 1]), rel=1e-12)
        assert lineage["train_start"] == days[40].isoformat()
    finally:
        store.close()
