"""The app in process (Starlette's test client runs its lifespan): endpoints that read the store,
error bodies without tracebacks, drift in the metrics. Real-HTTP tests: tests/integration."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from earnest.config import ServiceSettings, Settings
from earnest.core import schemas
from earnest.service.app import create_app
from earnest.service.auth import apikey_create
from earnest.service.demo import fill_demo_store, fit_demo_model
from earnest.service.models import InMemoryModelSource, ServedModel
from earnest.service.signals import write_signals
from earnest.store import SqlStore, open_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SqlStore, list[dt.date], ServedModel, str]]:
    home = tmp_path_factory.mktemp("app")
    with open_store(f"duckdb:///{home / 'earnest.duckdb'}") as store:
        days = fill_demo_store(store, n_symbols=4, n_sessions=120)
        model = fit_demo_model(store, days[40:100])
        _, key = apikey_create(store, name="unit")
        yield store, days, model, key


def _client(store: SqlStore, model: ServedModel | None, **service: Any) -> TestClient:
    settings = Settings(home=Path("."), service=ServiceSettings(reload_poll_s=0.05, **service))
    app = create_app(settings, store=store, model_source=InMemoryModelSource(model))
    return TestClient(app, raise_server_exceptions=False)


def test_an_unexpected_error_is_a_500_without_traceback(world: Any) -> None:
    store, days, model, key = world

    def broken(frame: pl.DataFrame) -> Any:
        raise RuntimeError("secret internals at /srv/earnest/models.py line 12")

    with _client(store, replace(model, scorer=broken)) as client:
        got = client.post(
            "/v1/predict", json={"symbol": "SYM001", "as_of": str(days[-1])}, headers={"X-API-Key": key}
        )
    assert got.status_code == 500
    assert got.json() == {"error": "internal error", "remedy": "", "field": None}
    assert "secret" not in got.text
    assert "Traceback" not in got.text


def test_without_a_model_predict_is_503_and_not_ready(world: Any) -> None:
    store, days, _, key = world
    with _client(store, None, max_data_age_days=100_000) as client:
        got = client.post(
            "/v1/predict", json={"symbol": "SYM001", "as_of": str(days[-1])}, headers={"X-API-Key": key}
        )
        ready = client.get("/readyz")
        models = client.get("/v1/models", headers={"X-API-Key": key}).json()
    assert got.status_code == 503
    assert "no model is loaded" in got.json()["error"]
    assert ready.status_code == 503
    assert ready.json()["checks"]["model"]["ok"] is False
    assert models["serving"] is None


def test_ready_when_store_model_and_data_are_fine(world: Any) -> None:
    store, _, model, _ = world
    with _client(store, model, max_data_age_days=100_000) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True


def test_signals_and_alerts_read_the_stored_universe(world: Any) -> None:
    store, days, model, key = world
    day = days[-1]
    rows = [
        {"date": day, "symbol": s, "isin": None, "model_name": "demo", "model_version": "1", "score": v,
         "features": {"ret_1d": 0.01}, "receipt": {"seed": 0}}
        for s, v in (("SYM000", 0.4), ("SYM001", 0.8))
    ]  # fmt: skip
    write_signals(store, rows)
    now = dt.datetime(2024, 6, 28, 12, tzinfo=dt.UTC)
    alerts_rows = [
        {"alert_id": f"a{i}", "model_name": "demo", "model_version": "1", "symbol": s, "signal_date": d,
         "event_id": "e", "signal": "buy", "probability": p, "knowledge_time": now, "created_at": now,
         "payload_json": "{}"}
        for i, (s, d, p) in enumerate((("SYM002", day, 0.6), ("SYM003", day, 0.9), ("SYM000", days[0], 0.99)))
    ]  # fmt: skip
    store.upsert("alerts", pl.DataFrame(alerts_rows, schema=schemas.ALERTS))
    h = {"X-API-Key": key}
    with _client(store, model) as client:
        latest = client.get("/v1/signals", headers=h).json()
        other_day = client.get("/v1/signals", params={"date": str(days[0])}, headers=h).json()
        alerts = client.get("/v1/alerts", headers=h).json()
        first_day_alerts = client.get("/v1/alerts", params={"date": str(days[0])}, headers=h).json()
        bad = client.get("/v1/signals", params={"date": "yesterday"}, headers=h)
    assert latest["date"] == str(day)
    assert latest["count"] == 2
    assert [s["symbol"] for s in latest["signals"]] == ["SYM001", "SYM000"]
    assert other_day["count"] == 0
    assert alerts["date"] == str(day)
    assert [a["symbol"] for a in alerts["alerts"]] == ["SYM003", "SYM002"]  # most probable first
    assert [a["alert_id"] for a in first_day_alerts["alerts"]] == ["a2"]
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "query.date"


def test_metrics_report_psi_once_enough_values_were_served(world: Any) -> None:
    store, days, model, key = world
    rows = [{"symbol": f"SYM{i % 4:03d}", "as_of": str(days[100 + i % 20])} for i in range(120)]
    with _client(store, model) as client:
        client.post("/v1/predict/batch", json={"rows": rows}, headers={"X-API-Key": key})
        text = client.get("/metrics").text
        info = client.get("/v1/models", headers={"X-API-Key": key}).json()["serving"]
    psi_lines = [line for line in text.splitlines() if line.startswith("earnest_feature_psi{")]
    assert {line.split('"')[1] for line in psi_lines} == set(model.features)
    assert all(float(line.split()[-1]) >= 0 for line in psi_lines)
    assert 'earnest_predictions_total{endpoint="batch",model="demo",version="1"} 120.0' in text
    assert info["lineage"]["n_rows"] == model.lineage["n_rows"]
    assert len(info["feature_version"]) == 16
