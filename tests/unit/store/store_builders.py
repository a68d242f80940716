"""Small frames for the store contract tests, built from row dicts with hand-checkable values."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.store import TABLES, IngestBatch, SqlStore

Opener = Callable[..., SqlStore]
"""``opener(migrate=True)`` opens a store on the test's URL (fixture ``open_url``)."""

D1, D2, D3 = dt.date(2024, 7, 4), dt.date(2024, 7, 5), dt.date(2024, 7, 8)
KT = dt.datetime(2024, 7, 4, 12, 30, tzinfo=dt.UTC)  # 18:00 IST, after the close


def frame_of(schema: schemas.Schema, rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """A frame with exactly ``schema``'s columns and dtypes; missing fields are null."""
    return pl.DataFrame([{c: row.get(c) for c in schema} for row in rows], schema=dict(schema))


def bar(**over: Any) -> dict[str, Any]:
    """One INFY bar on D1; keyword arguments override fields."""
    row: dict[str, Any] = {
        "exchange": "NSE",
        "instrument_id": "INE009A01021",
        "isin": "INE009A01021",
        "symbol": "INFY",
        "series": "EQ",
        "date": D1,
        "open": 1500.0,
        "high": 1520.5,
        "low": 1490.25,
        "close": 1510.0,
        "last": 1511.0,
        "prev_close": 1498.0,
        "volume": 1_000_000,
        "turnover": 1.5e9,
        "trades": 42_000,
        "delivery_qty": None,
        "knowledge_time": KT,
        "source_file": "cm04JUL2024bhav.csv",
        "source_row": 2,
    }
    row.update(over)
    return row


def quarantine_row(file_name: str, line: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "source_file": file_name,
        "source_sha256": sha(file_name),
        "source_row": line,
        "target": "bars",
        "field": "HIGH",
        "rule": "high_below_low",
        "reason": "HIGH 90.0 < LOW 99.0",
        "raw": "BAD,EQ,100,90,99,95",
        "quarantined_at": KT,
    }
    row.update(over)
    return row


def finding_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rule": "calendar_gap",
        "severity": "warning",
        "instrument_id": "INE009A01021",
        "symbol": "INFY",
        "date": D1,
        "detail": "no bar on a trading session",
        "source_file": "cm04JUL2024bhav.csv",
        "found_at": KT,
    }
    row.update(over)
    return row


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def bars_batch(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    quarantine: Sequence[Mapping[str, Any]] = (),
    rows_total: int | None = None,
    digest: str | None = None,
) -> IngestBatch:
    """A bars file's batch; ``rows_total`` defaults to data rows + quarantined rows."""
    total = len(rows) + len(quarantine) if rows_total is None else rows_total
    return IngestBatch(
        sha256=digest or sha(name),
        file_name=name,
        kind="bars",
        rows_total=total,
        tables={"bars": frame_of(schemas.BARS, rows)},
        quarantine=frame_of(schemas.QUARANTINE, quarantine),
        code_version="test",
    )


def snapshot(store: SqlStore) -> dict[str, pl.DataFrame]:
    """Every table's rows in a canonical order, to compare a store before and after."""
    out = {}
    for table in TABLES:
        frame = store.read(table)
        out[table] = frame.sort(frame.columns, nulls_last=True)
    return out


def assert_same_tables(got: Mapping[str, pl.DataFrame], expected: Mapping[str, pl.DataFrame]) -> None:
    """Two :func:`snapshot` results hold the same rows in every table."""
    assert sorted(got) == sorted(expected)
    for table, frame in expected.items():
        assert got[table].equals(frame), f"table {table} differs:\n{got[table]}\nexpected\n{frame}"
