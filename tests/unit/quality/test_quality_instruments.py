"""Instrument resolution: ISIN, symbol history by date, the instruments master, fallback ids."""

from __future__ import annotations

import datetime as dt

import polars as pl
from quality_builders import bar, frame_of, parsed_file

from earnest.core import schemas
from earnest.quality.instruments import rename_closure, resolve_instruments

INFY = "INE009A01021"


def master(symbol: str, isin: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {"instrument_id": isin, "isin": isin, "exchange": "NSE", "symbol": symbol}
    row.update(status="listed", source="nse_equity_master")
    row.update(over)
    return row


def change(old: str, new: str, day: dt.date) -> dict[str, object]:
    return {"old_symbol": old, "new_symbol": new, "change_date": day, "source": "nse_symbolchange"}


RENAME = change("INFOSYSTCH", "INFY", dt.date(2011, 6, 1))


def resolve(rows: list[dict[str, object]], instruments=(), changes=()) -> pl.DataFrame:
    return resolve_instruments(
        parsed_file(rows).frame,
        instruments=frame_of(schemas.INSTRUMENTS, list(instruments)),
        symbol_changes=frame_of(schemas.SYMBOL_CHANGES, list(changes)),
    )


def test_the_rows_own_isin_wins() -> None:
    got = resolve([bar(symbol="ANYTHING", isin=INFY)], instruments=[master("ANYTHING", "INE000000000")])
    assert got.select("instrument_id", "resolved").row(0) == (INFY, True)


def test_an_old_symbol_before_the_rename_maps_to_the_current_isin() -> None:
    rows = [
        bar(symbol="INFOSYSTCH", isin=None, date=dt.date(2011, 5, 31)),
        bar(symbol="INFY", isin=None, date=dt.date(2011, 6, 1)),
    ]
    got = resolve(rows, instruments=[master("INFY", INFY)], changes=[RENAME])
    assert got["instrument_id"].to_list() == [INFY, INFY]
    assert got["current_symbol"].to_list() == ["INFY", "INFY"]
    assert got["symbol"].to_list() == ["INFOSYSTCH", "INFY"]  # the row keeps its own symbol
    assert got["isin"].to_list() == [INFY, INFY]


def test_the_old_symbol_on_or_after_the_change_date_is_not_mapped() -> None:
    # NSE may give a retired ticker to another company: from the change date on, it is not INFY
    rows = [bar(symbol="INFOSYSTCH", isin=None, date=dt.date(2011, 6, 1))]
    got = resolve(rows, instruments=[master("INFY", INFY)], changes=[RENAME])
    assert got.select("instrument_id", "current_symbol", "resolved").row(0) == (
        "NSE:INFOSYSTCH",
        "INFOSYSTCH",
        False,
    )


def test_chains_of_renames_are_followed_in_date_order() -> None:
    changes = [change("A", "B", dt.date(2010, 1, 4)), change("B", "C", dt.date(2015, 1, 5))]
    rows = [
        bar(symbol="A", isin=None, date=dt.date(2009, 1, 5)),  # A -> B -> C
        bar(symbol="B", isin=None, date=dt.date(2012, 1, 5)),  # B -> C
        bar(symbol="C", isin=None, date=dt.date(2016, 1, 5)),
        bar(symbol="B", isin=None, date=dt.date(2016, 1, 5)),  # B after its rename: not C
    ]
    got = resolve(rows, instruments=[master("C", "INE00000000C")], changes=changes)
    assert got["current_symbol"].to_list() == ["C", "C", "C", "B"]
    assert got["instrument_id"].to_list() == ["INE00000000C"] * 3 + ["NSE:B"]


def test_a_name_given_back_later_does_not_loop() -> None:
    changes = [change("A", "B", dt.date(2010, 1, 4)), change("B", "A", dt.date(2012, 1, 4))]
    closure = rename_closure(frame_of(schemas.SYMBOL_CHANGES, changes))
    assert closure.rows() == [("A", dt.date(2010, 1, 4), "A"), ("B", dt.date(2012, 1, 4), "A")]
    got = resolve([bar(symbol="A", isin=None, date=dt.date(2009, 1, 5))], changes=changes)
    assert got["current_symbol"].to_list() == ["A"]


def test_symbol_history_applies_to_nse_rows_only() -> None:
    rows = [bar(exchange="BSE", symbol="INFOSYSTCH", isin=None, date=dt.date(2010, 1, 4))]
    got = resolve(rows, instruments=[master("INFY", INFY)], changes=[RENAME])
    assert got.select("instrument_id", "current_symbol").row(0) == ("BSE:INFOSYSTCH", "INFOSYSTCH")


def test_the_master_prefers_the_instrument_listed_on_the_rows_date() -> None:
    old = master("ACME", "INE111A01011", status="delisted", delisting_date=dt.date(2012, 3, 1))
    new = master("ACME", "INE222B01022", listing_date=dt.date(2018, 1, 1))
    rows = [
        bar(symbol="ACME", isin=None, date=dt.date(2010, 1, 4)),
        bar(symbol="ACME", isin=None, date=dt.date(2019, 1, 4)),
    ]
    got = resolve(rows, instruments=[old, new])
    assert got["instrument_id"].to_list() == ["INE111A01011", "INE222B01022"]


def test_a_reader_set_id_is_kept_when_no_isin_is_known() -> None:
    row = bar(exchange="BSE", symbol="500209", isin=None, instrument_id="BSE:500209")
    assert resolve([row])["instrument_id"].to_list() == ["BSE:500209"]


def test_gate_emits_instrument_rows_and_one_finding_per_unresolved_symbol(run_gate, context) -> None:
    rows = [
        bar(symbol="INFOSYSTCH", isin=None, date=dt.date(2011, 5, 30)),
        bar(symbol="INFOSYSTCH", isin=None, date=dt.date(2011, 5, 31)),
        bar(symbol="NEWCO", isin=None, date=dt.date(2011, 5, 30)),
        bar(symbol="NEWCO", isin=None, date=dt.date(2011, 5, 31)),
        bar(exchange="BSE", symbol="500002", isin=None, date=dt.date(2011, 5, 31)),
    ]
    ctx = context(instruments=[master("INFY", INFY)], symbol_changes=[RENAME], today=dt.date(2011, 6, 2))
    batch = run_gate(parsed_file(rows, kind="nse_bhavcopy_legacy"), ctx)
    assert batch.tables["bars"]["instrument_id"].to_list() == [
        INFY,
        INFY,
        "NSE:NEWCO",
        "NSE:NEWCO",
        "BSE:500002",
    ]
    inst = batch.tables["instruments"].sort("instrument_id")
    assert inst.select("instrument_id", "symbol", "first_seen", "last_seen", "status", "source").rows() == [
        (
            "BSE:500002",
            "500002",
            dt.date(2011, 5, 31),
            dt.date(2011, 5, 31),
            "unknown",
            "nse_bhavcopy_legacy",
        ),
        (INFY, "INFY", dt.date(2011, 5, 30), dt.date(2011, 5, 31), "unknown", "nse_bhavcopy_legacy"),
        ("NSE:NEWCO", "NEWCO", dt.date(2011, 5, 30), dt.date(2011, 5, 31), "unknown", "nse_bhavcopy_legacy"),
    ]
    found = batch.findings.filter(pl.col("rule") == "unresolved_instrument").sort("symbol")
    assert found.select("severity", "instrument_id", "symbol", "date").rows() == [
        ("info", "BSE:500002", "500002", dt.date(2011, 5, 31)),
        ("info", "NSE:NEWCO", "NEWCO", dt.date(2011, 5, 30)),
    ]
    assert "stored as NSE:NEWCO" in found["detail"][1]
