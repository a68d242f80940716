"""PostgreSQL-specific behaviour of :class:`PostgresStore` beyond the shared contract: placeholder
translation, result dtypes, chunked COPY staging, error wrapping and connection failures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import psycopg
import pytest
from store_builders import D1, bar, bars_batch, frame_of

from earnest.core import schemas
from earnest.core.errors import StoreError
from earnest.store import open_store
from earnest.store import postgres as pgstore
from earnest.store.postgres import PostgresStore, redact
from pg import with_database


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a = ? AND b IN (?, ?)", "SELECT * FROM t WHERE a = %s AND b IN (%s, %s)"),
        ("SELECT 1 WHERE s LIKE 'a%' AND x = ?", "SELECT 1 WHERE s LIKE 'a%%' AND x = %s"),
        (
            "SELECT 'what?', \"odd?col\", 5 % 2 WHERE x = ?",
            "SELECT 'what?', \"odd?col\", 5 %% 2 WHERE x = %s",
        ),
        ("SELECT 'it''s?' WHERE x = ?", "SELECT 'it''s?' WHERE x = %s"),
    ],
)
def test_placeholders_are_translated_outside_quotes(sql: str, expected: str) -> None:
    assert pgstore._translate(sql) == expected


REDACTED = {
    "postgresql://me:s3cret@db.internal:5432/earnest": "postgresql://me:***@db.internal:5432/earnest",
    "postgresql://me@db/earnest?sslmode=require": "postgresql://me@db/earnest?sslmode=require",
    "postgresql://me@db/e?password=abc&ssl=1": "postgresql://me@db/e?password=***&ssl=1",
    "host=db password='a b' dbname=x": "host=db password=*** dbname=x",
}


@pytest.mark.parametrize("url", sorted(REDACTED))
def test_passwords_are_redacted(url: str) -> None:
    assert redact(url) == REDACTED[url]


def test_an_unreachable_server_is_a_store_error_with_a_remedy(tmp_path: Path) -> None:
    url = f"postgresql://me:s3cret@/earnest?host={tmp_path}/no-server-here"
    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL store") as info:
        open_store(url)
    assert "s3cret" not in str(info.value)
    assert "postgresql://me:***@" in str(info.value)
    assert "server is running" in info.value.remedy


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresStore]:
    got = open_store(postgres_url)
    assert isinstance(got, PostgresStore)
    try:
        yield got
    finally:
        got.close()


@pytest.mark.postgres
def test_results_have_the_column_types_postgres_reports(store: PostgresStore) -> None:
    empty = store.query("SELECT * FROM bars WHERE symbol = ?", ["NOPE"])
    assert empty.schema == pl.Schema(schemas.BARS)  # columns and dtypes even with no rows
    store.ingest(bars_batch("a.csv", [bar(), bar(date=dt.date(2024, 7, 5), volume=3)]))
    got = store.query(
        "SELECT count(*) AS n, sum(volume) AS total, avg(volume) AS mean, max(version) AS v, "
        "true AS flag, TIMESTAMPTZ '2024-07-04 18:00:00+05:30' AS t, DATE '2024-07-04' AS d, "
        "1.25::numeric AS dec FROM bars, schema_migrations"
    )
    assert dict(got.schema) == {
        "n": pl.Int64,
        "total": pl.Int64,
        "mean": pl.Float64,
        "v": pl.Int32,
        "flag": pl.Boolean,
        "t": pl.Datetime("us", "UTC"),
        "d": pl.Date,
        "dec": pl.Float64,
    }
    versions = store.count("bars") * store.schema_version()
    assert got.row(0) == (
        versions,
        (1_000_000 + 3) * store.schema_version(),
        500_001.5,
        store.schema_version(),
        True,
        dt.datetime(2024, 7, 4, 12, 30, tzinfo=dt.UTC),
        D1,
        1.25,
    )


@pytest.mark.postgres
def test_staging_streams_large_frames_in_chunks(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pgstore, "COPY_CHUNK_ROWS", 7)
    rows = [bar(date=D1 + dt.timedelta(days=i), source_row=i + 2, delivery_qty=i or None) for i in range(50)]
    outcome = store.ingest(bars_batch("big.csv", rows))
    assert outcome.rows_stored == 50
    assert store.bars().equals(frame_of(schemas.BARS, rows))
    assert store.query("SELECT to_regclass('pg_temp.stage_bars') IS NULL AS gone").item() is True


@pytest.mark.postgres
def test_a_failed_statement_rolls_back_and_leaves_the_store_usable(store: PostgresStore) -> None:
    with pytest.raises(StoreError, match=r"SQLSTATE 23502.*not-null") as info:
        store.ingest(bars_batch("bad.csv", [bar(close=None)]))
    assert "rolled back" in info.value.remedy
    assert store.query("SELECT to_regclass('pg_temp.stage_bars') IS NULL AS gone").item() is True
    assert store.ingest(bars_batch("good.csv", [bar()])).rows_stored == 1
    with pytest.raises(StoreError, match="SQLSTATE 42703"):
        store.query("SELECT no_such_column FROM bars")
    assert store.count("bars") == 1


@pytest.mark.postgres
def test_a_lost_connection_is_a_store_error_and_reopening_recovers(postgres_url: str) -> None:
    store = open_store(postgres_url)
    store.ingest(bars_batch("a.csv", [bar()]))
    pid = store.query("SELECT pg_backend_pid() AS pid").item()
    with psycopg.connect(with_database(postgres_url, "postgres"), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(StoreError) as info:
        store.count("bars")
    assert "server is running" in info.value.remedy
    with pytest.raises(StoreError, match="PostgreSQL error"):
        store.ingest(bars_batch("b.csv", [bar(date=dt.date(2024, 7, 5))]))
    store.close()
    store.close()  # closing twice is harmless
    with open_store(postgres_url) as again:
        assert again.count("bars") == 1
