"""Bulk ingest on both backends: engine-specific migration statements, the bars indexes each
engine keeps, the key constraint still refusing duplicates, and the batch lookup of known files."""

from __future__ import annotations

import pytest
from store_builders import D1, D2, bar, bars_batch, sha

from earnest.core.errors import StoreError
from earnest.store import SqlStore
from earnest.store.base import _split_sql

SCRIPT = """
-- a comment; with a semicolon
CREATE TABLE a (x INTEGER);
-- dialect: duckdb
CREATE INDEX a_x ON a (x);
-- dialect: postgresql
CREATE INDEX a_y ON a (x);
INSERT INTO a VALUES (1); INSERT INTO a VALUES (2)
"""


def test_a_dialect_mark_limits_the_next_statement_to_that_engine() -> None:
    common = ["CREATE TABLE a (x INTEGER)", "INSERT INTO a VALUES (1)", "INSERT INTO a VALUES (2)"]
    duck = _split_sql(SCRIPT, dialect="duckdb")
    pg = _split_sql(SCRIPT, dialect="postgresql")
    assert duck == [common[0], "CREATE INDEX a_x ON a (x)", *common[1:]]
    assert pg == [common[0], "CREATE INDEX a_y ON a (x)", *common[1:]]


def _bars_indexes(store: SqlStore) -> set[str]:
    if store.dialect == "duckdb":
        got = store.query("SELECT index_name AS name FROM duckdb_indexes() WHERE table_name = 'bars'")
    else:
        got = store.query("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'bars'")
    return {n for n in got.get_column("name").to_list() if n in {"bars_date_idx", "bars_symbol_idx"}}


def test_duckdb_drops_the_secondary_bars_indexes_postgresql_keeps_them(store: SqlStore) -> None:
    want = set() if store.dialect == "duckdb" else {"bars_date_idx", "bars_symbol_idx"}
    assert _bars_indexes(store) == want


def test_the_bars_key_still_refuses_a_duplicate(store: SqlStore) -> None:
    store.ingest(bars_batch("a.csv", [bar()]))
    with pytest.raises(StoreError):
        store._execute(
            "INSERT INTO bars (exchange, instrument_id, symbol, series, date, open, high, low, close, "
            "knowledge_time, source_file) SELECT exchange, instrument_id, symbol, series, date, open, high, "
            "low, close, knowledge_time, source_file FROM bars"
        )
    assert store.count("bars") == 1


def test_new_keys_and_merged_keys_in_one_call_are_counted_apart(store: SqlStore) -> None:
    store.ingest(bars_batch("a.csv", [bar(date=D1, volume=None)]))
    first, second = store.ingest_many(
        [
            bars_batch("b.csv", [bar(date=D1, volume=7), bar(date=D2)]),
            bars_batch("c.csv", [bar(date=D2, symbol="INFY", volume=9)]),
        ]
    )
    assert (first.rows_stored, first.rows_merged) == (1, 1)
    assert (second.rows_stored, second.rows_merged) == (0, 1)
    rows = store.bars().select("date", "volume").rows()
    assert rows == [(D1, 7), (D2, 1_000_000)]  # the null filled, the stored volume kept


def test_files_seen_answers_for_many_hashes_at_once(store: SqlStore) -> None:
    store.ingest_many([bars_batch("a.csv", [bar()]), bars_batch("b.csv", [bar(date=D2)])])
    assert store.files_seen([sha("a.csv"), sha("x.csv"), sha("b.csv")]) == {sha("a.csv"), sha("b.csv")}
    assert store.files_seen([]) == set()
