"""The prediction service over real HTTP: uvicorn on a free loopback port, driven by httpx.

The store is a DuckDB file with a small simulated market (:mod:`earnest.service.demo`); the model
is earnest's logistic baseline really fitted on it (scikit-learn), served from an in-memory source
whose ``set`` plays the registry's promotion.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import polars as pl
import pytest

from earnest.config import ServiceSettings, Settings
from earnest.service.app import create_app
from earnest.service.auth import apikey_create, apikey_revoke
from earnest.service.demo import demo_isin, fill_demo_store, fit_demo_model, serve_in_thread
from earnest.service.features import as_of_instant
from earnest.service.models import InMemoryModelSource, ServedModel
from earnest.store import SqlStore, open_store

pytestmark = pytest.mark.network

POLL_S = 0.05


@dataclass
class Live:
    url: str
    key: str
    store: SqlStore
    source: InMemoryModelSource
    days: list[dt.date]
    v1: ServedModel

    def client(self, *, key: str | None = None, auth: bool = True) -> httpx.Client:
        headers = {"X-API-Key": key or self.key} if auth else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home: Path = tmp_path_factory.mktemp("service")
    store = open_store(f"duckdb:///{home / 'earnest.duckdb'}")
    days = fill_demo_store(store, n_symbols=8, n_sessions=200)
    v1 = fit_demo_model(store, days[60:160], version="1")
    source = InMemoryModelSource(v1)
    _, key = apikey_create(store, name="tests")
    settings = Settings(
        home=home,
        service=ServiceSettings(
            reload_poll_s=POLL_S, rate_limit_per_s=10_000, rate_burst_s=1.0, max_body_bytes=1_000_000
        ),
    )
    app = create_app(settings, store=store, model_source=source)
    try:
        with serve_in_thread(app) as url:
            yield Live(url, key, store, source, days, v1)
    finally:
        store.close()


def test_probes_need_no_key_and_report_stale_data(live: Live) -> None:
    with live.client(auth=False) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
    # the demo market ends on 2024-06-28: the data check fails, the others pass
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert (checks["store"]["ok"], checks["model"]["ok"], checks["data"]["ok"]) == (True, True, False)
    assert checks["model"]["detail"] == "demo 1"


def test_predict_scores_with_the_point_in_time_features(live: Live) -> None:
    day = live.days[-1]
    with live.client() as c:
        by_symbol = c.post("/v1/predict", json={"symbol": "sym002", "as_of": day.isoformat()})
        by_isin = c.post("/v1/predict", json={"isin": demo_isin(2), "as_of": day.isoformat()})
    assert by_symbol.status_code == 200, by_symbol.text
    body = by_symbol.json()
    assert (body["symbol"], body["isin"], body["model"]) == (
        "SYM002",
        demo_isin(2),
        {"name": "demo", "version": "1"},
    )
    assert by_isin.json()["score"] == body["score"]
    # the values are the research code's, and the score is the fitted model's on them
    closes = live.store.bars(symbols=["SYM002"]).get_column("close")
    assert body["features"]["ret_1d"] == pytest.approx(closes[-1] / closes[-2] - 1, rel=1e-9)
    frame = pl.DataFrame([body["features"]]).select(live.v1.features)
    assert body["score"] == pytest.approx(float(live.v1.predict_scores(frame)[0]), rel=1e-12)
    assert 0.0 < body["score"] < 1.0
    assert body["kind"] == "probability"
    assert body["missing"] == []
    assert set(body["receipt"]) == {"data_hash", "config_hash", "code_version", "seed", "created_at"}
    assert as_of_instant(day).hour == 23  # values known by the end of the as-of day (IST)


def test_a_day_before_any_bar_has_no_score_and_names_the_missing_features(live: Live) -> None:
    with live.client() as c:
        got = c.post("/v1/predict", json={"symbol": "SYM001", "as_of": "2000-01-03"})
    assert got.status_code == 200
    assert got.json()["score"] is None
    assert got.json()["missing"] == list(live.v1.features)


def test_auth_rejects_missing_wrong_and_revoked_keys(live: Live) -> None:
    body = {"symbol": "SYM001", "as_of": live.days[-1].isoformat()}
    with live.client(auth=False) as c:
        missing = c.post("/v1/predict", json=body)
    with live.client(key="ek_0123456789abcdef_nottherightsecret") as c:
        wrong = c.post("/v1/predict", json=body)
    with live.client(key="garbage") as c:
        malformed = c.get("/v1/models")
    assert [r.status_code for r in (missing, wrong, malformed)] == [401, 401, 401]
    assert missing.json()["error"] == "missing API key"
    assert missing.headers["www-authenticate"] == "ApiKey"
    key_id, key = apikey_create(live.store, name="short-lived")
    with live.client(key=key) as c:
        assert _until(lambda: c.get("/v1/models").status_code == 200)
        assert apikey_revoke(live.store, key_id) is True
        assert _until(lambda: c.get("/v1/models").status_code == 401)
    assert apikey_revoke(live.store, key_id) is False


def test_validation_errors_name_each_field(live: Live) -> None:
    with live.client() as c:
        bad = c.post("/v1/predict", json={"symbol": "no spaces!", "as_of": "2024-13-01"})
        both = c.post("/v1/predict", json={"symbol": "SYM001", "isin": demo_isin(1), "as_of": "2024-06-28"})
        extra = c.post("/v1/predict", json={"symbol": "SYM001", "as_of": "2024-06-28", "x": 1})
        not_json = c.post("/v1/predict", content=b"{", headers={"content-type": "application/json"})
        unknown = c.post("/v1/predict", json={"symbol": "NOSUCH", "as_of": "2024-06-28"})
    assert [r.status_code for r in (bad, both, extra, not_json)] == [422] * 4
    assert [f["field"] for f in bad.json()["fields"]] == ["body.symbol", "body.as_of"]
    assert "exactly one of symbol and isin" in both.json()["fields"][0]["message"]
    assert extra.json()["fields"][0]["field"] == "body.x"
    assert unknown.status_code == 404
    assert unknown.json()["field"] == "symbol"
    for r in (bad, both, extra, not_json, unknown):
        assert "Traceback" not in r.text


def test_batch_scores_rows_in_order_and_fails_only_unknown_rows(live: Live) -> None:
    days = [d.isoformat() for d in live.days[-125:]]
    rows = [{"symbol": f"SYM{i % 8:03d}", "as_of": days[i % len(days)]} for i in range(999)]
    rows.insert(500, {"symbol": "NOSUCH", "as_of": days[0]})
    with live.client() as c:
        got = c.post("/v1/predict/batch", json={"rows": rows})
        single = c.post("/v1/predict", json=rows[0]).json()
    assert got.status_code == 200, got.text[:500]
    items = got.json()["items"]
    assert [it["index"] for it in items] == list(range(1000))
    assert items[500]["prediction"] is None
    assert "NOSUCH" in items[500]["error"]
    assert sum(it["error"] is None for it in items) == 999
    assert items[0]["prediction"]["score"] == pytest.approx(single["score"], rel=1e-12)


def test_batch_and_body_limits(live: Live) -> None:
    row = {"symbol": "SYM001", "as_of": "2024-06-28"}
    with live.client() as c:
        too_many = c.post("/v1/predict/batch", json={"rows": [row] * 5001})
        empty = c.post("/v1/predict/batch", json={"rows": []})
        huge = c.post("/v1/predict/batch", content=b"[" + b" " * 1_200_000 + b"]",
                      headers={"content-type": "application/json"})  # fmt: skip
    assert too_many.status_code == 422
    assert too_many.json()["fields"][0]["field"] == "body.rows"
    assert empty.status_code == 422
    assert huge.status_code == 413


def test_rate_limit_answers_429_with_retry_after(live: Live) -> None:
    _, key = apikey_create(live.store, name="slow", rate_limit=0.25)  # one request per 4 s, burst 1
    responses: list[httpx.Response] = []
    with live.client(key=key) as c:
        # 401 until the service's key refresh sees the new key (a 401 takes no token)
        assert _until(lambda: responses.append(c.get("/v1/models")) or responses[-1].status_code != 401)
        codes = [responses[-1]] + [c.get("/v1/models") for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 429, 429, 429]
    assert codes[1].headers["retry-after"] == "4"
    assert codes[1].json()["error"] == "rate limit exceeded"


def test_metrics_expose_latency_predictions_model_and_freshness(live: Live) -> None:
    with live.client() as c:
        c.post("/v1/predict", json={"symbol": "SYM003", "as_of": live.days[-2].isoformat()})
        text = c.get("/metrics").text
    assert 'earnest_http_request_duration_seconds_bucket{le="0.02",method="POST",route="/v1/predict"' in text
    assert 'earnest_predictions_total{endpoint="predict",model="demo"' in text
    assert 'earnest_model_info{name="demo",version="' in text
    age = next(line for line in text.splitlines() if line.startswith("earnest_data_freshness_age_seconds "))
    assert float(age.split()[1]) > 86400  # the demo's newest bar is from 2024


def test_hot_reload_under_load_fails_no_request(live: Live) -> None:
    v2 = fit_demo_model(live.store, live.days[60:160], version="2", c=0.01)
    days = [d.isoformat() for d in live.days[-40:]]
    results: list[tuple[int, str | None, float | None, dict[str, float]]] = []
    stop = threading.Event()

    def hammer(worker: int) -> None:
        with live.client() as c:
            i = worker
            while not stop.is_set():
                r = c.post("/v1/predict", json={"symbol": f"SYM{i % 8:03d}", "as_of": days[i % len(days)]})
                body = r.json() if r.status_code == 200 else {}
                results.append(
                    (
                        r.status_code,
                        body.get("model", {}).get("version"),
                        body.get("score"),
                        body.get("features", {}),
                    )
                )
                i += 3

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        live.source.set(v2)
        with live.client() as c:
            assert _until(lambda: c.get("/v1/models").json()["serving"]["version"] == "2")
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        live.source.set(live.v1)
    assert {code for code, *_ in results} == {200}
    versions = [v for _, v, _, _ in results]
    assert "1" in versions
    assert "2" in versions
    assert versions.index("2") > versions.index("1")
    # each response was scored entirely by the model it names
    for _, version, score, features in results[:: max(1, len(results) // 50)]:
        model = live.v1 if version == "1" else v2
        frame = pl.DataFrame([features]).select(model.features)
        assert score == pytest.approx(float(model.predict_scores(frame)[0]), rel=1e-12)
