"""Contract: ingestion is exact, idempotent, merging, counted and atomic, on every backend."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from store_builders import (
    D1,
    D2,
    D3,
    KT,
    assert_same_tables,
    bar,
    bars_batch,
    finding_row,
    frame_of,
    quarantine_row,
    sha,
    snapshot,
)

from earnest.core import schemas
from earnest.core.errors import StoreError
from earnest.store import IngestBatch, SqlStore


def test_bars_round_trip_every_column_exactly(store: SqlStore) -> None:
    rows = [
        bar(),
        # Nulls in every nullable column, and a timestamp with microseconds.
        bar(
            instrument_id="NSE:NOISIN",
            isin=None,
            symbol="NOISIN",
            series="BE",
            last=None,
            prev_close=None,
            volume=None,
            turnover=None,
            trades=None,
            delivery_qty=None,
            source_row=None,
            knowledge_time=dt.datetime(2024, 7, 4, 12, 30, 0, 123456, tzinfo=dt.UTC),
        ),
        # Values that a text transfer could mangle: an empty string (not null), quotes, commas,
        # a newline, non-ASCII, floats needing 17 digits, very large and negative integers.
        bar(
            instrument_id="INE467B01029",
            isin="",
            symbol="M&M",
            date=D2,
            open=0.1 + 0.2,
            high=1e300,
            low=5e-324,
            close=123456789.123456789,
            last=-0.0,
            volume=2**62,
            trades=-1,
            delivery_qty=0,
            source_file='odd, "quoted"\nname – ₹.csv',
            source_row=2**40,
        ),
    ]
    expected = frame_of(schemas.BARS, rows)
    outcome = store.ingest(bars_batch("cm04JUL2024bhav.csv", rows))
    assert (outcome.rows_stored, outcome.rows_merged, outcome.rows_quarantined) == (3, 0, 0)
    got = store.read("bars", order_by=["date", "instrument_id"])
    assert got.schema == pl.Schema(schemas.BARS)
    assert_frame_equal(got, expected.sort("date", "instrument_id"))
    assert got.get_column("isin").to_list() == ["INE009A01021", None, ""]  # "" stays distinct from null


def test_timestamps_in_another_zone_are_stored_as_the_same_instant_in_utc(store: SqlStore) -> None:
    ist = dt.datetime(2024, 7, 4, 18, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    frame = frame_of(schemas.BARS, [bar()]).with_columns(
        pl.lit(ist).cast(pl.Datetime("us", "Asia/Kolkata")).alias("knowledge_time")
    )
    batch = IngestBatch(sha("ist"), "ist.csv", "bars", 1, tables={"bars": frame})
    store.ingest(batch)
    got = store.read("bars").get_column("knowledge_time").to_list()
    assert got == [dt.datetime(2024, 7, 4, 12, 30, tzinfo=dt.UTC)]


def test_same_file_again_is_skipped_and_adds_nothing(store: SqlStore) -> None:
    batch = bars_batch("a.csv", [bar(), bar(date=D2)], quarantine=[quarantine_row("a.csv", 4)])
    first = store.ingest(batch)
    before = snapshot(store)
    again = store.ingest(batch)
    assert not first.skipped
    assert again.skipped
    assert (again.rows_stored, again.rows_merged, again.rows_quarantined) == (0, 0, 0)
    assert store.file_seen(batch.sha256)
    assert_same_tables(snapshot(store), before)


def test_the_same_file_twice_in_one_call_is_written_once(store: SqlStore) -> None:
    batch = bars_batch("a.csv", [bar()])
    outcomes = store.ingest_many([batch, batch])
    assert [o.skipped for o in outcomes] == [False, True]
    assert store.count("bars") == 1
    assert store.count("ingested_files") == 1


def test_second_source_fills_nulls_but_never_overwrites_prices(store: SqlStore) -> None:
    store.ingest(bars_batch("legacy.csv", [bar(), bar(date=D2)]))
    udiff = [
        bar(date=D1, close=9999.0, open=1.0, delivery_qty=600_000, trades=1, source_file="udiff.csv"),
        bar(date=D3, delivery_qty=700_000, source_file="udiff.csv"),
    ]
    outcome = store.ingest(bars_batch("udiff.csv", udiff))
    assert (outcome.rows_stored, outcome.rows_merged, outcome.rows_quarantined) == (1, 1, 0)
    got = store.bars()
    assert got.get_column("date").to_list() == [D1, D2, D3]
    assert got.get_column("close").to_list() == [1510.0, 1510.0, 1510.0]
    assert got.get_column("open").to_list() == [1500.0, 1500.0, 1500.0]
    assert got.get_column("trades").to_list() == [42_000, 42_000, 42_000]  # not null before: kept
    assert got.get_column("delivery_qty").to_list() == [600_000, None, 700_000]
    assert got.get_column("source_file").to_list() == ["cm04JUL2024bhav.csv"] * 2 + ["udiff.csv"]
    files = store.read("ingested_files", where={"file_name": "udiff.csv"})
    assert files.select("rows_total", "rows_stored", "rows_merged", "rows_quarantined").row(0) == (2, 1, 1, 0)


def test_counts_must_add_up_or_nothing_is_written(store: SqlStore) -> None:
    batch = bars_batch("short.csv", [bar()], rows_total=2)
    with pytest.raises(
        StoreError, match=r"short\.csv: 2 data rows but 1 stored \+ 0 merged \+ 0 quarantined"
    ):
        store.ingest(batch)
    assert store.count("bars") == 0
    assert not store.file_seen(batch.sha256)


def _good_then(bad: IngestBatch) -> list[IngestBatch]:
    good = bars_batch(
        "good.csv",
        [bar(date=D2), bar(date=D3)],
        quarantine=[quarantine_row("good.csv", 4)],
    )
    good = dataclasses.replace(good, findings=frame_of(schemas.FINDINGS, [finding_row()]))
    return [good, bad]


BAD_BATCHES = {
    "count_mismatch": bars_batch("bad.csv", [bar(date=D3, symbol="X", instrument_id="X")], rows_total=5),
    "not_null_violation": bars_batch("bad.csv", [bar(instrument_id="Y", close=None)]),
}


@pytest.mark.parametrize("kind", sorted(BAD_BATCHES))
def test_ingest_many_is_all_or_nothing(store: SqlStore, kind: str) -> None:
    store.ingest(bars_batch("before.csv", [bar()], quarantine=[quarantine_row("before.csv", 3)]))
    before = snapshot(store)
    with pytest.raises(StoreError):
        store.ingest_many(_good_then(BAD_BATCHES[kind]))
    assert_same_tables(snapshot(store), before)
    assert store.count("bars") == 1
    assert not store.file_seen(sha("good.csv"))
    # The store is still usable after the failed transaction.
    store.ingest_many(_good_then(bars_batch("fine.csv", [bar(date=D1, instrument_id="Z")])))
    assert store.count("bars") == 4


def test_quarantine_and_findings_are_appended_never_merged(store: SqlStore) -> None:
    same_q = quarantine_row("x.csv", 5)
    for name in ("a.csv", "b.csv"):
        batch = bars_batch(name, [], quarantine=[same_q])
        batch = dataclasses.replace(batch, findings=frame_of(schemas.FINDINGS, [finding_row()]))
        outcome = store.ingest(batch)
        assert (outcome.rows_stored, outcome.rows_quarantined, outcome.rows_total) == (0, 1, 1)
    assert store.count("quarantine") == 2
    assert store.count("quality_findings") == 2
    got = store.read("quarantine")
    assert got.get_column("source_row").to_list() == [5, 5]
    assert got.get_column("quarantined_at").to_list() == [KT, KT]


@pytest.mark.parametrize("table", ["quarantine", "ingested_files", "no_such_table"])
def test_ingest_refuses_tables_it_must_not_write(store: SqlStore, table: str) -> None:
    batch = IngestBatch(sha("t"), "t.csv", "bars", 0, tables={table: frame_of(schemas.QUARANTINE, [])})
    with pytest.raises(StoreError, match="cannot ingest into table"):
        store.ingest(batch)
    assert store.count("ingested_files") == 0


def test_ingested_files_records_what_happened(store: SqlStore) -> None:
    store.ingest(
        bars_batch("a.csv", [bar()], quarantine=[quarantine_row("a.csv", 3), quarantine_row("a.csv", 4)])
    )
    got = store.read("ingested_files")
    assert got.drop("ingested_at").row(0, named=True) == {
        "sha256": sha("a.csv"),
        "file_name": "a.csv",
        "kind": "bars",
        "rows_total": 3,
        "rows_stored": 1,
        "rows_merged": 0,
        "rows_quarantined": 2,
        "code_version": "test",
    }
    ingested_at = got.get_column("ingested_at").item()
    assert ingested_at.tzinfo is not None
    assert abs(dt.datetime.now(dt.UTC) - ingested_at) < dt.timedelta(minutes=5)
