"""The daily pipeline's score and alert stages, end to end: the production model from a real MLflow
registry scores the day's events on features rebuilt point in time, the scores land in ``signals``,
high scores become alerts delivered once to a real local webhook receiver, and a second run of the
day sends nothing again."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from earnest.alerts import WebhookChannel
from earnest.core.calendar import IST, nse_calendar
from earnest.models.card import Lineage, ModelCard
from earnest.models.estimators import make_estimator
from earnest.models.gate import GateResult
from earnest.models.registry import Registry
from earnest.simulate.market import SimConfig, simulate_market, write_market
from earnest.store import SqlStore, open_store
from earnest.workflows.daily import DailyContext, run_daily, stage_log
from earnest.workflows.ingest import ingest_paths
from earnest.workflows.lab import results_events, with_feature_fields
from earnest.workflows.scoring import alert_stage, score_stage

pytest.importorskip("mlflow")

FEATURES = ["revenue_yoy", "ret_20d"]
CONFIG: dict[str, Any] = {
    "name": "daily test model",
    "hypothesis": {
        "name": "every results announcement",
        "question": "daily-test",
        "horizons": [5],
        "period": {"start": "2024-01-01", "end": "2024-06-30"},
        "event": {"type": "results"},
    },
    "dataset": {"features": FEATURES, "label": "win", "horizon": 5},
    "model": {"kind": "logistic", "seed": 0},
    "register": {"name": "daily-test"},
}


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append({"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    root = tmp_path_factory.mktemp("scoring")
    sim = simulate_market(
        SimConfig(seed=5, n_symbols=40, start=dt.date(2023, 6, 1), end=dt.date(2024, 6, 28))
    )
    write_market(sim, root / "market")
    db = open_store(f"duckdb:///{root / 'store.duckdb'}")
    ingest_paths(db, [root / "market"])
    yield db
    db.close()


def _busiest_day(store: SqlStore) -> dt.date:
    events = results_events(store)
    day = events.get_column("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    cal = nse_calendar()
    sessions = [cal.next_session(d, inclusive=True) for d in day.to_list()]
    counts = pl.Series(sessions).value_counts(sort=True)
    return counts.item(0, 0)  # type: ignore[no-any-return]


def _registry(tmp_path: Path) -> Registry:
    registry = Registry.local(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES)))
    model = make_estimator("logistic", "classification", seed=0).fit(x, (x[:, 0] > 0).astype(int))
    lineage = Lineage(
        data_hash="d" * 64,
        features=dict.fromkeys(FEATURES, "1"),
        label_spec="win_5s_at_open",
        config_hash="c" * 64,
        code_version="test",
        seed=0,
        hypothesis="daily-test",
    )
    card = ModelCard(name="daily-test", intended_use="test", lineage=lineage)
    out = registry.register(
        "daily-test",
        model,
        features=FEATURES,
        lineage=lineage,
        metrics={},
        oos=None,
        card=card,
        gate=None,
        config=CONFIG,
    )
    passed = GateResult.from_dict(
        {"passed": True, "reasons": ["test"], "p": 0.001, "p_adjusted": 0.002, "n_trials": 1, "effect": 0.1,
         "t_stat": 4.0, "rank_ic": 0.1, "rank_ic_t": 3.0, "baseline_rank_ic": 0.0, "n_dates": 30, "lags": 2,
         "alpha": 0.05, "criteria": {}}
    )  # fmt: skip
    registry.promote("daily-test", out.version, gate=passed)  # the gate itself is tested elsewhere
    return registry


def test_scores_and_alerts_once(store: SqlStore, tmp_path: Path, receiver: str) -> None:
    registry = _registry(tmp_path)
    day = _busiest_day(store)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    hook = WebhookChannel(url=receiver)
    stages = {
        "score": score_stage(registry=registry, model_name="daily-test"),
        "alerts": alert_stage(model_name="daily-test", threshold=0.0, channels=[hook]),
    }
    ctx = DailyContext(store=store, day=day, calendar=nse_calendar(), cache_dir=tmp_path, inbox=[inbox])
    report = run_daily(ctx, **stages)
    assert report.ok
    signals = store.read("signals", where={"date": [day]})
    assert signals.height >= 2
    # the scores are the production model's on the features as known at each event's knowledge time
    loaded = registry.production("daily-test")
    assert loaded is not None
    feats = pl.DataFrame([json.loads(x) for x in signals.get_column("features_json")])
    keys = feats.select("event_id")
    events = results_events(store).join(keys, on="event_id", how="inner")
    from earnest.lab.spec import hypothesis_from_dict

    h = hypothesis_from_dict(
        {**CONFIG["hypothesis"], "period": {"start": day - dt.timedelta(days=7), "end": day}}
    )
    recomputed = with_feature_fields(store, h, events, extra=FEATURES).sort("symbol")
    expected = loaded.predict_scores(recomputed.select(FEATURES))
    got = signals.sort("symbol").get_column("score").to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    for kt in events.get_column(
        "knowledge_time"
    ).to_list():  # every scored event was known by the day's close
        assert kt.astimezone(IST).date() <= day
    sent = len(_Receiver.got)
    assert sent == signals.height  # threshold 0: every signal is an alert
    assert len({g["key"] for g in _Receiver.got}) == sent  # one idempotency key per alert
    # the day again, forced: scores replaced, nothing sent twice
    again = run_daily(
        DailyContext(store=store, day=day, calendar=nse_calendar(), cache_dir=tmp_path, inbox=[inbox]),
        force=True,
        **stages,
    )
    assert again.ok
    assert len(_Receiver.got) == sent
    assert store.read("signals", where={"date": [day]}).height == signals.height
    assert set(stage_log(store, day).get_column("status").to_list()) == {"done"}
    hook.close()
