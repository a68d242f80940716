"""Earnings events from every real NSE results listing in ../shared/data/nse_financial_results_calendar
(66 files, 7,968 records; 524 without any time are quarantined by the reader, see its PROVENANCE.md).

The first tradable session of every event is re-derived here, one event at a time, from its IST time
and the calendar's session list (not through ``first_tradable`` or the vectorised kernel).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from earnest.core.calendar import IST, IntradayRule, TradingCalendar, nse_calendar
from earnest.events import as_of, build_events, first_releases
from earnest.sources.registry import read_bytes

CAL = nse_calendar()
OPEN, CLOSE = dt.time(9, 15), dt.time(15, 30)
QUARTER_WORDS = {"First Quarter": 1, "Second Quarter": 2, "Third Quarter": 3, "Fourth Quarter": 4}


@pytest.fixture(scope="module")
def listings(shared_data: Path) -> pl.DataFrame:
    parsed = []
    for path in sorted((shared_data / "nse_financial_results_calendar").glob("*.json")):
        parsed.extend(read_bytes(path.name, path.read_bytes()))
    assert len(parsed) == 66
    return pl.concat([p.frame for p in parsed])


def expected_session(known: dt.datetime, rule: IntradayRule, cal: TradingCalendar) -> tuple[dt.date, str]:
    """NSE's rule restated: before 09:15 IST on a session day, that day's open; 09:15-15:30 the same
    close or the next open; later, or on a day without a session, the next session's open."""
    local = known.astimezone(IST)
    day, clock = local.date(), local.time()
    if cal.is_session(day) and clock < OPEN:
        return day, "open"
    if cal.is_session(day) and clock < CLOSE and rule is IntradayRule.SAME_CLOSE:
        return day, "close"
    later = day + dt.timedelta(days=1)
    while not cal.is_session(later):
        later += dt.timedelta(days=1)
    return later, "open"


@pytest.mark.parametrize("rule", list(IntradayRule))
def test_every_listing_is_one_event_on_the_right_session(listings: pl.DataFrame, rule: IntradayRule) -> None:
    events = build_events(listings, calendar=CAL, intraday=rule)
    assert listings.height == events.height == 7444
    assert events.get_column("event_id").is_unique().all()
    assert set(events.get_column("event_id")) == set(listings.get_column("filing_key"))
    assert all(CAL.is_session(d) for d in events.get_column("first_session"))
    wrong = [
        (r["event_id"], r["knowledge_time"], r["first_session"], r["first_fill"])
        for r in events.iter_rows(named=True)
        if (r["first_session"], r["first_fill"]) != expected_session(r["knowledge_time"], rule, CAL)
    ]
    assert wrong == []
    # the market learns a result when NSE broadcasts it
    joined = events.join(listings, left_on="event_id", right_on="filing_key", suffix="_l")
    assert (joined.get_column("event_time") == joined.get_column("broadcast_time")).all()
    assert (joined.get_column("knowledge_time") == joined.get_column("knowledge_time_l")).all()


def test_intraday_results_are_few_and_the_rule_moves_only_them(listings: pl.DataFrame) -> None:
    nxt = build_events(listings, calendar=CAL, intraday=IntradayRule.NEXT_OPEN)
    same = build_events(listings, calendar=CAL, intraday=IntradayRule.SAME_CLOSE)
    moved = (nxt.get_column("first_session") != same.get_column("first_session")).sum()
    closes = (same.get_column("first_fill") == "close").sum()
    assert moved == closes > 0
    assert (nxt.get_column("first_fill") == "open").all()


def test_versions_follow_knowledge_time_within_each_period(listings: pl.DataFrame) -> None:
    events = build_events(listings, calendar=CAL)
    periods: dict[tuple[object, ...], list[tuple[dt.datetime, int, str, int]]] = defaultdict(list)
    for r in events.iter_rows(named=True):
        key = (r["symbol"], r["period_end"], r["consolidated"], r["period_kind"])
        seq = int(r["event_id"].removeprefix("NSE:"))
        periods[key].append((r["knowledge_time"], seq, r["event_id"], r["version"]))
    for rows in periods.values():
        rows.sort()
        assert [v for *_, v in rows] == list(range(1, len(rows) + 1))
    revised = sum(len(rows) > 1 for rows in periods.values())
    # 325 periods were filed twice and 4 three times (restatements, old filings re-filed in 2016-2018)
    assert (len(periods), revised) == (7111, 329)
    assert first_releases(events).height == len(periods)
    latest = as_of(events, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert latest.height == len(periods)
    assert (latest.get_column("version") == pl.Series([len(periods[k]) for k in _keys(latest)])).all()


def _keys(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return frame.select("symbol", "period_end", "consolidated", "period_kind").rows()


def test_fiscal_quarter_agrees_with_nse_for_april_years(listings: pl.DataFrame) -> None:
    events = build_events(listings, calendar=CAL)
    joined = events.join(listings, left_on="event_id", right_on="filing_key").filter(
        pl.col("financial_year_start").dt.month() == 4, pl.col("relating_to").is_in(list(QUARTER_WORDS))
    )
    assert joined.height > 6000
    nse_quarter = joined.get_column("relating_to").replace_strict(QUARTER_WORDS, return_dtype=pl.Int64)
    assert (joined.get_column("fiscal_quarter") == nse_quarter).all()
    # NSE's own financialYear text is malformed in 14 of these records (year 0012, or a "year" that
    # ends with the quarter); where it spans a real April-March year, it names our fiscal year
    start, end = pl.col("financial_year_start"), pl.col("financial_year_end")
    well_formed = joined.filter(end == start.dt.offset_by("1y").dt.offset_by("-1d"), start.dt.year() > 1990)
    assert joined.height - well_formed.height == 14
    fy_end = well_formed.get_column("financial_year_end").dt.year().cast(pl.Int64)
    assert (well_formed.get_column("fiscal_year") == fy_end).all()
    kinds = events.get_column("period_kind").value_counts().sort("period_kind").rows()
    assert kinds == [("nine_months", 3), ("quarter", 7441)]  # HCLTECH and SHREECEM's 9-month FY2016
