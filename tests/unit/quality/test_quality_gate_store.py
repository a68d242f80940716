"""load_context -> gate -> store.ingest on a real DuckDB store, and the quality report."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from quality_builders import DAY, bar, parsed_file

from earnest.config import QualitySettings
from earnest.core.errors import NotFoundError
from earnest.quality import gate, load_context, quality_report
from earnest.sources.base import ParsedFile
from earnest.store import SqlStore

SETTINGS = QualitySettings()


def ingest(store: SqlStore, parsed: ParsedFile):
    ctx = load_context(store, parsed)
    return store.ingest(gate(parsed, ctx, settings=SETTINGS, code_version="test"))


def master_file() -> ParsedFile:
    rows = [
        {
            "isin": "INE009A01021",
            "exchange": "NSE",
            "symbol": "INFY",
            "status": "listed",
            "source": "nse_equity_master",
        },
        {
            "isin": "INE467B01029",
            "exchange": "NSE",
            "symbol": "TCS",
            "status": "listed",
            "source": "nse_equity_master",
        },
    ]
    return parsed_file(rows, target="instruments", kind="instruments", name="EQUITY_L.csv")


def legacy_file() -> ParsedFile:
    rows = [
        bar(),  # line 2
        bar(
            symbol="TCS",
            isin="INE467B01029",
            open=3900.0,
            high=3950.0,
            low=3880.0,
            close=3940.0,
            prev_close=3900.0,
        ),
        bar(symbol="BAD", isin="INE000B01011", high=90.0),  # line 4: HIGH 90.0 < LOW 99.0
        bar(),  # line 5: duplicate of line 2
    ]
    return parsed_file(rows, name="cm05JUL2024bhav.csv")


def test_round_trip_counts_add_up_and_quarantine_rows_say_why(duckdb_store: SqlStore) -> None:
    out = ingest(duckdb_store, legacy_file())
    assert (out.rows_total, out.rows_stored, out.rows_merged, out.rows_quarantined) == (4, 2, 0, 2)
    q = duckdb_store.read("quarantine", order_by=["source_row"])
    assert q.select("source_file", "source_row", "field", "rule").rows() == [
        ("cm05JUL2024bhav.csv", 4, "high", "ohlc_inconsistent"),
        ("cm05JUL2024bhav.csv", 5, "exchange,instrument_id,series,date", "duplicate_key"),
    ]
    assert q["reason"][0] == "HIGH 90.0 < LOW 99.0 for BAD (EQ)"
    assert q["reason"][1].startswith("duplicate of line 2 ")
    # every instrument seen in the file is known to the store, including the quarantined one
    assert sorted(duckdb_store.read("instruments")["instrument_id"].to_list()) == [
        "INE000B01011",
        "INE009A01021",
        "INE467B01029",
    ]


def test_a_second_source_for_the_same_day_merges_or_conflicts(duckdb_store: SqlStore) -> None:
    ingest(duckdb_store, master_file())
    ingest(duckdb_store, legacy_file())
    # sec_bhavdata_full has no ISIN: resolved through the master; INFY identical, TCS differs
    rows = [
        bar(isin=None, delivery_qty=600),
        bar(symbol="TCS", isin=None, open=3900.0, high=3950.0, low=3880.0, close=3941.0, prev_close=3900.0),
        bar(symbol="WIPRO", isin=None),
    ]
    second = parsed_file(rows, name="sec_bhavdata_full_05072024.csv", kind="nse_sec_bhavdata_full")
    out = ingest(duckdb_store, second)
    assert (out.rows_total, out.rows_stored, out.rows_merged, out.rows_quarantined) == (3, 1, 1, 1)
    q = duckdb_store.read("quarantine", where={"rule": "conflicts_with_stored"})
    assert q.select("source_file", "source_row", "field").rows() == [
        ("sec_bhavdata_full_05072024.csv", 3, "close")
    ]
    assert q["reason"][0] == (
        "CLOSE 3941.0 differs from 3940.0 already stored from cm05JUL2024bhav.csv line 3 for TCS (EQ)"
    )
    infy = duckdb_store.bars(symbols=["INFY"])
    assert infy.height == 1
    assert infy["delivery_qty"][0] == 400
    assert duckdb_store.bars(symbols=["WIPRO"])["instrument_id"].to_list() == ["NSE:WIPRO"]
    status = dict(duckdb_store.read("instruments").select("instrument_id", "status").iter_rows())
    assert status["INE009A01021"] == "listed"  # a bars file never downgrades the master's status
    assert status["NSE:WIPRO"] == "unknown"
    findings = duckdb_store.read("quality_findings")
    assert findings.select("rule", "symbol", "source_file").rows() == [
        ("unresolved_instrument", "WIPRO", "sec_bhavdata_full_05072024.csv")
    ]


def test_load_context_reads_bands_symbol_history_and_stored_rows(duckdb_store: SqlStore) -> None:
    bands = [
        {"symbol": "INFY", "series": "EQ", "band_pct": 10.0, "effective_date": dt.date(2024, 5, 1)},
        {"symbol": "INFY", "series": "EQ", "band_pct": 2.0, "effective_date": dt.date(2024, 7, 1)},
        {"symbol": "INFY", "series": "EQ", "band_pct": 5.0, "effective_date": dt.date(2024, 7, 8)},
        {"symbol": "TCS", "series": "EQ", "band_pct": 20.0, "effective_date": dt.date(2024, 1, 1)},
    ]
    ingest(duckdb_store, legacy_file())  # before the bands: its 4% INFY move is stored
    ingest(duckdb_store, parsed_file(bands, target="price_bands", kind="nse_price_band", name="sec_list.csv"))
    change = {
        "old_symbol": "INFOSYSTCH",
        "new_symbol": "INFY",
        "change_date": dt.date(2011, 6, 1),
        "source": "x",
    }
    ingest(duckdb_store, parsed_file([change], target="symbol_changes", kind="symbol_changes", name="sc.csv"))
    follow = parsed_file(
        [
            bar(date=dt.date(2024, 7, 5), symbol="X", isin="INE00000X011"),
            bar(date=dt.date(2024, 7, 8), close=104.0),
        ],
        name="two_days.csv",
    )
    ctx = load_context(duckdb_store, follow)
    # per scrip, the band in force on the file's first day and any later one; 2024-05-01 is
    # superseded and TCS is not in the file
    assert sorted(ctx.price_bands.select("symbol", "band_pct", "effective_date").rows()) == [
        ("INFY", 2.0, dt.date(2024, 7, 1)),
        ("INFY", 5.0, dt.date(2024, 7, 8)),
    ]
    assert ctx.symbol_changes.height == 1
    assert sorted(ctx.stored.select("symbol", "date").rows()) == [
        ("INFY", DAY),
        ("TCS", DAY),
    ]  # the file's dates
    assert ctx.instruments.is_empty()  # every row has an ISIN: the master is not needed
    same_day = load_context(duckdb_store, parsed_file([bar(isin=None)]))
    assert sorted(same_day.stored.select("symbol", "date").rows()) == [("INFY", DAY), ("TCS", DAY)]
    assert sorted(same_day.instruments["instrument_id"].to_list()) == [
        "INE000B01011",
        "INE009A01021",
        "INE467B01029",
    ]
    batch = gate(follow, ctx, settings=SETTINGS, code_version="test")
    assert batch.tables["bars"].height == 2  # a 4% move is within the 5% band effective 2024-07-08


def test_load_context_for_a_long_file_looks_up_stored_rows_by_instrument(duckdb_store: SqlStore) -> None:
    ingest(duckdb_store, legacy_file())
    days = [d for d in (dt.date(2024, 5, 1) + dt.timedelta(days=i) for i in range(70)) if d.weekday() < 5]
    long = parsed_file([bar(date=d) for d in days], name="INFY.csv", kind="csv_import")
    ctx = load_context(duckdb_store, long)
    assert ctx.stored.select("symbol", "date").rows() == [("INFY", DAY)]
    batch = gate(long, ctx, settings=SETTINGS, code_version="test")
    assert batch.quarantine.is_empty()  # the stored INFY row of DAY is identical: it merges


def test_quality_report_counts_and_lists(duckdb_store: SqlStore) -> None:
    ingest(duckdb_store, parsed_file([bar()], name="clean.csv"))
    ingest(duckdb_store, legacy_file())
    saturday = parsed_file(
        [bar(date=dt.date(2024, 7, 6), high=1.0), bar(date=dt.date(2024, 7, 6))], name="odd.csv"
    )
    ingest(duckdb_store, saturday)
    report = quality_report(duckdb_store)
    assert report.totals == {
        "files": 3,
        "rows_total": 1 + 4 + 2,
        "rows_stored": 1 + 1 + 1,
        "rows_merged": 0 + 1 + 0,
        "rows_quarantined": 0 + 2 + 1,
        "findings": 1,
    }
    assert [(f.file, f.rows_quarantined) for f in report.files] == [
        ("cm05JUL2024bhav.csv", 2),
        ("odd.csv", 1),
        ("clean.csv", 0),
    ]
    assert {(r.rule, r.group, r.count) for r in report.quarantine_by_rule} == {
        ("ohlc_inconsistent", "bars", 2),
        ("duplicate_key", "bars", 1),
    }
    assert [(r.rule, r.group, r.count) for r in report.findings_by_rule] == [("not_a_session", "warning", 1)]
    assert [(r.file, r.line, r.rule) for r in report.quarantined][:1] == [
        ("cm05JUL2024bhav.csv", 4, "ohlc_inconsistent")
    ]
    assert report.findings[0].date == dt.date(2024, 7, 6)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["quarantine_by_rule"][0] == {"rule": "ohlc_inconsistent", "target": "bars", "rows": 2}
    assert data["findings"][0]["date"] == "2024-07-06"

    one = quality_report(duckdb_store, file="odd.csv", limit=1)
    assert one.totals["files"] == 1
    assert one.totals["rows_quarantined"] == 1
    assert [(r.file, r.line, r.field, r.rule) for r in one.quarantined] == [
        ("odd.csv", 2, "high", "ohlc_inconsistent")
    ]
    assert len(one.findings) == 1
    limited = quality_report(duckdb_store, limit=1)
    assert len(limited.files) == 1
    assert len(limited.quarantined) == 1
    assert limited.totals["files"] == 3


def test_quality_report_for_an_unknown_file_says_what_to_do(duckdb_store: SqlStore) -> None:
    with pytest.raises(NotFoundError, match=r"no ingested file named 'nope\.csv'"):
        quality_report(duckdb_store, file="nope.csv")


def test_an_empty_store_gives_an_empty_report(duckdb_store: SqlStore) -> None:
    report = quality_report(duckdb_store)
    assert report.totals["files"] == 0
    assert report.files == ()
    assert report.quarantined == ()
    assert pl.DataFrame(report.to_dict()["files"]).is_empty()
