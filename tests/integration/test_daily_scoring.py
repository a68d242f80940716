"""The daily pipeline's score and alert stages, end to end: the production model from a real MLflow
registry scores the day's events on features rebuilt point in time, the scores land in ``signals``,
high scores become alerts delivered once to a real local webhook receiver, and a second run of the
day sends nothing again."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from integration_helpers import promoted_registry

from earnest.alerts import WebhookChannel
from earnest.core.calendar import IST, nse_calendar
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


def test_scores_and_alerts_once(
    store: SqlStore, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    registry = promoted_registry(tmp_path, CONFIG)
    receiver, received = webhook
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
    scores = signals.sort("symbol").get_column("score").to_numpy()
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-12)
    known = events.get_column("knowledge_time").to_list()
    assert all(kt.astimezone(IST).date() <= day for kt in known)  # every scored event was known by then
    sent = len(received)
    assert sent == signals.height  # threshold 0: every signal is an alert
    assert len({g["key"] for g in received}) == sent  # one idempotency key per alert
    # the day again, forced: scores replaced, nothing sent twice
    again = run_daily(
        DailyContext(store=store, day=day, calendar=nse_calendar(), cache_dir=tmp_path, inbox=[inbox]),
        force=True,
        **stages,
    )
    assert again.ok
    assert len(received) == sent
    assert store.read("signals", where={"date": [day]}).height == signals.height
    assert set(stage_log(store, day).get_column("status").to_list()) == {"done"}
    hook.close()
