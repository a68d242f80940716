"""Generic webhook delivery: one JSON POST per alert.

The body is ``{"alert_id": ..., "text": <plain text>, "alert": <the stored payload>}`` serialised
with sorted keys. Headers:

- ``Idempotency-Key: <alert_id>``: the same on every retry of an alert, so a receiver that keeps
  the keys it has seen can drop the duplicate of the outbox's at-least-once window;
- ``X-Earnest-Signature: sha256=<hex>`` when a secret is set: HMAC-SHA256 of the raw body with the
  secret as key (GitHub's convention). A receiver recomputes it over the bytes it received and
  compares with ``hmac.compare_digest``.

Answers: 2xx is delivered (the ``X-Request-Id`` header, if any, is kept as the message id); 429
(``Retry-After`` seconds honoured), 408, 5xx and network errors are transient; other 4xx are
permanent. The same retry rules as Telegram (:mod:`earnest.alerts.outbox`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from earnest.alerts.outbox import TransientDeliveryError, classify_status
from earnest.alerts.template import render_plain
from earnest.core.errors import ConfigError

SIGNATURE_HEADER = "X-Earnest-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(body: bytes, secret: str) -> str:
    """The signature header value of ``body``: ``sha256=`` + hex HMAC-SHA256 keyed by ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(alert_id: str, payload: Mapping[str, Any]) -> bytes:
    """The exact bytes POSTed for an alert (sorted keys, UTF-8)."""
    doc = {"alert_id": alert_id, "text": render_plain(payload), "alert": dict(payload)}
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str).encode()


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: fall back to the backoff
        return None


class WebhookChannel:
    """POST alerts to one URL. Use as a context manager (or call :meth:`close`)."""

    def __init__(
        self,
        *,
        url: str,
        secret: str | None = None,
        timeout_s: float = 10.0,
        name: str = "webhook",
        client: httpx.Client | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"webhook URL must start with http:// or https://, got {url[:40]!r}",
                remedy="set EARNEST_ALERTS__WEBHOOK_URL",
                field="webhook_url",
            )
        self._name = name
        self.url = url
        self._secret = secret or None
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))
        self._own_client = client is None

    @property
    def name(self) -> str:
        """The channel's name in ``alert_deliveries``."""
        return self._name

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookChannel(name={self._name!r}, signed={self._secret is not None})"

    def send(self, alert_id: str, payload: Mapping[str, Any]) -> str | None:
        """POST the alert; returns the receiver's ``X-Request-Id`` (or None)."""
        body = webhook_body(alert_id, payload)
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: alert_id}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise TransientDeliveryError(
                f"webhook: network error {type(exc).__name__}: {exc}"[:500], remedy="retried later"
            ) from None
        detail = response.text[:200] or response.reason_phrase
        classify_status(
            response.status_code, retry_after_s=_retry_after(response.headers), detail=detail, where="webhook"
        )
        request_id = response.headers.get("x-request-id")
        return None if request_id is None else str(request_id)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> WebhookChannel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["IDEMPOTENCY_HEADER", "SIGNATURE_HEADER", "WebhookChannel", "sign", "webhook_body"]
