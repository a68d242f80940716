"""Alert delivery end to end against real HTTP servers on 127.0.0.1: a fake Telegram Bot API
(``POST /bot<token>/sendMessage`` with scripted answers: 200, 429 with ``retry_after``, 500, 400)
and a fake webhook receiver that checks the HMAC signature. The outbox lives in a real DuckDB
store; time is a fake clock (waits are recorded, never slept).

Done when: each alert is delivered exactly once across re-runs, crashes and failures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import socket
import threading
from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from earnest.alerts import (
    Alert,
    RetryPolicy,
    TelegramChannel,
    WebhookChannel,
    deliver_pending,
    enqueue,
    retry_failed,
)
from earnest.alerts.outbox import FAILED, PENDING, SENT
from earnest.store import SqlStore, open_store

pytestmark = pytest.mark.network

TOKEN = "4242:fake-TOKEN"
SECRET = "hook-secret"
T0 = dt.datetime(2024, 1, 2, 12, 0, tzinfo=dt.UTC)
SHORT_ID = re.compile(r"alert <code>([0-9a-f]{12})</code>")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def tg_error(code: int, description: str, retry_after: int | None = None) -> Answer:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Answer(code, body)


class FakeServer:
    """A threaded HTTP server: POSTs take the next scripted answer of their path, else 200.

    Telegram 200 answers carry a fresh message_id; every request is recorded with its JSON body
    and headers, and each accepted one (2xx) in ``accepted``."""

    def __init__(self) -> None:
        self.scripts: dict[str, deque[Answer]] = {}
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.accepted: list[tuple[str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = server.take(self.path, dict(self.headers.items()), raw)
                data = json.dumps(answer.body).encode() if answer.body is not None else b""
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02})

    def take(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        with self._lock:
            self.requests.append((path, headers, raw))
            queue = self.scripts.get(path)
            answer = queue.popleft() if queue else None
            if answer is None:
                answer = Answer(200, {"ok": True, "result": {"message_id": len(self.accepted) + 1}})
            if 200 <= answer.status < 300:
                self.accepted.append((path, headers, raw))
            return answer

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self.scripts.setdefault(path, deque()).extend(answers)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@dataclass
class FakeClock:
    now: dt.datetime = T0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


class CrashError(RuntimeError):
    pass


class CrashingChannel:
    """Delegates to a real channel; dies before the ``crash_at``-th send."""

    def __init__(self, inner: TelegramChannel, crash_at: int) -> None:
        self.inner, self.crash_at, self.calls = inner, crash_at, 0

    @property
    def name(self) -> str:
        return self.inner.name

    def send(self, alert_id: str, payload: Mapping[str, Any]) -> str | None:
        self.calls += 1
        if self.calls == self.crash_at:
            raise CrashError("killed mid-batch")
        return self.inner.send(alert_id, payload)


SEND = f"/bot{TOKEN}/sendMessage"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    with open_store(f"duckdb:///{tmp_path / 'alerts.duckdb'}") as s:
        yield s


def alerts(n: int) -> list[Alert]:
    return [
        Alert(
            model_name="blockbuster",
            model_version="3",
            symbol=f"SYM{i}",
            signal_date=dt.date(2024, 1, 2),
            event_id=f"results-{i}",
            signal="BUY",
            probability=0.7,
            knowledge_time=T0,
            figures={"pat_yoy": 0.5 + i},
            receipt_hash="c0ffee" * 6,
        )
        for i in range(n)
    ]


def telegram_counts(server: FakeServer) -> Counter[str]:
    """Accepted Telegram messages per alert (by the short alert id in the text)."""
    out: Counter[str] = Counter()
    for path, _, raw in server.accepted:
        if path == SEND:
            match = SHORT_ID.search(json.loads(raw)["text"])
            assert match is not None
            out[match.group(1)] += 1
    return out


def statuses(store: SqlStore) -> Counter[str]:
    return Counter(store.read("alert_deliveries").get_column("status").to_list())


def test_telegram_exactly_once_through_429_500_400_and_reruns(server: FakeServer, store: SqlStore) -> None:
    batch = alerts(4)
    enqueue(store, batch, channels=["telegram"], now=T0)
    server.script(
        SEND,
        Answer(200, {"ok": True, "result": {"message_id": 501}}),  # alert 1: at once
        tg_error(429, "Too Many Requests: retry after 2", retry_after=2),  # alert 2: 429, then 500, then ok
        tg_error(500, "Internal Server Error"),
        Answer(200, {"ok": True, "result": {"message_id": 502}}),
        tg_error(400, "Bad Request: chat not found"),  # alert 3: permanent
    )
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=4, backoff_s=0.5, seed=1)
    with TelegramChannel(bot_token=TOKEN, chat_id="-100", api_base=server.url, timeout_s=5) as tg:
        report = deliver_pending(store, [tg], policy=policy, clock=clock, sleep=clock.sleep)
        assert (len(report.sent), len(report.failed), len(report.deferred)) == (3, 1, 0)
        assert clock.slept[0] == 2.0  # the 429's retry_after, honoured
        assert 0.5 <= clock.slept[1] <= 1.0  # then the 500's backoff (try 2 of alert 2)
        failed = store.read("alert_deliveries", where={"status": FAILED}).row(0, named=True)
        assert "chat not found" in failed["last_error"]
        # re-runs send nothing new; the failed one goes out once re-queued
        for _ in range(2):
            assert deliver_pending(store, [tg], policy=policy, clock=clock, sleep=clock.sleep).tries == 0
        assert retry_failed(store, now=clock()) == 1
        assert len(deliver_pending(store, [tg], policy=policy, clock=clock, sleep=clock.sleep).sent) == 1
        assert deliver_pending(store, [tg], policy=policy, clock=clock, sleep=clock.sleep).tries == 0
    counts = telegram_counts(server)
    assert sorted(counts) == sorted(a.alert_id[:12] for a in batch)
    assert set(counts.values()) == {1}
    assert statuses(store) == Counter({SENT: 4})
    ids = set(store.read("alert_deliveries").get_column("provider_message_id").to_list())
    assert {"501", "502"} <= ids
    body = json.loads(server.accepted[0][2])
    assert (body["chat_id"], body["parse_mode"]) == ("-100", "HTML")


def test_a_down_bot_api_keeps_alerts_pending_until_it_recovers(server: FakeServer, store: SqlStore) -> None:
    batch = alerts(2)
    enqueue(store, batch, channels=["telegram"], now=T0)
    server.script(SEND, *[tg_error(502, "Bad Gateway")] * 6)
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=3, backoff_s=1.0, backoff_max_s=30.0)
    with TelegramChannel(bot_token=TOKEN, chat_id="-100", api_base=server.url) as tg:
        report = deliver_pending(store, [tg], policy=policy, clock=clock, sleep=clock.sleep)
        assert (len(report.deferred), report.tries) == (2, 6)
        assert statuses(store) == Counter({PENDING: 2})
        later = store.read("alert_deliveries").get_column("next_attempt_at").min()
        assert isinstance(later, dt.datetime)
        assert later > clock()
        clock.now = later + dt.timedelta(minutes=5)
        assert len(deliver_pending(store, [tg], policy=policy, clock=clock, sleep=clock.sleep).sent) == 2
    assert set(telegram_counts(server).values()) == {1}
    assert len(telegram_counts(server)) == 2
    assert store.read("alert_deliveries").get_column("attempts").to_list() == [4, 4]


def test_a_crash_mid_batch_then_a_rerun_delivers_each_alert_once(server: FakeServer, store: SqlStore) -> None:
    batch = alerts(5)
    enqueue(store, batch, channels=["telegram"], now=T0)
    clock = FakeClock()
    with TelegramChannel(bot_token=TOKEN, chat_id="-100", api_base=server.url) as tg:
        with pytest.raises(CrashError):
            deliver_pending(store, [CrashingChannel(tg, crash_at=3)], clock=clock, sleep=clock.sleep)
        assert statuses(store) == Counter({SENT: 2, PENDING: 3})
        deliver_pending(store, [tg], clock=clock, sleep=clock.sleep)
        deliver_pending(store, [tg], clock=clock, sleep=clock.sleep)
    counts = telegram_counts(server)
    assert len(counts) == 5
    assert set(counts.values()) == {1}
    assert len(server.requests) == 5


def test_network_errors_are_retried_later(store: SqlStore) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    enqueue(store, alerts(1), channels=["telegram"], now=T0)
    clock = FakeClock()
    with TelegramChannel(bot_token=TOKEN, chat_id="-100", api_base=f"http://127.0.0.1:{port}") as tg:
        report = deliver_pending(
            store, [tg], policy=RetryPolicy(max_attempts=2), clock=clock, sleep=clock.sleep
        )
    assert len(report.deferred) == 1
    row = store.read("alert_deliveries").row(0, named=True)
    assert row["status"] == PENDING
    assert "ConnectError" in row["last_error"]
    assert TOKEN not in row["last_error"]


def test_webhook_signed_idempotent_exactly_once(server: FakeServer, store: SqlStore) -> None:
    batch = alerts(3)
    enqueue(store, batch, channels=["webhook", "telegram"], now=T0)
    server.script("/hook", Answer(503), Answer(429, headers={"Retry-After": "4"}), Answer(404))
    clock = FakeClock()
    with (
        WebhookChannel(url=f"{server.url}/hook", secret=SECRET) as wh,
        TelegramChannel(bot_token=TOKEN, chat_id="-100", api_base=server.url) as tg,
    ):
        first = deliver_pending(store, [wh, tg], clock=clock, sleep=clock.sleep)
        assert len(first.failed) == 1  # the 404
        assert 4.0 in clock.slept
        retry_failed(store, channel="webhook", now=clock())
        deliver_pending(store, [wh, tg], clock=clock, sleep=clock.sleep)
        assert deliver_pending(store, [wh, tg], clock=clock, sleep=clock.sleep).tries == 0
    hooks = [(h, raw) for p, h, raw in server.accepted if p == "/hook"]
    keys = [h["Idempotency-Key"] for h, _ in hooks]
    assert sorted(keys) == sorted(a.alert_id for a in batch)
    for headers, raw in hooks:
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Earnest-Signature"], expected)
        assert json.loads(raw)["alert_id"] == headers["Idempotency-Key"]
    assert set(telegram_counts(server).values()) == {1}
    assert statuses(store) == Counter({SENT: 6})
