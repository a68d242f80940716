"""Builders for hand-made parsed files (no reader involved), shared by the quality tests."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.sources.base import ParsedFile
from earnest.store.base import TABLES, IngestBatch

DAY = dt.date(2024, 7, 5)  # a Friday, an NSE session
TODAY = dt.date(2024, 7, 10)


def bar(**over: Any) -> dict[str, Any]:
    """One valid NSE equity bar for INFY on DAY; override any field."""
    row: dict[str, Any] = {
        "exchange": "NSE",
        "isin": "INE009A01021",
        "symbol": "INFY",
        "series": "EQ",
        "date": DAY,
        "open": 100.0,
        "high": 105.0,
        "low": 99.0,
        "close": 104.0,
        "last": 104.0,
        "prev_close": 100.0,
        "volume": 1000,
        "turnover": 104000.0,
        "trades": 50,
        "delivery_qty": 400,
    }
    row.update(over)
    return row


def parsed_file(
    rows: Sequence[Mapping[str, Any]],
    *,
    target: str = "bars",
    name: str = "cm05JUL2024bhav.csv",
    kind: str = "nse_bhavcopy_legacy",
    rejects: pl.DataFrame | None = None,
) -> ParsedFile:
    """A ParsedFile whose rows are on lines 2, 3, ... (after the reader's rejects, if any)."""
    schema = TABLES[target]
    rej = rejects if rejects is not None else schemas.empty(schemas.QUARANTINE)
    filled = []
    for i, r in enumerate(rows):
        full = dict(r)
        full.setdefault("source_row", i + 2)
        full.setdefault("source_file", name)
        if "knowledge_time" in schema:
            day = full.get("date") or full.get("effective_date") or full.get("ex_date") or DAY
            full.setdefault("knowledge_time", eod_known_utc(day))
        filled.append(full)
    frame = (
        schemas.conform(pl.DataFrame(filled, infer_schema_length=None), schema)
        if filled
        else schemas.empty(schema)
    )
    if "source_row" not in schema and filled:
        # targets whose table has no line column: the reader may keep the line as an extra column
        frame = frame.with_columns(pl.Series("source_row", [r["source_row"] for r in filled], dtype=pl.Int64))
    sha = hashlib.sha256(f"{name}{len(rows)}{rows!r}".encode()).hexdigest()
    return ParsedFile(
        name=name,
        sha256=sha,
        kind=kind,
        target=target,
        rows_total=frame.height + rej.height,
        frame=frame,
        rejects=rej,
        session_date=DAY,
    )


def frame_of(schema: schemas.Schema, rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    if not rows:
        return schemas.empty(schema)
    return schemas.conform(pl.DataFrame(list(rows), infer_schema_length=None), schema)


def quarantined(batch: IngestBatch) -> list[tuple[int | None, str | None, str, str]]:
    """(line, field, rule, reason) of every quarantined row, in line order."""
    q = batch.quarantine.sort("source_row")
    return list(zip(q["source_row"], q["field"], q["rule"], q["reason"], strict=True))
