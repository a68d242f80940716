"""The ``signals`` table: the day's scored universe, written by the daily pipeline and read by
``GET /v1/signals``; and the alert outbox (table ``alerts``) read by ``GET /v1/alerts``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.store.base import Store


def write_signals(store: Store, rows: Sequence[Mapping[str, Any]]) -> int:
    """Upsert signals (dicts with the :data:`earnest.core.schemas.SIGNALS` columns; ``features``
    and ``receipt`` may be given as dicts instead of ``*_json`` text). Returns the rows added."""
    out = []
    now = dt.datetime.now(dt.UTC)
    for row in rows:
        r = dict(row)
        if "features" in r:
            r["features_json"] = json.dumps(r.pop("features"), sort_keys=True)
        if "receipt" in r:
            r["receipt_json"] = json.dumps(r.pop("receipt"), sort_keys=True)
        r.setdefault("created_at", now)
        out.append({c: r.get(c) for c in schemas.SIGNALS})
    if not out:
        return 0
    return store.upsert("signals", pl.DataFrame(out, schema=schemas.SIGNALS))


def latest_signal_date(store: Store, *, model_name: str | None = None) -> dt.date | None:
    """The newest date with signals (of ``model_name`` when given)."""
    sql, params = "SELECT max(date) AS d FROM signals", []
    if model_name is not None:
        sql += " WHERE model_name = ?"
        params.append(model_name)
    got = store.query(sql, params)
    value = got.item(0, 0) if got.height else None
    return value if isinstance(value, dt.date) else None


def read_signals(
    store: Store, day: dt.date, *, model_name: str | None = None, min_score: float | None = None
) -> list[dict[str, Any]]:
    """The signals of ``day`` (of ``model_name``; scoring at least ``min_score``), best first, with
    ``features`` and ``receipt`` parsed from their JSON text."""
    where: dict[str, Any] = {"date": day}
    if model_name is not None:
        where["model_name"] = model_name
    frame = store.read("signals", where=where)
    if min_score is not None:
        frame = frame.filter(pl.col("score") >= min_score)
    frame = frame.sort(["score", "symbol"], descending=[True, False], nulls_last=True)
    out = []
    for r in frame.iter_rows(named=True):
        out.append(
            {
                "date": r["date"],
                "symbol": r["symbol"],
                "isin": r["isin"],
                "model_name": r["model_name"],
                "model_version": r["model_version"],
                "score": r["score"],
                "features": json.loads(r["features_json"]),
                "receipt": json.loads(r["receipt_json"]),
            }
        )
    return out


def latest_alert_date(store: Store) -> dt.date | None:
    """The newest ``signal_date`` in the alert outbox (table ``alerts``, :mod:`earnest.alerts`)."""
    got = store.query("SELECT max(signal_date) AS d FROM alerts")
    value = got.item(0, 0) if got.height else None
    return value if isinstance(value, dt.date) else None


def read_alerts(store: Store, day: dt.date) -> list[dict[str, Any]]:
    """The alerts of signal date ``day`` from the outbox, most probable first (payload left out)."""
    frame = store.read("alerts", where={"signal_date": day}).drop("payload_json")
    frame = frame.sort(["probability", "symbol"], descending=[True, False], nulls_last=True)
    return frame.to_dicts()


__all__ = ["latest_alert_date", "latest_signal_date", "read_alerts", "read_signals", "write_signals"]
