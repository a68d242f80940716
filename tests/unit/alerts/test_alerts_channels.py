"""Telegram and webhook channels against scripted answers (httpx.MockTransport): the request they
make, how each answer is classified, and that secrets stay out of errors, reprs and logs.
The end-to-end run against a real local server is tests/integration/test_alerts_delivery.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable

import httpx
import pytest
from alert_fakes import make_alert

from earnest.alerts import (
    PermanentDeliveryError,
    TelegramChannel,
    TransientDeliveryError,
    WebhookChannel,
    render_html,
)
from earnest.alerts.webhook import sign, webhook_body
from earnest.core.errors import ConfigError

TOKEN = "123456:SECRET-token_value"

Handler = Callable[[httpx.Request], httpx.Response]


def telegram(handler: Handler) -> TelegramChannel:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return TelegramChannel(bot_token=TOKEN, chat_id="-1001", api_base="https://tg.test/", client=client)


def webhook(handler: Handler, secret: str | None = None) -> WebhookChannel:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return WebhookChannel(url="https://hook.test/in", secret=secret, client=client)


def test_telegram_posts_html_to_send_message() -> None:
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "result": {"message_id": 77}})

    a = make_alert("M&M")
    assert telegram(ok).send(a.alert_id, a.payload()) == "77"
    (req,) = seen
    assert (req.method, req.url.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    body = json.loads(req.content)
    assert body["chat_id"] == "-1001"
    assert body["parse_mode"] == "HTML"
    assert body["text"] == render_html(a.payload())
    assert "M&amp;M" in body["text"]


@pytest.mark.parametrize(
    ("status", "answer", "kind", "retry_after"),
    [
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 5",
               "parameters": {"retry_after": 5}}, TransientDeliveryError, 5.0),
        (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}, TransientDeliveryError, None),
        (502, None, TransientDeliveryError, None),
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, PermanentDeliveryError, None),
        (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
         PermanentDeliveryError, None),
        (200, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse entities"},
         PermanentDeliveryError, None),
    ],
)  # fmt: skip
def test_telegram_answers_are_classified(
    status: int, answer: dict[str, object] | None, kind: type, retry_after: float | None
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if answer is None:
            return httpx.Response(status, text="<html>bad gateway</html>")
        return httpx.Response(status, json=answer)

    a = make_alert()
    with pytest.raises(kind) as err:
        telegram(reply).send(a.alert_id, a.payload())
    if answer is not None:
        assert str(answer["description"]) in err.value.message
    if kind is TransientDeliveryError:
        assert err.value.retry_after_s == retry_after


def test_telegram_retry_after_header_is_a_fallback() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3"}, json={"ok": False, "error_code": 429})

    with pytest.raises(TransientDeliveryError) as err:
        telegram(reply).send("id", make_alert().payload())
    assert err.value.retry_after_s == 3.0


def test_the_bot_token_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True, "result": {"message_id": 1}})

    caplog.set_level(logging.DEBUG)
    with pytest.raises(TransientDeliveryError) as err:
        telegram(down).send("id", make_alert().payload())
    assert TOKEN not in str(err.value)
    assert "<bot-token>" in str(err.value)
    assert err.value.__cause__ is None
    channel = telegram(ok)
    channel.send("id", make_alert().payload())
    assert "sendMessage" in caplog.text  # httpx logged the request...
    assert TOKEN not in caplog.text  # ...without the token
    assert TOKEN not in repr(channel)
    with pytest.raises(ConfigError):
        TelegramChannel(bot_token="", chat_id="1")


def test_webhook_signs_and_sets_the_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, headers={"X-Request-Id": "r-9"})

    a = make_alert()
    assert webhook(ok, secret="s3cret").send(a.alert_id, a.payload()) == "r-9"
    (req,) = seen
    assert req.headers["Idempotency-Key"] == a.alert_id
    expected = "sha256=" + hmac.new(b"s3cret", req.content, hashlib.sha256).hexdigest()
    assert req.headers["X-Earnest-Signature"] == expected == sign(req.content, "s3cret")
    assert req.content == webhook_body(a.alert_id, a.payload())
    doc = json.loads(req.content)
    assert doc["alert_id"] == a.alert_id
    assert doc["alert"]["symbol"] == "INFY"
    assert doc["text"].startswith("BUY INFY")
    seen.clear()
    webhook(ok).send(a.alert_id, a.payload())
    assert "X-Earnest-Signature" not in seen[0].headers
    assert "s3cret" not in repr(webhook(ok, secret="s3cret"))


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (429, {"Retry-After": "12"}, TransientDeliveryError, 12.0),
        (429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, TransientDeliveryError, None),
        (503, {}, TransientDeliveryError, None),
        (408, {}, TransientDeliveryError, None),
        (404, {}, PermanentDeliveryError, None),
        (401, {}, PermanentDeliveryError, None),
    ],
)
def test_webhook_answers_are_classified(
    status: int, headers: dict[str, str], kind: type, retry_after: float | None
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, text="nope")

    with pytest.raises(kind) as err:
        webhook(reply).send("id", make_alert().payload())
    assert str(status) in err.value.message
    if kind is TransientDeliveryError:
        assert err.value.retry_after_s == retry_after


def test_webhook_network_errors_are_transient() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TransientDeliveryError, match="ReadTimeout"):
        webhook(down).send("id", make_alert().payload())
    with pytest.raises(ConfigError):
        WebhookChannel(url="ftp://x")
