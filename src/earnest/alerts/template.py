"""The alert message: what a reader of the Telegram chat (or of a webhook) sees.

Rendered from an alert's stored payload (:meth:`earnest.alerts.outbox.Alert.payload`), so a retry a
day later sends the same text. A message says: the signal and the symbol, the model's probability
(or score), the model name and version, the event behind it (type, when it became known, its
headline figures), the signal date, and short hashes of the run's receipt and of the alert itself.

:func:`render_html` writes Telegram's HTML parse mode: every value is escaped (``&``, ``<``, ``>``),
so a headline or symbol can never break the markup or inject a link. :func:`render_plain` is the
same text without markup, for the webhook's ``text`` field.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Mapping
from typing import Any

from earnest.core.calendar import IST

MAX_FIGURES = 10
"""Headline figures shown; more are summarised as ``(+N more)``."""

TELEGRAM_MAX_CHARS = 4096
"""Telegram's limit on a message's text (after entity parsing)."""

SHORT_HASH = 12
"""Characters of the receipt and alert hashes shown."""


def _fmt_value(value: Any) -> str:
    """A figure as text: floats with 4 significant digits, others as ``str``; null as ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _fmt_time(value: Any) -> str:
    """An ISO timestamp (as stored in the payload) in IST, to the minute; other text unchanged."""
    if not value:
        return "n/a"
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        return str(value)
    return when.astimezone(IST).strftime("%Y-%m-%d %H:%M IST")


def _lines(payload: Mapping[str, Any], *, esc: Callable[[str], str], bold: str, code: str) -> list[str]:
    """The message's lines; ``esc`` escapes text, ``bold``/``code`` are ``"b"``/``"code"`` or ``""``."""

    def tag(name: str, text: str) -> str:
        return f"<{name}>{text}</{name}>" if name else text

    prob = payload.get("probability")
    p_text = f"p = {_fmt_value(float(prob))}" if prob is not None else "score n/a"
    head = f"{esc(str(payload.get('signal', '?')))} {esc(str(payload.get('symbol', '?')))}"
    event = payload.get("event") or {}
    lines = [
        f"{tag(bold, head)}  {esc(p_text)}",
        f"Model: {tag(code, esc(str(payload.get('model_name', '?'))))} "
        f"v{esc(str(payload.get('model_version', '?')))}",
        f"Event: {esc(str(event.get('type', '?')))}, known {esc(_fmt_time(event.get('knowledge_time')))}",
    ]
    figures = list((event.get("figures") or {}).items())
    for name, value in figures[:MAX_FIGURES]:
        lines.append(f"  {esc(str(name))}: {esc(_fmt_value(value))}")
    if len(figures) > MAX_FIGURES:
        lines.append(f"  (+{len(figures) - MAX_FIGURES} more)")
    receipt = str(payload.get("receipt_hash") or "")[:SHORT_HASH] or "n/a"
    alert = str(payload.get("alert_id") or "")[:SHORT_HASH] or "n/a"
    lines.append(f"Signal date: {esc(str(payload.get('signal_date', '?')))}")
    lines.append(f"Receipt {tag(code, esc(receipt))} · alert {tag(code, esc(alert))}")
    return lines


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def render_html(payload: Mapping[str, Any]) -> str:
    """The alert as Telegram HTML (``parse_mode="HTML"``), every value escaped; at most
    :data:`TELEGRAM_MAX_CHARS` characters (figures are dropped first, never markup cut in half)."""
    text = "\n".join(_lines(payload, esc=_escape, bold="b", code="code"))
    if len(text) > TELEGRAM_MAX_CHARS:
        short = {**payload, "event": {**(payload.get("event") or {}), "figures": {}}}
        text = "\n".join(_lines(short, esc=_escape, bold="b", code="code"))
    if len(text) > TELEGRAM_MAX_CHARS:  # absurdly long names: plain text, cut before escaping
        text = _escape(render_plain(payload)[: TELEGRAM_MAX_CHARS // 5 - 1] + "…")  # "&amp;" is 5 chars
    return text


def render_plain(payload: Mapping[str, Any]) -> str:
    """The alert as plain text (the webhook's ``text``): the same lines without markup or escaping."""
    return "\n".join(_lines(payload, esc=lambda s: s, bold="", code=""))


__all__ = ["MAX_FIGURES", "SHORT_HASH", "TELEGRAM_MAX_CHARS", "render_html", "render_plain"]
