"""Alerts: delivery (Telegram, webhook) through an outbox in the store, and live outcome tracking
(issue 8). See ``docs/alerts.md``.

- :mod:`~earnest.alerts.outbox`: :class:`Alert`, :func:`enqueue` (idempotent), :func:`deliver_pending`
  (retries, backoff, rate limit; a sent row is never re-sent), :func:`retry_failed`;
- :mod:`~earnest.alerts.telegram` and :mod:`~earnest.alerts.webhook`: the two channels;
- :mod:`~earnest.alerts.template`: the message;
- :mod:`~earnest.alerts.expectation`: the model's out-of-sample expectation and the live report;
- :mod:`~earnest.alerts.outcomes`: realised 1/3/5-session returns of sent alerts and live
  performance against the backtest's expectation.
"""

from __future__ import annotations

from earnest.alerts.outbox import (
    Alert,
    Channel,
    DeliveryError,
    DeliveryReport,
    EnqueueReport,
    PermanentDeliveryError,
    RateLimiter,
    RetryPolicy,
    TransientDeliveryError,
    deliver_pending,
    delivery_summary,
    enqueue,
    retry_failed,
)
from earnest.alerts.outcomes import Expectation, Performance, fill_outcomes, live_statistics, performance
from earnest.alerts.telegram import TelegramChannel
from earnest.alerts.template import render_html, render_plain
from earnest.alerts.webhook import WebhookChannel
from earnest.config import AlertSettings


def channels_from_settings(settings: AlertSettings) -> list[TelegramChannel | WebhookChannel]:
    """The channels ``settings`` configures: Telegram when a bot token and chat id are set, the
    webhook when a URL is set (in that order). Close them when done."""
    out: list[TelegramChannel | WebhookChannel] = []
    if settings.telegram_bot_token is not None and settings.telegram_chat_id:
        out.append(
            TelegramChannel(
                bot_token=settings.telegram_bot_token.get_secret_value(),
                chat_id=settings.telegram_chat_id,
                api_base=settings.telegram_api_base,
                timeout_s=settings.timeout_s,
            )
        )
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        out.append(WebhookChannel(url=settings.webhook_url, secret=secret, timeout_s=settings.timeout_s))
    return out


def policy_from_settings(settings: AlertSettings, *, seed: int = 0) -> RetryPolicy:
    """The retry policy of ``settings`` (pass ``rate_limit_per_minute`` to :func:`deliver_pending`
    separately)."""
    return RetryPolicy(
        max_attempts=settings.max_attempts,
        backoff_s=settings.backoff_s,
        backoff_max_s=settings.backoff_max_s,
        max_wait_s=settings.max_wait_s,
        seed=seed,
    )


__all__ = [
    "Alert",
    "Channel",
    "DeliveryError",
    "DeliveryReport",
    "EnqueueReport",
    "Expectation",
    "Performance",
    "PermanentDeliveryError",
    "RateLimiter",
    "RetryPolicy",
    "TelegramChannel",
    "TransientDeliveryError",
    "WebhookChannel",
    "channels_from_settings",
    "deliver_pending",
    "delivery_summary",
    "enqueue",
    "fill_outcomes",
    "live_statistics",
    "performance",
    "policy_from_settings",
    "render_html",
    "render_plain",
    "retry_failed",
]
