"""The alert outbox: alerts are written to the store first and delivered from there.

**Tables** (migration 0008): ``alerts`` holds one row per alert, keyed by :attr:`Alert.alert_id`, the
sha256 of (model name, model version, symbol, signal date, event id); ``alert_deliveries`` one row
per (alert, channel) with ``status`` pending, sent or failed_permanent, ``attempts``,
``next_attempt_at``, ``last_error``, ``provider_message_id`` and ``sent_at``.

**Delivery semantics.**

- :func:`enqueue` is idempotent: an alert already in the outbox (same ``alert_id``) and a delivery
  row that exists are left as they are, so re-running a day's pipeline never queues an alert twice.
- :func:`deliver_pending` sends the due pending rows. Each row is written to the store (its own
  transaction) right before its first try ("in flight since ...") and again as soon as the
  provider answers: sent (with the provider's message id), failed_permanent (a 4xx other than
  408/429: the request itself is wrong, retrying cannot help) or pending again with
  ``next_attempt_at`` after a backoff (429, 5xx, network errors, after
  :attr:`RetryPolicy.max_attempts` tries in this run, or when a 429 asks to wait longer than
  :attr:`RetryPolicy.max_wait_s`). A failed send is never dropped.
- A row marked sent is never sent again: it is not due any more, and the store refuses to change a
  sent row (``UPDATE_ON_CONFLICT`` in ``store/base.py``), so even a stale writer cannot undo it.
- **The at-least-once window.** If the process dies after the provider accepted a message and
  before ``sent`` is committed (milliseconds: one local transaction), the row is still pending and
  the next run sends it again. Telegram's Bot API has no idempotency key, so a duplicate message is
  possible in that window, and only there; its ``last_error`` reads "in flight since ..." so the
  operator can see it. The webhook sends ``Idempotency-Key: <alert_id>`` so a receiver can drop
  the duplicate. Run one sender at a time (the daily pipeline, or a cron job under ``flock``): two
  concurrent senders could both send a due row.
- **Rate limit.** At most ``rate_limit_per_minute`` tries per channel in any 60-second window,
  counting the channel's rows sent in the last minute by earlier runs (read from the store).

Time is injected: ``clock`` gives the current UTC instant and ``sleep`` waits (tests pass a fake
clock whose ``sleep`` moves it forward), and the backoff's jitter comes from a seeded generator.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl
import tenacity

from earnest.core.errors import ConfigError, EarnestError
from earnest.core.hashing import sha256_json
from earnest.core.schemas import ALERT_DELIVERIES, UTC_TS, conform
from earnest.store.base import Store

PENDING, SENT, FAILED = "pending", "sent", "failed_permanent"
STATUSES = (PENDING, SENT, FAILED)

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], None]


def utc_now() -> dt.datetime:
    """The current instant in UTC (the default ``clock``)."""
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- errors


class DeliveryError(EarnestError):
    """A channel could not deliver an alert."""

    exit_code = 5


@dataclass(eq=False)
class TransientDeliveryError(DeliveryError):
    """Worth retrying: 429 (``retry_after_s`` from the provider), 5xx, 408 or a network error."""

    retry_after_s: float | None = None


class PermanentDeliveryError(DeliveryError):
    """The provider refused the request itself (400, 401, 403, 404...): retrying cannot help."""


def classify_status(status: int, *, retry_after_s: float | None, detail: str, where: str) -> None:
    """Raise the delivery error an HTTP ``status`` means (nothing for 2xx). ``detail`` must not hold
    secrets; ``where`` names the channel."""
    if 200 <= status < 300:
        return
    message = f"{where} answered {status}: {detail}"[:500]
    if status in {408, 429} or status >= 500:
        raise TransientDeliveryError(message, remedy="retried later", retry_after_s=retry_after_s)
    raise PermanentDeliveryError(
        message, remedy="fix the channel's settings, then `earnest alerts retry` re-queues it"
    )


# --------------------------------------------------------------------------- the alert


@dataclass(frozen=True)
class Alert:
    """One alert: a model's signal on a symbol, and the event behind it.

    ``knowledge_time`` (timezone-aware) is when the signal's information was known; live outcomes
    enter at the first tradable session after it. ``event_knowledge_time`` is when the event
    itself became known (defaults to ``knowledge_time``); ``figures`` are its headline figures;
    ``receipt_hash`` identifies the scoring run (data, config, code).
    """

    model_name: str
    model_version: str
    symbol: str
    signal_date: dt.date
    event_id: str
    signal: str
    probability: float | None
    knowledge_time: dt.datetime
    event_type: str = "results"
    event_knowledge_time: dt.datetime | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)
    receipt_hash: str = ""

    def __post_init__(self) -> None:
        for name in ("knowledge_time", "event_knowledge_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ConfigError(f"alert {name} has no time zone", remedy="pass a UTC instant", field=name)
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ConfigError(f"probability must lie in [0, 1], got {self.probability}", field="probability")

    @property
    def alert_id(self) -> str:
        """sha256 of (model name, model version, symbol, signal date, event id): the de-dup key."""
        key = [self.model_name, self.model_version, self.symbol, self.signal_date.isoformat(), self.event_id]
        return sha256_json(key)

    def payload(self) -> dict[str, Any]:
        """What is stored and rendered: JSON-serialisable, times as ISO-8601 UTC."""
        event_kt = self.event_knowledge_time or self.knowledge_time
        return {
            "alert_id": self.alert_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "symbol": self.symbol,
            "signal_date": self.signal_date.isoformat(),
            "event_id": self.event_id,
            "signal": self.signal,
            "probability": self.probability,
            "knowledge_time": self.knowledge_time.astimezone(dt.UTC).isoformat(),
            "event": {
                "type": self.event_type,
                "knowledge_time": event_kt.astimezone(dt.UTC).isoformat(),
                "figures": dict(self.figures),
            },
            "receipt_hash": self.receipt_hash,
        }


class Channel(Protocol):
    """A delivery channel. ``name`` is stored in ``alert_deliveries.channel``; ``send`` delivers
    one alert and returns the provider's message id (or None), or raises
    :class:`TransientDeliveryError` / :class:`PermanentDeliveryError`."""

    @property
    def name(self) -> str: ...

    def send(self, alert_id: str, payload: Mapping[str, Any]) -> str | None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Tries per alert and channel in one run, and the waits between them.

    The k-th retry waits ``min(backoff_max_s, backoff_s * 2**(k-1)) * u`` with ``u`` uniform in
    [0.5, 1] from a generator seeded with ``seed`` ("equal jitter"), or what a 429 asks
    (``retry_after``). A 429 asking for more than ``max_wait_s`` ends the run's tries at once.
    """

    max_attempts: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    max_wait_s: float = 60.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}", field="max_attempts")
        if min(self.backoff_s, self.backoff_max_s, self.max_wait_s) < 0:
            raise ConfigError("backoff and wait times must be >= 0", field="backoff_s")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed try number ``attempt`` (1-based), jittered."""
        base = min(self.backoff_max_s, self.backoff_s * 2.0 ** max(attempt - 1, 0))
        return base * rng.uniform(0.5, 1.0)


@dataclass(frozen=True)
class EnqueueReport:
    """What :func:`enqueue` added: alerts new to the outbox and new (alert, channel) rows."""

    alerts_new: int
    deliveries_new: int


@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver_pending` run did, per (alert, channel) row that was due."""

    sent: tuple[tuple[str, str], ...] = ()
    deferred: tuple[tuple[str, str], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    tries: int = 0


# --------------------------------------------------------------------------- enqueue


def enqueue(
    store: Store, alerts: Iterable[Alert], *, channels: Sequence[str], now: dt.datetime | None = None
) -> EnqueueReport:
    """Put ``alerts`` in the outbox, each with a pending delivery row per channel name. Idempotent:
    existing alerts and delivery rows are left untouched (a sent one stays sent)."""
    when = now or utc_now()
    by_id = {a.alert_id: a for a in alerts}
    if not by_id or not channels:
        return EnqueueReport(0, 0)
    rows = [
        {
            "alert_id": alert_id,
            "model_name": a.model_name,
            "model_version": a.model_version,
            "symbol": a.symbol,
            "signal_date": a.signal_date,
            "event_id": a.event_id,
            "signal": a.signal,
            "probability": a.probability,
            "knowledge_time": a.knowledge_time.astimezone(dt.UTC),
            "created_at": when,
            "payload_json": json.dumps(a.payload(), sort_keys=True, default=str),
        }
        for alert_id, a in by_id.items()
    ]
    alerts_new = store.upsert("alerts", pl.DataFrame(rows))
    have = store.read("alert_deliveries", where={"alert_id": list(by_id)})
    existing = set(have.select("alert_id", "channel").iter_rows())
    fresh = [
        _delivery_row(alert_id, ch, status=PENDING, attempts=0, next_at=when, now=when)
        for alert_id in by_id
        for ch in dict.fromkeys(channels)
        if (alert_id, ch) not in existing
    ]
    if fresh:
        store.upsert("alert_deliveries", pl.DataFrame(fresh, schema=ALERT_DELIVERIES))
    return EnqueueReport(alerts_new, len(fresh))


def _delivery_row(
    alert_id: str,
    channel: str,
    *,
    status: str,
    attempts: int,
    next_at: dt.datetime,
    now: dt.datetime,
    error: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "channel": channel,
        "status": status,
        "attempts": attempts,
        "next_attempt_at": next_at,
        "last_error": error,
        "provider_message_id": message_id,
        "sent_at": now if status == SENT else None,
        "updated_at": now,
    }


def _write(store: Store, row: dict[str, Any]) -> None:
    store.upsert("alert_deliveries", pl.DataFrame([row], schema=ALERT_DELIVERIES))


# --------------------------------------------------------------------------- rate limit


class RateLimiter:
    """At most ``per_minute`` events per key in any 60-second window of ``clock``; :meth:`acquire`
    sleeps (with the injected ``sleep``) until the next event is allowed."""

    def __init__(self, *, per_minute: int, clock: Clock, sleep: Sleep) -> None:
        if per_minute < 1:
            raise ConfigError(f"rate limit must be >= 1 per minute, got {per_minute}", field="per_minute")
        self.per_minute = per_minute
        self._clock, self._sleep = clock, sleep
        self._seen: dict[str, deque[dt.datetime]] = {}

    def record(self, key: str, when: dt.datetime) -> None:
        """Count an event of ``key`` at ``when`` (e.g. a send of an earlier run)."""
        self._seen.setdefault(key, deque()).append(when)

    def acquire(self, key: str) -> float:
        """Wait until ``key`` may send, count the send; returns the seconds waited."""
        seen = self._seen.setdefault(key, deque())
        waited = 0.0
        while True:
            now = self._clock()
            while seen and (now - seen[0]).total_seconds() >= 60.0:
                seen.popleft()
            if len(seen) < self.per_minute:
                seen.append(now)
                return waited
            pause = 60.0 - (now - seen[0]).total_seconds()
            self._sleep(pause)
            waited += pause


# --------------------------------------------------------------------------- deliver


def _due(store: Store, names: Sequence[str], now: dt.datetime, limit: int | None) -> pl.DataFrame:
    pending = store.read("alert_deliveries", where={"status": PENDING, "channel": list(names)})
    due = pending.filter(pl.col("next_attempt_at") <= now)
    if due.is_empty():
        return due.with_columns(pl.lit(None, pl.Utf8).alias("payload_json"))
    alerts = store.read("alerts", where={"alert_id": due.get_column("alert_id").unique().to_list()})
    out = due.join(alerts.select("alert_id", "created_at", "payload_json"), on="alert_id", how="inner")
    out = out.sort("created_at", "alert_id", "channel")
    return out.head(limit) if limit is not None else out


def _seed_limiter(store: Store, limiter: RateLimiter, names: Sequence[str], now: dt.datetime) -> None:
    """Count the channels' sends of the last minute (earlier runs) against the rate limit."""
    marks = ", ".join("?" for _ in names)
    recent = store.query(
        f"SELECT channel, sent_at FROM alert_deliveries WHERE status = ? AND sent_at > ? AND channel IN ({marks})",
        (SENT, now - dt.timedelta(minutes=1), *names),
    )
    recent = conform(recent, {"channel": pl.Utf8, "sent_at": UTC_TS}, name="alert_deliveries").sort("sent_at")
    for channel, sent_at in recent.select("channel", "sent_at").iter_rows():
        limiter.record(channel, sent_at)


@dataclass
class _Run:
    """One run's shared machinery (policy, limiter, rng, time) and tallies."""

    store: Store
    policy: RetryPolicy
    limiter: RateLimiter
    clock: Clock
    sleep: Sleep
    rng: random.Random
    tries: int = 0

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = exc.retry_after_s if isinstance(exc, TransientDeliveryError) else None
        return after if after is not None else self.policy.backoff(state.attempt_number, self.rng)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        after = exc.retry_after_s if isinstance(exc, TransientDeliveryError) else None
        too_long = after is not None and after > self.policy.max_wait_s
        return too_long or state.attempt_number >= self.policy.max_attempts

    def _mark(
        self,
        alert_id: str,
        channel: str,
        *,
        status: str,
        attempts: int,
        delay_s: float = 0.0,
        error: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Write the row's new state now (its own transaction), due ``delay_s`` from now."""
        now = self.clock()
        due = now + dt.timedelta(seconds=delay_s)
        row = _delivery_row(
            alert_id, channel, status=status, attempts=attempts, next_at=due, now=now, error=error,
            message_id=message_id,
        )  # fmt: skip
        _write(self.store, row)

    def deliver(self, channel: Channel, row: Mapping[str, Any]) -> str:
        """Try one due row; returns its new status (already written to the store)."""
        alert_id, attempts, name = str(row["alert_id"]), int(row["attempts"]), channel.name
        payload = json.loads(str(row["payload_json"]))
        flight = f"in flight since {self.clock().isoformat()}; no answer recorded"
        self._mark(alert_id, name, status=PENDING, attempts=attempts + 1, error=flight)
        tries = 0

        def attempt() -> str | None:
            nonlocal tries
            self.limiter.acquire(name)
            tries += 1
            return channel.send(alert_id, payload)

        retrying = tenacity.Retrying(
            stop=self._stop,
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(TransientDeliveryError),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            message_id = retrying(attempt)
        except TransientDeliveryError as exc:
            self.tries += tries
            wait = max(exc.retry_after_s or 0.0, self.policy.backoff(attempts + tries, self.rng))
            self._mark(
                alert_id, name, status=PENDING, attempts=attempts + tries, delay_s=wait, error=exc.message
            )
            return PENDING
        except PermanentDeliveryError as exc:
            self.tries += tries
            self._mark(alert_id, name, status=FAILED, attempts=attempts + tries, error=exc.message)
            return FAILED
        self.tries += tries
        self._mark(alert_id, name, status=SENT, attempts=attempts + tries, message_id=message_id)
        return SENT


def deliver_pending(
    store: Store,
    channels: Sequence[Channel],
    *,
    policy: RetryPolicy | None = None,
    rate_limit_per_minute: int = 20,
    clock: Clock = utc_now,
    sleep: Sleep = time.sleep,
    limit: int | None = None,
) -> DeliveryReport:
    """Send every due pending delivery of ``channels`` (oldest alert first; at most ``limit`` rows),
    with retries, backoff and the rate limit of the module docstring. Any other exception (a bug,
    a crash) propagates and leaves the row pending: the next run sends it."""
    by_name = {c.name: c for c in channels}
    if len(by_name) != len(channels):
        raise ConfigError("two channels share a name", remedy="give each channel its own name", field="name")
    if not by_name:
        return DeliveryReport()
    now = clock()
    limiter = RateLimiter(per_minute=rate_limit_per_minute, clock=clock, sleep=sleep)
    _seed_limiter(store, limiter, list(by_name), now)
    rules = policy or RetryPolicy()
    run = _Run(store, rules, limiter, clock, sleep, random.Random(rules.seed))
    done: dict[str, list[tuple[str, str]]] = {PENDING: [], SENT: [], FAILED: []}
    for row in _due(store, list(by_name), now, limit).iter_rows(named=True):
        status = run.deliver(by_name[row["channel"]], row)
        done[status].append((row["alert_id"], row["channel"]))
    return DeliveryReport(tuple(done[SENT]), tuple(done[PENDING]), tuple(done[FAILED]), run.tries)


# --------------------------------------------------------------------------- operator tools


def retry_failed(
    store: Store,
    *,
    channel: str | None = None,
    alert_ids: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Put failed_permanent deliveries (of one channel / some alerts, or all) back to pending, due
    now, with their attempt count reset (``earnest alerts retry``). Returns how many."""
    when = now or utc_now()
    where: dict[str, Any] = {"status": FAILED}
    if channel is not None:
        where["channel"] = channel
    if alert_ids is not None:
        where["alert_id"] = list(alert_ids)
    failed = store.read("alert_deliveries", where=where)
    rows = [
        _delivery_row(a, c, status=PENDING, attempts=0, next_at=when, now=when, error=f"re-queued after: {e}")
        for a, c, e in failed.select("alert_id", "channel", "last_error").iter_rows()
    ]
    if rows:
        store.upsert("alert_deliveries", pl.DataFrame(rows, schema=ALERT_DELIVERIES))
    return len(rows)


def delivery_summary(store: Store) -> pl.DataFrame:
    """Deliveries per channel and status (channel, status, n) for ``earnest alerts status``."""
    rows = store.read("alert_deliveries")
    return (
        rows.group_by("channel", "status").agg(pl.len().cast(pl.Int64).alias("n")).sort("channel", "status")
    )


__all__ = [
    "FAILED",
    "PENDING",
    "SENT",
    "STATUSES",
    "Alert",
    "Channel",
    "DeliveryError",
    "DeliveryReport",
    "EnqueueReport",
    "PermanentDeliveryError",
    "RateLimiter",
    "RetryPolicy",
    "TransientDeliveryError",
    "classify_status",
    "deliver_pending",
    "delivery_summary",
    "enqueue",
    "retry_failed",
    "utc_now",
]
