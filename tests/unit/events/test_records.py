"""build_events / load_events: one event per listing, first tradable session, periods and versions.

Expectations are worked out by hand from the NSE calendar (2024: Republic Day Friday 26 Jan, the
special Saturday session of 20 Jan, Holi Monday 25 Mar, Mahashivratri Friday 8 Mar) and from
``tests/fixtures/events/revco.json`` (its README tabulates every record).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.calendar import IST, IntradayRule, TradingCalendar, nse_calendar
from earnest.core.errors import DataError
from earnest.events import EVENTS, build_events, load_events
from earnest.events.records import first_sessions
from earnest.sources.registry import read_bytes
from earnest.store.base import IngestBatch, Store

CAL = nse_calendar()
NEXT, SAME = IntradayRule.NEXT_OPEN, IntradayRule.SAME_CLOSE
D = dt.date


def ist(text: str) -> dt.datetime:
    """``2024-01-11 18:19:13`` IST as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=IST).astimezone(dt.UTC)


def listing(seq: int, known: str, **over: Any) -> dict[str, Any]:
    """One results_listings row known at IST ``known``; defaults: DEMO, Q3 FY2024 standalone."""
    row: dict[str, Any] = {
        "filing_key": f"NSE:{seq}",
        "exchange": "NSE",
        "symbol": "DEMO",
        "isin": "INE000D01010",
        "company": "Demo Ltd",
        "period_from": D(2023, 10, 1),
        "period_to": D(2023, 12, 31),
        "period_type": "Quarterly",
        "consolidated": False,
        "audited": False,
        "seq_number": seq,
        "broadcast_time": ist(known),
        "broadcast_source": "broadCastDate",
        "knowledge_time": ist(known),
        "source_file": "demo.json",
        "source_row": seq,
    }
    row.update(over)
    return row


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return schemas.conform(pl.DataFrame(list(rows)), schemas.RESULTS_LISTINGS, name="test listings")


@pytest.fixture(scope="module")
def revco_listings(fixtures_dir: Path) -> pl.DataFrame:
    path = fixtures_dir / "events" / "revco.json"
    (parsed,) = read_bytes(path.name, path.read_bytes())
    assert parsed.rows_total == 8
    assert parsed.frame.height == 7
    assert parsed.rejects.get_column("rule").to_list() == ["no_broadcast_time"]
    return parsed.frame


# (IST instant, rule, expected first session, expected fill)
SESSION_CASES = [
    ("2024-01-11 08:30:00", NEXT, D(2024, 1, 11), "open"),  # pre-open: that day's open
    ("2024-01-11 08:30:00", SAME, D(2024, 1, 11), "open"),
    ("2024-01-11 09:14:59", NEXT, D(2024, 1, 11), "open"),  # one second before the open
    ("2024-01-11 09:15:00", NEXT, D(2024, 1, 12), "open"),  # exactly 09:15 is in the session
    ("2024-01-11 09:15:00", SAME, D(2024, 1, 11), "close"),
    ("2024-01-11 12:00:00", NEXT, D(2024, 1, 12), "open"),  # intraday, both rules
    ("2024-01-11 12:00:00", SAME, D(2024, 1, 11), "close"),
    ("2024-01-11 15:29:59", SAME, D(2024, 1, 11), "close"),
    ("2024-01-11 15:30:00", NEXT, D(2024, 1, 12), "open"),  # exactly 15:30 is after the close
    ("2024-01-11 15:30:00", SAME, D(2024, 1, 12), "open"),
    ("2024-01-11 18:19:13", NEXT, D(2024, 1, 12), "open"),  # after hours
    ("2024-01-12 19:00:00", SAME, D(2024, 1, 15), "open"),  # Friday night -> Monday
    ("2024-01-13 10:00:00", SAME, D(2024, 1, 15), "open"),  # Saturday during "session hours"
    ("2024-01-15 00:05:00", NEXT, D(2024, 1, 15), "open"),  # Monday 00:05 IST is Sunday in UTC
    ("2024-01-19 18:00:00", NEXT, D(2024, 1, 20), "open"),  # Friday -> the special Saturday session
    ("2024-01-25 18:00:00", NEXT, D(2024, 1, 29), "open"),  # eve of Republic Day -> Monday
    ("2024-01-26 11:00:00", SAME, D(2024, 1, 29), "open"),  # on the holiday, in session hours
    ("2024-03-22 20:00:00", NEXT, D(2024, 3, 26), "open"),  # Friday before Holi Monday -> Tuesday
    ("2024-03-07 13:00:00", NEXT, D(2024, 3, 11), "open"),  # intraday before Mahashivratri Friday
]


@pytest.mark.parametrize(("known", "rule", "session", "fill"), SESSION_CASES)
def test_first_session_follows_the_nse_rules(known: str, rule: IntradayRule, session: D, fill: str) -> None:
    events = build_events(frame(listing(1, known)), calendar=CAL, intraday=rule)
    got = events.select("first_session", "first_fill", "intraday_rule").row(0)
    assert got == (session, fill, rule.value)
    # the vectorised kernel agrees with the calendar's scalar rule
    ref = CAL.first_tradable(ist(known), intraday=rule)
    assert (ref.date, ref.fill.value) == (session, fill)


def test_many_instants_at_once_match_one_by_one() -> None:
    instants = [ist(k) for k, _, _, _ in SESSION_CASES]
    for rule in IntradayRule:
        got = first_sessions(pl.Series("t", instants, dtype=schemas.UTC_TS), calendar=CAL, intraday=rule)
        want = [CAL.first_tradable(t, intraday=rule) for t in instants]
        assert got.rows() == [(w.date, w.fill.value) for w in want]


def test_revco_fixture_events_by_hand(revco_listings: pl.DataFrame) -> None:
    events = build_events(revco_listings, calendar=CAL)
    assert events.schema == pl.Schema(EVENTS)
    cols = ["event_id", "period_kind", "consolidated", "first_session", "first_fill", "version"]
    assert events.select(cols).rows() == [  # in knowledge_time order
        ("NSE:1000101", "quarter", False, D(2024, 1, 12), "open", 1),
        ("NSE:1000102", "quarter", True, D(2024, 1, 12), "open", 1),
        ("NSE:1000250", "quarter", False, D(2024, 2, 21), "open", 2),
        ("NSE:1000400", "quarter", False, D(2024, 3, 7), "open", 3),
        ("NSE:1000300", "quarter", False, D(2024, 4, 25), "open", 1),
        ("NSE:1000302", "year", False, D(2024, 4, 25), "open", 1),
        ("NSE:1000301", "quarter", True, D(2024, 4, 26), "open", 1),
    ]
    by_id = {r["event_id"]: r for r in events.iter_rows(named=True)}
    assert by_id["NSE:1000250"]["supersedes_event_id"] == "NSE:1000101"
    assert by_id["NSE:1000400"]["supersedes_event_id"] == "NSE:1000250"
    assert by_id["NSE:1000101"]["supersedes_event_id"] is None
    assert events.get_column("is_first_release").to_list() == [True, True, False, False, True, True, True]
    first = by_id["NSE:1000101"]
    assert first["event_time"] == first["knowledge_time"] == ist("2024-01-11 18:19:13")
    assert (first["fiscal_year"], first["fiscal_quarter"]) == (2024, 3)
    assert (by_id["NSE:1000300"]["fiscal_year"], by_id["NSE:1000300"]["fiscal_quarter"]) == (2024, 4)
    assert by_id["NSE:1000300"]["audited"] is True
    assert first["audited"] is False
    assert first["xbrl_name"] == "INDAS_990001_1000101_11012024061913.xml"
    assert by_id["NSE:1000301"]["xbrl_name"] is None  # the "/-" link means no XBRL
    assert first["event_type"] == "results"
    assert first["source_file"] == "revco.json"
    assert (first["symbol"], first["isin"], first["exchange"]) == ("REVCO", "INE999R01011", "NSE")


def test_same_close_rule_moves_only_intraday_news(revco_listings: pl.DataFrame) -> None:
    nxt = build_events(revco_listings, calendar=CAL, intraday=NEXT)
    same = build_events(revco_listings, calendar=CAL, intraday=SAME)
    moved = nxt.join(same, on="event_id", suffix="_same").filter(
        pl.col("first_session") != pl.col("first_session_same")
    )
    assert moved.select("event_id", "first_session_same", "first_fill_same").sort("event_id").rows() == [
        ("NSE:1000250", D(2024, 2, 20), "close"),
        ("NSE:1000301", D(2024, 4, 25), "close"),
    ]
    assert set(same.get_column("intraday_rule")) == {"same_close"}


@pytest.mark.parametrize(
    ("start", "end", "text", "kind", "fiscal"),
    [
        (D(2023, 4, 1), D(2023, 6, 30), "Quarterly", "quarter", (2024, 1)),
        (D(2023, 7, 1), D(2023, 9, 30), "Quarterly", "quarter", (2024, 2)),
        (D(2024, 1, 1), D(2024, 3, 31), "Quarterly", "quarter", (2024, 4)),
        (D(2024, 4, 1), D(2024, 6, 30), "Quarterly", "quarter", (2025, 1)),
        (D(2023, 4, 1), D(2023, 9, 30), "Half-Yearly", "half_year", (2024, 2)),
        (D(2023, 4, 1), D(2023, 12, 31), None, "nine_months", (2024, 3)),
        (D(2023, 4, 1), D(2024, 3, 31), "Annual", "year", (2024, 4)),
        (D(2022, 1, 1), D(2022, 12, 31), None, "year", (2023, 3)),  # a calendar-year company
        (D(2023, 11, 1), D(2023, 12, 31), "Quarterly", "quarter", (2024, 3)),  # odd length: the text
        (D(2023, 11, 1), D(2023, 12, 31), None, None, (2024, 3)),  # odd length, no text: unknown
    ],
)
def test_period_kind_and_indian_fiscal_quarter(
    start: D, end: D, text: str | None, kind: str | None, fiscal: tuple[int, int]
) -> None:
    row = listing(1, "2024-05-02 18:00:00", period_from=start, period_to=end, period_type=text)
    events = build_events(frame(row), calendar=CAL)
    assert events.select("period_kind", "fiscal_year", "fiscal_quarter").row(0) == (kind, *fiscal)


def test_versions_count_per_period_and_break_ties_by_sequence_number() -> None:
    rows = [
        listing(1000, "2024-02-01 10:00:00"),  # same instant as 900: the lower sequence number first
        listing(900, "2024-02-01 10:00:00"),
        listing(800, "2024-01-20 18:00:00"),  # the first release
        listing(801, "2024-01-20 18:01:00", consolidated=True),  # another period: consolidated
        listing(802, "2024-01-21 18:00:00", symbol="OTHER"),  # another period: another company
        listing(803, "2024-01-22 18:00:00", period_to=D(2023, 9, 30), period_from=D(2023, 7, 1)),
    ]
    events = build_events(frame(*rows), calendar=CAL)
    got = dict(events.select("event_id", "version").iter_rows())
    assert got == {"NSE:800": 1, "NSE:900": 2, "NSE:1000": 3, "NSE:801": 1, "NSE:802": 1, "NSE:803": 1}
    chain = dict(events.select("event_id", "supersedes_event_id").iter_rows())
    assert chain["NSE:1000"] == "NSE:900"
    assert chain["NSE:900"] == "NSE:800"
    # versions do not depend on the input order
    shuffled = build_events(frame(*reversed(rows)), calendar=CAL)
    assert shuffled.equals(events)


def test_no_listings_give_no_events() -> None:
    events = build_events(schemas.empty(schemas.RESULTS_LISTINGS), calendar=CAL)
    assert events.height == 0
    assert events.schema == pl.Schema(EVENTS)


def test_a_listing_without_knowledge_time_is_an_error_naming_the_row() -> None:
    rows = frame(listing(1, "2024-01-11 18:00:00"), listing(2, "2024-01-12 18:00:00", knowledge_time=None))
    with pytest.raises(DataError) as err:
        build_events(rows, calendar=CAL)
    assert (err.value.file, err.value.row, err.value.field) == ("demo.json", 2, "knowledge_time")
    assert "NSE:2" in str(err.value)


def test_a_repeated_filing_is_an_error_not_two_events() -> None:
    rows = frame(listing(1, "2024-01-11 18:00:00"), listing(1, "2024-01-11 18:00:00", source_row=9))
    with pytest.raises(DataError) as err:
        build_events(rows, calendar=CAL)
    assert err.value.field == "filing_key"
    assert "unique('filing_key')" in err.value.remedy


def test_a_time_past_the_calendar_is_an_error_with_a_remedy() -> None:
    short = TradingCalendar([D(2024, 1, 10), D(2024, 1, 11)])
    rows = frame(listing(1, "2024-01-10 18:00:00"), listing(2, "2024-01-11 18:00:00", source_row=7))
    with pytest.raises(DataError) as err:
        build_events(rows, calendar=short)
    assert (err.value.row, err.value.field) == (7, "knowledge_time")
    assert "extend_to" in err.value.remedy
    ok = build_events(rows.head(1), calendar=short)
    assert ok.get_column("first_session").to_list() == [D(2024, 1, 11)]


def test_load_events_reads_the_store(duckdb_store: Store, fixtures_dir: Path) -> None:
    path = fixtures_dir / "events" / "revco.json"
    (parsed,) = read_bytes(path.name, path.read_bytes())
    other = frame(listing(5, "2024-01-11 18:00:00"))
    for name, rows in (("revco.json", parsed.frame), ("demo.json", other)):
        duckdb_store.ingest(
            IngestBatch(
                sha256=name,
                file_name=name,
                kind="test",
                rows_total=rows.height,
                tables={"results_listings": rows},
            )
        )
    every = load_events(duckdb_store)
    assert every.height == 8
    revco = load_events(duckdb_store, symbols=["revco"], calendar=CAL, intraday=SAME)
    assert revco.equals(build_events(parsed.frame, calendar=CAL, intraday=SAME))
    assert load_events(duckdb_store, symbols="DEMO").get_column("event_id").to_list() == ["NSE:5"]
    assert load_events(duckdb_store, symbols=[]).height == 0
