"""Telegram delivery through the Bot API's ``sendMessage`` (https://core.telegram.org/bots/api).

``POST {api_base}/bot{token}/sendMessage`` with a JSON body ``chat_id``, ``text`` (the alert as
HTML from :func:`earnest.alerts.template.render_html`, every value escaped), ``parse_mode="HTML"``
and link previews off. The API answers ``{"ok": true, "result": {"message_id": ...}}``, or
``{"ok": false, "error_code": ..., "description": ..., "parameters": {"retry_after": s}}``:

- 429 (flood control): transient, retried after ``parameters.retry_after`` seconds (or the
  ``Retry-After`` header);
- 5xx, 408 and network errors (timeouts, refused connections): transient, exponential backoff;
- any other 4xx (400 bad chat id or markup, 401 bad token, 403 bot blocked or not in the chat):
  permanent, recorded with Telegram's description; ``earnest alerts retry`` re-queues it once fixed.

The bot token sits in the URL path, so it is never put in an error or log message: errors carry
the status and Telegram's description only, and a filter on the ``httpx`` logger (which logs every
request URL at INFO) replaces the token with ``<bot-token>``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from earnest.alerts.outbox import TransientDeliveryError, classify_status
from earnest.alerts.template import render_html
from earnest.core.errors import ConfigError

DEFAULT_API_BASE = "https://api.telegram.org"
_MASK = "<bot-token>"


class _RedactToken(logging.Filter):
    """Replace the bot token in log records of the logger it is attached to."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.token in text:
            record.msg, record.args = text.replace(self.token, _MASK), ()
        return True


def _guard_logs(token: str) -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactToken) and f.token == token for f in logger.filters):
            logger.addFilter(_RedactToken(token))


def _retry_after(body: Mapping[str, Any], headers: httpx.Headers) -> float | None:
    params = body.get("parameters")
    value = params.get("retry_after") if isinstance(params, Mapping) else None
    value = value if value is not None else headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class TelegramChannel:
    """Send alerts to one Telegram chat. Use as a context manager (or call :meth:`close`)."""

    def __init__(
        self,
        *,
        bot_token: str,
        chat_id: str,
        api_base: str = DEFAULT_API_BASE,
        timeout_s: float = 10.0,
        name: str = "telegram",
        client: httpx.Client | None = None,
    ) -> None:
        if not bot_token or not chat_id:
            raise ConfigError(
                "Telegram needs a bot token and a chat id",
                remedy="set EARNEST_ALERTS__TELEGRAM_BOT_TOKEN and EARNEST_ALERTS__TELEGRAM_CHAT_ID",
                field="telegram_bot_token" if not bot_token else "telegram_chat_id",
            )
        self._name = name
        self._token = bot_token
        self.chat_id = chat_id
        self.api_base = api_base.rstrip("/")
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))
        self._own_client = client is None
        _guard_logs(bot_token)

    @property
    def name(self) -> str:
        """The channel's name in ``alert_deliveries``."""
        return self._name

    def __repr__(self) -> str:  # never show the token
        return f"TelegramChannel(name={self._name!r}, chat_id={self.chat_id!r}, api_base={self.api_base!r})"

    def _redact(self, text: str) -> str:
        return text.replace(self._token, _MASK)

    def send(self, alert_id: str, payload: Mapping[str, Any]) -> str | None:
        """Post the alert; returns Telegram's ``message_id`` as text. Raises the delivery errors of
        the module docstring."""
        body = {
            "chat_id": self.chat_id,
            "text": render_html(payload),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        url = f"{self.api_base}/bot{self._token}/sendMessage"
        try:
            response = self._client.post(url, json=body)
        except httpx.TransportError as exc:
            raise TransientDeliveryError(
                f"telegram: network error {type(exc).__name__}: {self._redact(str(exc))}"[:500],
                remedy="retried later",
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        status = response.status_code
        if 200 <= status < 300 and answer.get("ok") is False:
            status = int(answer.get("error_code") or 400)
        detail = self._redact(str(answer.get("description") or response.reason_phrase or "no description"))
        classify_status(
            status, retry_after_s=_retry_after(answer, response.headers), detail=detail, where="telegram"
        )
        result = answer.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        return None if message_id is None else str(message_id)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> TelegramChannel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = ["DEFAULT_API_BASE", "TelegramChannel"]
