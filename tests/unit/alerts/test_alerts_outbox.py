"""The outbox on both store backends: idempotent enqueue, exactly-once delivery across re-runs,
crashes and failures, retries with backoff, 429 retry_after, permanent failures and re-queueing,
and the per-channel rate limit. Time is a fake clock: nothing sleeps."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from alert_fakes import T0, CrashError, FakeClock, ScriptedChannel, make_alert

from earnest.alerts import RateLimiter, RetryPolicy, deliver_pending, enqueue, retry_failed
from earnest.alerts.outbox import FAILED, PENDING, SENT, delivery_summary
from earnest.core.errors import ConfigError
from earnest.core.schemas import ALERT_DELIVERIES
from earnest.store import SqlStore


def rows(store: SqlStore) -> dict[tuple[str, str], dict[str, object]]:
    got = store.read("alert_deliveries")
    return {(r["alert_id"], r["channel"]): r for r in got.iter_rows(named=True)}


def test_enqueue_is_idempotent_and_alert_ids_are_deterministic(store: SqlStore) -> None:
    a, b = make_alert("INFY"), make_alert("TCS")
    first = enqueue(store, [a, b, a], channels=["telegram", "webhook"], now=T0)
    assert (first.alerts_new, first.deliveries_new) == (2, 4)
    again = enqueue(store, [make_alert("INFY"), b], channels=["telegram", "webhook"], now=T0)
    assert (again.alerts_new, again.deliveries_new) == (0, 0)
    assert store.count("alerts") == 2
    assert store.count("alert_deliveries") == 4
    # the key is (model, version, symbol, signal date, event): each one changes the id
    assert make_alert().alert_id == make_alert(probability=0.1).alert_id
    ids = {
        make_alert().alert_id,
        make_alert(version="4").alert_id,
        make_alert("TCS").alert_id,
        make_alert(event_id="ev2").alert_id,
        make_alert(signal_date=dt.date(2024, 1, 3)).alert_id,
        make_alert(model_name="other").alert_id,
    }
    assert len(ids) == 6
    # a channel added later gets rows for existing alerts; existing rows are untouched
    assert enqueue(store, [a, b], channels=["telegram", "email"], now=T0).deliveries_new == 2


def test_each_alert_is_sent_once_across_reruns(store: SqlStore) -> None:
    clock = FakeClock()
    alerts = [make_alert(s) for s in ("INFY", "TCS", "WIPRO")]
    enqueue(store, alerts, channels=["telegram"], now=T0)
    ch = ScriptedChannel()
    report = deliver_pending(store, [ch], clock=clock, sleep=clock.sleep)
    assert len(report.sent) == 3
    assert (report.deferred, report.failed, report.tries) == ((), (), 3)
    for _ in range(3):  # re-runs, and re-enqueueing the same alerts, send nothing
        enqueue(store, alerts, channels=["telegram"], now=T0)
        clock.advance(3600)
        assert deliver_pending(store, [ch], clock=clock, sleep=clock.sleep).sent == ()
    assert sorted(ch.delivered) == sorted(a.alert_id for a in alerts)
    got = rows(store)
    assert {r["status"] for r in got.values()} == {SENT}
    assert {r["provider_message_id"] for r in got.values()} == {"m1", "m2", "m3"}
    assert all(r["sent_at"] == T0 and r["attempts"] == 1 and r["last_error"] is None for r in got.values())
    assert delivery_summary(store).rows() == [("telegram", SENT, 3)]


def test_transient_errors_are_retried_with_seeded_jittered_backoff(store: SqlStore) -> None:
    clock = FakeClock()
    enqueue(store, [make_alert()], channels=["telegram"], now=T0)
    ch = ScriptedChannel(script=[500, 502, "ok"])
    policy = RetryPolicy(max_attempts=5, backoff_s=1.0, seed=7)
    report = deliver_pending(store, [ch], policy=policy, clock=clock, sleep=clock.sleep)
    assert len(report.sent) == 1
    assert report.tries == 3
    # the backoff doubles (1 s, then 2 s) and each wait is jittered down to half of it at most
    assert 0.5 <= clock.slept[0] <= 1.0
    assert 1.0 <= clock.slept[1] <= 2.0
    (row,) = rows(store).values()
    assert (row["status"], row["attempts"]) == (SENT, 3)
    # seeded: the same failures with the same seed wait exactly as long again, another seed does not
    again, other = FakeClock(), FakeClock()
    enqueue(store, [make_alert(symbol="TCS")], channels=["telegram"], now=T0)
    deliver_pending(
        store, [ScriptedChannel(script=[500, 502, "ok"])], policy=policy, clock=again, sleep=again.sleep
    )
    enqueue(store, [make_alert(symbol="WIPRO")], channels=["telegram"], now=T0)
    reseeded = RetryPolicy(max_attempts=5, backoff_s=1.0, seed=8)
    deliver_pending(
        store, [ScriptedChannel(script=[500, 502, "ok"])], policy=reseeded, clock=other, sleep=other.sleep
    )
    assert again.slept == clock.slept
    assert other.slept != clock.slept


def test_a_429_is_retried_after_retry_after(store: SqlStore) -> None:
    clock = FakeClock()
    enqueue(store, [make_alert()], channels=["telegram"], now=T0)
    ch = ScriptedChannel(script=[("429", 7), "ok"], clock=clock)
    report = deliver_pending(store, [ch], clock=clock, sleep=clock.sleep)
    assert len(report.sent) == 1
    assert clock.slept == [7.0]
    assert ch.tried_at == [T0, T0 + dt.timedelta(seconds=7)]


def test_a_long_429_and_exhausted_retries_stay_pending_and_are_sent_later(store: SqlStore) -> None:
    clock = FakeClock()
    a, b = make_alert("INFY"), make_alert("TCS")
    enqueue(store, [a, b], channels=["telegram"], now=T0)
    # a: Telegram asks to wait 600 s (> max_wait_s): deferred at once; b: three 500s in a row
    ch = ScriptedChannel(script=[("429", 600), 500, 500, 500])
    policy = RetryPolicy(max_attempts=3, backoff_s=1.0, backoff_max_s=60.0, max_wait_s=60.0)
    report = deliver_pending(store, [ch], policy=policy, clock=clock, sleep=clock.sleep)
    assert set(report.deferred) == {(a.alert_id, "telegram"), (b.alert_id, "telegram")}
    assert report.tries == 4
    got = rows(store)
    ra, rb = got[(a.alert_id, "telegram")], got[(b.alert_id, "telegram")]
    assert (ra["status"], ra["attempts"]) == (PENDING, 1)
    assert ra["next_attempt_at"] == T0 + dt.timedelta(seconds=600)  # 600 s > any backoff of try 1
    assert "429" in str(ra["last_error"])
    assert (rb["status"], rb["attempts"]) == (PENDING, 3)
    assert "500" in str(rb["last_error"])
    # before a is due again, only b (if due) is tried; after, both are sent, once
    clock.now = T0 + dt.timedelta(seconds=599)
    deliver_pending(store, [ch], policy=policy, clock=clock, sleep=clock.sleep)
    assert a.alert_id not in ch.delivered
    clock.now = T0 + dt.timedelta(seconds=600)
    deliver_pending(store, [ch], policy=policy, clock=clock, sleep=clock.sleep)
    assert sorted(ch.delivered) == sorted([a.alert_id, b.alert_id])
    assert {r["status"] for r in rows(store).values()} == {SENT}


def test_a_4xx_fails_permanently_until_requeued(store: SqlStore) -> None:
    clock = FakeClock()
    a = make_alert()
    enqueue(store, [a], channels=["telegram"], now=T0)
    ch = ScriptedChannel(script=[400])
    report = deliver_pending(store, [ch], clock=clock, sleep=clock.sleep)
    assert report.failed == ((a.alert_id, "telegram"),)
    assert report.tries == 1  # a 4xx is not retried
    (row,) = rows(store).values()
    assert row["status"] == FAILED
    assert "400" in str(row["last_error"])
    assert "chat not found" in str(row["last_error"])
    clock.advance(86400)
    assert deliver_pending(store, [ch], clock=clock, sleep=clock.sleep).tries == 0
    assert retry_failed(store, channel="telegram", now=clock()) == 1
    assert retry_failed(store, now=clock()) == 0
    assert len(deliver_pending(store, [ch], clock=clock, sleep=clock.sleep).sent) == 1
    assert ch.delivered == [a.alert_id]


def test_a_crash_mid_batch_loses_nothing_and_sends_nothing_twice(store: SqlStore) -> None:
    clock = FakeClock()
    alerts = [make_alert(f"S{i}") for i in range(5)]
    enqueue(store, alerts, channels=["telegram"], now=T0)
    order = [a.alert_id for a in sorted(alerts, key=lambda a: a.alert_id)]  # same created_at: by id
    ch = ScriptedChannel(script=["ok", "ok", "crash-before"])
    with pytest.raises(CrashError):
        deliver_pending(store, [ch], clock=clock, sleep=clock.sleep)
    assert ch.delivered == order[:2]
    got = rows(store)
    assert [got[(i, "telegram")]["status"] for i in order] == [SENT, SENT, PENDING, PENDING, PENDING]
    assert "in flight since" in str(got[(order[2], "telegram")]["last_error"])
    report = deliver_pending(store, [ch], clock=clock, sleep=clock.sleep)
    assert [i for i, _ in report.sent] == order[2:]
    assert sorted(ch.delivered) == sorted(order)  # every alert exactly once
    assert len(set(ch.delivered)) == 5


def test_the_documented_at_least_once_window(store: SqlStore) -> None:
    """A crash after the provider accepted and before 'sent' is committed re-sends that alert
    (and only it) on the next run: the window the module docstring documents."""
    clock = FakeClock()
    a, b = make_alert("INFY"), make_alert("TCS")
    enqueue(store, [a, b], channels=["telegram"], now=T0)
    ch = ScriptedChannel(script=["crash-after"])
    with pytest.raises(CrashError):
        deliver_pending(store, [ch], clock=clock, sleep=clock.sleep)
    first = ch.delivered[0]
    deliver_pending(store, [ch], clock=clock, sleep=clock.sleep)
    assert ch.delivered.count(first) == 2
    assert len(ch.delivered) == 3


def test_a_sent_row_cannot_be_undone_by_a_stale_write(store: SqlStore) -> None:
    clock = FakeClock()
    a = make_alert()
    enqueue(store, [a], channels=["telegram"], now=T0)
    deliver_pending(store, [ScriptedChannel()], clock=clock, sleep=clock.sleep)
    stale = {c: None for c in ALERT_DELIVERIES} | {
        "alert_id": a.alert_id,
        "channel": "telegram",
        "status": PENDING,
        "attempts": 9,
        "next_attempt_at": T0,
        "updated_at": T0,
    }
    store.upsert("alert_deliveries", pl.DataFrame([stale], schema=ALERT_DELIVERIES))
    (row,) = rows(store).values()
    assert (row["status"], row["attempts"], row["provider_message_id"]) == (SENT, 1, "m1")


def test_the_rate_limit_spaces_sends_per_channel(store: SqlStore) -> None:
    clock = FakeClock()
    enqueue(store, [make_alert(f"S{i}") for i in range(5)], channels=["telegram", "webhook"], now=T0)
    tg, wh = ScriptedChannel(clock=clock), ScriptedChannel(name="webhook", clock=clock)
    deliver_pending(store, [tg, wh], rate_limit_per_minute=2, clock=clock, sleep=clock.sleep)
    offsets = [(t - T0).total_seconds() for t in tg.tried_at]
    # at most 2 per rolling minute per channel
    for i, t in enumerate(offsets):
        assert sum(t - 60 < u <= t for u in offsets[: i + 1]) <= 2
    assert len(tg.delivered) == len(wh.delivered) == 5
    assert offsets[:2] == [0.0, 0.0]
    assert offsets[2] == 60.0


def test_the_rate_limit_counts_sends_of_earlier_runs(store: SqlStore) -> None:
    clock = FakeClock()
    enqueue(store, [make_alert("A"), make_alert("B")], channels=["telegram"], now=T0)
    ch = ScriptedChannel(clock=clock)
    deliver_pending(store, [ch], rate_limit_per_minute=2, clock=clock, sleep=clock.sleep)
    clock.advance(10)
    enqueue(store, [make_alert("C")], channels=["telegram"], now=clock())
    deliver_pending(store, [ch], rate_limit_per_minute=2, clock=clock, sleep=clock.sleep)
    assert ch.tried_at[-1] == T0 + dt.timedelta(seconds=60)  # waited for the first run's sends to age


def test_rate_limiter_alone() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=3, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire("k") for _ in range(7)]
    assert waits == [0.0, 0.0, 0.0, 60.0, 0.0, 0.0, 60.0]
    assert limiter.acquire("other") == 0.0
    with pytest.raises(ConfigError):
        RateLimiter(per_minute=0, clock=clock, sleep=clock.sleep)


def test_bad_options_are_refused(duck: SqlStore) -> None:
    with pytest.raises(ConfigError):
        deliver_pending(duck, [ScriptedChannel(), ScriptedChannel()])
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        make_alert(knowledge_time=dt.datetime(2024, 1, 2, 12))
    with pytest.raises(ConfigError):
        make_alert(probability=1.5)
    assert deliver_pending(duck, []).tries == 0
