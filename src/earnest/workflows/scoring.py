"""The daily pipeline's last two stages: score the day's events with the production model, and
turn high scores into alerts.

Scoring rebuilds the model's inputs exactly as training did: the registered training config names
the hypothesis (event type and selector) and the features; the day's events get the same event
fields and the same registered features computed as known at each event's knowledge time
(:func:`earnest.workflows.lab.with_feature_fields`, the one feature path). Scores go to the
``signals`` table (one row per day, symbol and model; re-running replaces them).

Alerts: every signal of the day at or above the threshold becomes an :class:`earnest.alerts.Alert`
(its id is a hash of model, version, symbol, date and event, so a re-run never duplicates it), is
put in the outbox for each configured channel and delivered with retries; a send that fails stays
pending for the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from earnest.alerts import Alert, deliver_pending, enqueue
from earnest.alerts.outbox import Channel, RetryPolicy
from earnest.core import schemas
from earnest.core.errors import NotFoundError
from earnest.core.receipt import code_version
from earnest.lab.samples import select_events
from earnest.lab.spec import Period
from earnest.models.config import train_config_from_dict
from earnest.workflows.daily import DailyContext, Stage, StageOutcome, day_events
from earnest.workflows.lab import results_events, with_feature_fields

__all__ = ["alert_stage", "score_day", "score_stage"]


def _scored_events(ctx: DailyContext, config: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """The day's events the model's hypothesis selects, with the model's features as known then."""
    cfg = train_config_from_dict(config, source="registered train config")
    h = cfg.hypothesis
    news = day_events(ctx)
    if news.is_empty():
        return news, list(cfg.dataset.features)
    keys = news.select("symbol", "knowledge_time").unique()
    events = results_events(ctx.store, symbols=sorted(set(keys.get_column("symbol").to_list())))
    events = events.join(keys, on=["symbol", "knowledge_time"], how="inner")
    live = h.model_copy(update={"period": Period(start=ctx.day - dt.timedelta(days=7), end=ctx.day)})
    events = with_feature_fields(ctx.store, live, events, extra=cfg.dataset.features)
    _, selected = select_events(live, events)
    return selected, list(cfg.dataset.features)


def score_day(ctx: DailyContext, *, registry: Any, model_name: str) -> StageOutcome:
    """Score the day's selected events with ``model_name``'s production version (see the module)."""
    try:
        loaded = registry.production(model_name)
    except NotFoundError as exc:
        return StageOutcome(
            status="skipped",
            reason=f"{exc.message}: set EARNEST_DAILY__MODEL_NAME (daily.model_name) to a registered model",
        )
    if loaded is None:
        return StageOutcome(status="skipped", reason=f"no production version of model {model_name!r}")
    config = registry.config(model_name, version=loaded.version)
    if config is None:
        return StageOutcome(
            status="skipped", reason=f"model {model_name!r} v{loaded.version} has no train config"
        )
    events, features = _scored_events(ctx, config)
    if events.is_empty():
        return StageOutcome(detail={"model": model_name, "version": loaded.version, "scored": 0})
    scores = np.asarray(loaded.predict_scores(events.select(features)), dtype=np.float64)
    receipt = {
        "model": model_name,
        "version": loaded.version,
        "code_version": code_version(),
        "day": str(ctx.day),
    }
    rows = [
        {
            "date": ctx.day,
            "symbol": r["symbol"],
            "isin": r.get("isin"),
            "model_name": model_name,
            "model_version": str(loaded.version),
            "score": float(s),
            "features_json": json.dumps(
                {f: r.get(f) for f in features}
                | {"event_id": r.get("event_id"), "knowledge_time": str(r["knowledge_time"])},
                sort_keys=True,
                default=str,
            ),
            "receipt_json": json.dumps(receipt, sort_keys=True),
            "created_at": dt.datetime.now(dt.UTC),
        }
        for r, s in zip(events.to_dicts(), scores, strict=True)
    ]
    frame = pl.DataFrame(rows, schema=schemas.SIGNALS).unique(["date", "symbol", "model_name"], keep="last")
    ctx.store.upsert("signals", frame)
    return StageOutcome(
        detail={
            "model": model_name,
            "version": loaded.version,
            "scored": frame.height,
            "max_score": float(scores.max()),
        }
    )


def score_stage(*, registry: Any, model_name: str) -> Stage:
    """The scoring stage for :func:`earnest.workflows.daily.run_daily`."""
    return lambda ctx: score_day(ctx, registry=registry, model_name=model_name)


def _alerts(signals: pl.DataFrame) -> list[Alert]:
    out = []
    for r in signals.to_dicts():
        feats = json.loads(r["features_json"] or "{}")
        known = dt.datetime.fromisoformat(str(feats.get("knowledge_time")))
        out.append(
            Alert(
                model_name=r["model_name"],
                model_version=str(r["model_version"]),
                symbol=r["symbol"],
                signal_date=r["date"],
                event_id=str(feats.get("event_id") or f"{r['symbol']}:{r['date']}"),
                signal="BUY",
                probability=float(r["score"]) if 0.0 <= r["score"] <= 1.0 else None,
                knowledge_time=known if known.tzinfo else known.replace(tzinfo=dt.UTC),
                figures={k: v for k, v in feats.items() if k not in {"event_id", "knowledge_time"}},
            )
        )
    return out


def alert_stage(
    *,
    model_name: str,
    threshold: float,
    channels: Sequence[Channel],
    policy: RetryPolicy | None = None,
    rate_limit_per_minute: int = 20,
) -> Stage:
    """The alerting stage: the day's signals of ``model_name`` scored at or above ``threshold``
    into the outbox for ``channels``, then every due delivery sent."""

    def run(ctx: DailyContext) -> StageOutcome:
        if not channels:
            return StageOutcome(status="skipped", reason="no alert channel configured (Telegram or webhook)")
        signals = ctx.store.read("signals", where={"date": [ctx.day], "model_name": [model_name]})
        chosen = signals.filter(pl.col("score") >= threshold)
        queued = enqueue(ctx.store, _alerts(chosen), channels=[c.name for c in channels])
        report = deliver_pending(
            ctx.store, channels, policy=policy, rate_limit_per_minute=rate_limit_per_minute
        )
        return StageOutcome(
            detail={
                "signals": signals.height,
                "above_threshold": chosen.height,
                "alerts_new": queued.alerts_new,
                "sent": len(report.sent),
                "deferred": len(report.deferred),
                "failed": len(report.failed),
            }
        )

    return run
