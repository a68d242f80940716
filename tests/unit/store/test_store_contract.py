"""Contract: schema migrations, typed reads, upsert rules and persistence, on every backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from store_builders import D1, D2, D3, KT, Opener, bar, bars_batch, frame_of, snapshot

from earnest.core import schemas
from earnest.core.errors import MigrationError, StoreError
from earnest.store import LATEST_VERSION, TABLES, SqlStore, Store
from earnest.store.base import migrations


def test_migrate_from_empty_reaches_latest_version_and_is_idempotent(open_url: Opener) -> None:
    store = open_url(migrate=False)
    assert store.schema_version() == 0
    assert store.migrate() == LATEST_VERSION
    assert store.migrate() == LATEST_VERSION
    applied = store.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied.rows() == [(v, name) for v, name, _ in migrations()]
    for table in TABLES:
        assert store.count(table) == 0
        assert store.read(table).schema == pl.Schema(TABLES[table])
    assert isinstance(store, Store)


def test_a_store_from_a_newer_earnest_is_refused(open_url: Opener) -> None:
    store = open_url()
    store._execute(
        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
        (LATEST_VERSION + 1, "from_the_future", dt.datetime.now(dt.UTC)),
    )
    with pytest.raises(MigrationError, match=f"schema version {LATEST_VERSION + 1}, newer than") as info:
        store.migrate()
    assert "upgrade earnest" in info.value.remedy
    with pytest.raises(MigrationError):
        open_url()


def test_data_survives_close_and_reopen(open_url: Opener) -> None:
    store = open_url()
    store.ingest(bars_batch("a.csv", [bar(), bar(date=D2, delivery_qty=7)]))
    before = snapshot(store)
    store.close()
    again = open_url()
    assert again.schema_version() == LATEST_VERSION
    assert again.file_seen(bars_batch("a.csv", []).sha256)
    after = snapshot(again)
    for table, frame in before.items():
        assert after[table].equals(frame), table


def _three_instruments(store: SqlStore) -> None:
    rows = [
        bar(),
        bar(date=D2),
        bar(instrument_id="INE467B01029", isin="INE467B01029", symbol="TCS", date=D2, series="BE"),
        bar(instrument_id="NSE:NOISIN", isin=None, symbol="NOISIN", date=D3),
        bar(exchange="BSE", instrument_id="INE009A01021", symbol="500209", date=D1),
    ]
    store.ingest(bars_batch("f.csv", rows))


WHERE_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({"symbol": "TCS"}, ["TCS"]),
    ({"symbol": ["TCS", "NOISIN", "NOPE"]}, ["NOISIN", "TCS"]),
    ({"symbol": ("INFY",), "exchange": "NSE"}, ["INFY", "INFY"]),
    ({"isin": None}, ["NOISIN"]),
    ({"date": D2, "series": "EQ"}, ["INFY"]),
    ({"symbol": []}, []),
    ({}, ["500209", "INFY", "INFY", "NOISIN", "TCS"]),
]


def test_read_filters_by_scalars_lists_and_nulls(store: SqlStore) -> None:
    _three_instruments(store)
    for where, symbols in WHERE_CASES:
        got = store.read("bars", where=where, order_by=["symbol", "date"])
        assert got.schema == pl.Schema(schemas.BARS), where
        assert got.get_column("symbol").to_list() == symbols, where


def test_read_rejects_unknown_tables_and_columns(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="unknown table 'nope'") as info:
        store.read("nope")
    assert "bars" in info.value.remedy
    with pytest.raises(StoreError, match="table bars has no column 'price'"):
        store.read("bars", where={"price": 1.0})
    with pytest.raises(StoreError, match="unknown table"):
        store.count("nope")


def test_bars_filters_and_orders_by_exchange_instrument_series_date(store: SqlStore) -> None:
    _three_instruments(store)
    got = store.bars()
    assert got.schema == pl.Schema(schemas.BARS)
    keys = got.select("exchange", "instrument_id", "series", "date").rows()
    assert keys == [
        ("BSE", "INE009A01021", "EQ", D1),
        ("NSE", "INE009A01021", "EQ", D1),
        ("NSE", "INE009A01021", "EQ", D2),
        ("NSE", "INE467B01029", "BE", D2),
        ("NSE", "NSE:NOISIN", "EQ", D3),
    ]
    assert store.bars(symbols=["TCS", "NOISIN"]).get_column("symbol").to_list() == ["TCS", "NOISIN"]
    assert store.bars(instrument_ids=["INE009A01021"], exchange="NSE").get_column("date").to_list() == [
        D1,
        D2,
    ]
    assert store.bars(start=D2, end=D2).get_column("symbol").to_list() == ["INFY", "TCS"]
    assert store.bars(start=D2).height == 3
    assert store.bars(end=D1).get_column("exchange").to_list() == ["BSE", "NSE"]
    assert store.bars(series=["BE"]).get_column("symbol").to_list() == ["TCS"]
    assert store.bars(exchange="BSE").get_column("symbol").to_list() == ["500209"]
    empty = store.bars(symbols=[])
    assert empty.is_empty()
    assert empty.schema == pl.Schema(schemas.BARS)
    assert store.bars(symbols=["NOPE"]).is_empty()


def _instrument(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "instrument_id": "INE000A01011",
        "isin": None,
        "exchange": "NSE",
        "symbol": "OLDNAME",
        "name": None,
        "series": "EQ",
        "status": "listed",
        "first_seen": dt.date(2024, 1, 10),
        "last_seen": dt.date(2024, 3, 1),
        "source": "bhavcopy",
    }
    row.update(over)
    return row


def _upsert_instrument(store: SqlStore, **over: Any) -> dict[str, Any]:
    store.upsert("instruments", frame_of(schemas.INSTRUMENTS, [_instrument(**over)]))
    got = store.read("instruments", where={"instrument_id": "INE000A01011"})
    assert got.height == 1
    return got.row(0, named=True)


def test_instruments_upsert_keeps_the_widest_span_and_the_latest_symbol(store: SqlStore) -> None:
    first = _upsert_instrument(store, first_seen=None)
    assert (first["symbol"], first["first_seen"], first["status"]) == ("OLDNAME", None, "listed")
    # Later sighting under a new symbol, with a name and ISIN; status unknown must not downgrade.
    got = _upsert_instrument(
        store,
        symbol="NEWNAME",
        name="Acme Ltd",
        isin="INE000A01011",
        first_seen=dt.date(2024, 1, 5),
        last_seen=dt.date(2024, 6, 1),
        status="unknown",
    )
    assert got["symbol"] == "NEWNAME"
    assert (got["first_seen"], got["last_seen"]) == (dt.date(2024, 1, 5), dt.date(2024, 6, 1))
    assert (got["name"], got["isin"], got["status"]) == ("Acme Ltd", "INE000A01011", "listed")
    # An older file seen afterwards: span widens, symbol and filled fields stay, real status applies.
    got = _upsert_instrument(
        store,
        symbol="OLDEST",
        name="Other Name",
        first_seen=dt.date(2023, 12, 1),
        last_seen=dt.date(2024, 2, 1),
        status="delisted",
    )
    assert got["symbol"] == "NEWNAME"
    assert (got["first_seen"], got["last_seen"]) == (dt.date(2023, 12, 1), dt.date(2024, 6, 1))
    assert (got["name"], got["status"]) == ("Acme Ltd", "delisted")
    # No last_seen in the new row: the symbol cannot be newer and stays.
    got = _upsert_instrument(store, symbol="UNDATED", first_seen=None, last_seen=None, status="unknown")
    assert (got["symbol"], got["status"], got["last_seen"]) == ("NEWNAME", "delisted", dt.date(2024, 6, 1))
    assert store.count("instruments") == 1


def test_upsert_counts_only_inserted_rows(store: SqlStore) -> None:
    frame = frame_of(schemas.INSTRUMENTS, [_instrument(), _instrument(instrument_id="INE111A01011")])
    assert store.upsert("instruments", frame) == 2
    assert store.upsert("instruments", frame) == 0
    assert store.count("instruments") == 2


def _action(action_id: str, status: str = "inferred") -> dict[str, Any]:
    return {
        "action_id": action_id,
        "exchange": "NSE",
        "symbol": "INFY",
        "ex_date": D2,
        "action_type": "split",
        "ratio_new": 2.0,
        "ratio_old": 1.0,
        "price_factor": 0.5,
        "source": "inferred",
        "status": status,
        "knowledge_time": KT,
    }


def test_set_action_status_confirms_by_id(store: SqlStore) -> None:
    store.upsert("corporate_actions", frame_of(schemas.CORPORATE_ACTIONS, [_action("a1"), _action("a2")]))
    assert store.set_action_status(["a1", "missing"], "confirmed") == 1
    got = store.read("corporate_actions", order_by=["action_id"])
    assert got.get_column("status").to_list() == ["confirmed", "inferred"]
    assert store.set_action_status([], "rejected") == 0
    with pytest.raises(StoreError, match="unknown action status 'maybe'"):
        store.set_action_status(["a2"], "maybe")
    assert (
        store.read("corporate_actions", where={"action_id": "a2"}).get_column("status").item() == "inferred"
    )


def test_count_matches_rows(store: SqlStore) -> None:
    assert store.count("bars") == 0
    _three_instruments(store)
    assert store.count("bars") == 5
    assert store.count("ingested_files") == 1


def _nested_upsert_then_fail(store: SqlStore, frame: pl.DataFrame) -> None:
    with store.transaction():
        with store.transaction():
            store.upsert("instruments", frame)
        assert store.count("instruments") == 1  # visible inside the outer transaction
        raise RuntimeError("abort the outer transaction")


def test_nested_transactions_join_the_outer_one(store: SqlStore) -> None:
    frame = frame_of(schemas.INSTRUMENTS, [_instrument()])
    with pytest.raises(RuntimeError, match="abort the outer"):
        _nested_upsert_then_fail(store, frame)
    assert store.count("instruments") == 0
    with store.transaction(), store.transaction():
        store.upsert("instruments", frame)
    assert store.count("instruments") == 1


def test_query_takes_placeholders_and_literal_percent_signs(store: SqlStore) -> None:
    _three_instruments(store)
    got = store.query(
        "SELECT symbol, '100%' AS pct FROM bars WHERE symbol LIKE 'IN%' AND date = ? ORDER BY exchange",
        [D1],
    )
    assert got.rows() == [("INFY", "100%")]
    empty = store.query("SELECT symbol, date FROM bars WHERE symbol = ?", ["NOPE"])
    assert empty.columns == ["symbol", "date"]
    assert empty.schema["date"] == pl.Date
    with pytest.raises(StoreError):
        store.query("SELECT no_such_column FROM bars")
    assert store.count("bars") == 5  # still usable after a failed statement
