"""Test doubles for the outbox: a fake clock whose sleep moves time, and scripted channels."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from earnest.alerts import Alert, PermanentDeliveryError, TransientDeliveryError

T0 = dt.datetime(2024, 1, 2, 12, 0, tzinfo=dt.UTC)


@dataclass
class FakeClock:
    """``now`` advances only by ``sleep`` (and ``advance``); every sleep is recorded."""

    now: dt.datetime = T0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class CrashError(RuntimeError):
    """The process dies (a bug, a kill) in the middle of a batch."""


@dataclass
class ScriptedChannel:
    """Answers each send with the next scripted item: ``"ok"``, an int status (429/5xx/4xx),
    ``("429", retry_after)``, ``"crash-before"`` (dies before sending) or ``"crash-after"`` (the
    provider got it, then the process dies). Past the script every send is ``"ok"``."""

    name: str = "telegram"
    script: list[Any] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    tried_at: list[dt.datetime] = field(default_factory=list)
    clock: FakeClock | None = None

    def send(self, alert_id: str, payload: Mapping[str, Any]) -> str | None:
        if self.clock is not None:
            self.tried_at.append(self.clock())
        step = self.script.pop(0) if self.script else "ok"
        if step == "crash-before":
            raise CrashError("killed before the send")
        if isinstance(step, tuple):
            raise TransientDeliveryError("429 too many requests", retry_after_s=float(step[1]))
        if isinstance(step, int):
            if step >= 500 or step == 429:
                raise TransientDeliveryError(f"answered {step}")
            raise PermanentDeliveryError(f"answered {step}: chat not found")
        self.delivered.append(alert_id)
        if step == "crash-after":
            raise CrashError("killed after the provider accepted the message")
        return f"m{len(self.delivered)}"


def make_alert(symbol: str = "INFY", *, event_id: str = "ev1", version: str = "3", **kw: Any) -> Alert:
    base: dict[str, Any] = {
        "model_name": "blockbuster",
        "model_version": version,
        "symbol": symbol,
        "signal_date": dt.date(2024, 1, 2),
        "event_id": event_id,
        "signal": "BUY",
        "probability": 0.73,
        "knowledge_time": T0,
        "figures": {"pat_yoy": 0.54, "revenue_yoy": 0.221},
        "receipt_hash": "ab" * 32,
    }
    base.update(kw)
    return Alert(**base)
