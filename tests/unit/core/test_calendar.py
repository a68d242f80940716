from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earnest.core.calendar import IST, Fill, IntradayRule, TradingCalendar, eod_known_utc, nse_calendar

CAL = nse_calendar()


def ist(y: int, m: int, d: int, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=IST)


def test_known_sessions_and_holidays() -> None:
    assert CAL.is_session(dt.date(2024, 7, 5))
    assert CAL.is_session(dt.date(2024, 7, 8))
    assert not CAL.is_session(dt.date(2024, 7, 6))  # Saturday
    assert not CAL.is_session(dt.date(2024, 1, 22))  # special holiday (Ram Mandir consecration)
    assert not CAL.is_session(dt.date(2023, 12, 25))  # Christmas
    assert CAL.is_session(dt.date(2024, 3, 2))  # special Saturday session (DR drill)
    assert CAL.is_session(dt.date(2024, 11, 1))  # Muhurat trading
    assert CAL.first == dt.date(1990, 1, 1) or CAL.first.year == 1990


def test_first_tradable_rules() -> None:
    # before the open on a session day -> that day's open
    assert CAL.first_tradable(ist(2024, 7, 5, 8, 0)).date == dt.date(2024, 7, 5)
    assert CAL.first_tradable(ist(2024, 7, 5, 8, 0)).fill is Fill.OPEN
    # during the session -> next open by default, or same close
    got = CAL.first_tradable(ist(2024, 7, 4, 11, 0))
    assert (got.date, got.fill) == (dt.date(2024, 7, 5), Fill.OPEN)
    got = CAL.first_tradable(ist(2024, 7, 4, 11, 0), intraday=IntradayRule.SAME_CLOSE)
    assert (got.date, got.fill) == (dt.date(2024, 7, 4), Fill.CLOSE)
    # exactly at 09:15 counts as during the session, exactly 15:30 as after
    assert CAL.first_tradable(ist(2024, 7, 4, 9, 15)).date == dt.date(2024, 7, 5)
    assert CAL.first_tradable(ist(2024, 7, 4, 15, 30)).date == dt.date(2024, 7, 5)
    # Friday night -> Monday open
    got = CAL.first_tradable(ist(2024, 7, 5, 19, 15))
    assert (got.date, got.fill) == (dt.date(2024, 7, 8), Fill.OPEN)
    # eve of a holiday: 2024-01-19 (Fri) evening -> 2024-01-20 special Saturday session open
    assert CAL.first_tradable(ist(2024, 1, 19, 19, 0)).date == dt.date(2024, 1, 20)
    # 2024-01-20 evening -> 22nd is a holiday -> 23rd
    assert CAL.first_tradable(ist(2024, 1, 20, 18, 0)).date == dt.date(2024, 1, 23)
    # UTC input is converted: 2024-07-04 03:00 UTC = 08:30 IST -> same day open
    assert CAL.first_tradable(dt.datetime(2024, 7, 4, 3, 0, tzinfo=dt.UTC)).date == dt.date(2024, 7, 4)


def test_naive_timestamp_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.first_tradable(dt.datetime(2024, 7, 4, 10, 0))


def test_navigation() -> None:
    assert CAL.next_session(dt.date(2024, 7, 5)) == dt.date(2024, 7, 8)
    assert CAL.previous_session(dt.date(2024, 7, 8)) == dt.date(2024, 7, 5)
    assert CAL.next_session(dt.date(2024, 7, 6), inclusive=True) == dt.date(2024, 7, 8)
    assert CAL.offset(dt.date(2024, 7, 5), 1) == dt.date(2024, 7, 8)
    assert CAL.offset(dt.date(2024, 7, 8), -1) == dt.date(2024, 7, 5)
    assert CAL.sessions_between(dt.date(2024, 7, 5), dt.date(2024, 7, 8)) == [
        dt.date(2024, 7, 5),
        dt.date(2024, 7, 8),
    ]
    with pytest.raises(ValueError, match="not an NSE session"):
        CAL.offset(dt.date(2024, 7, 6), 1)


def test_projection_is_labelled() -> None:
    assert CAL.projected_after is not None
    later = CAL.next_session(CAL.projected_after)
    assert later.weekday() < 5


def test_eod_known_is_after_close() -> None:
    t = eod_known_utc(dt.date(2024, 7, 5))
    assert t.tzinfo is not None
    assert t.astimezone(IST).time() > dt.time(15, 30)


@given(
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2026, 11, 30)),
    st.sampled_from(list(IntradayRule)),
)
def test_first_tradable_never_before_knowledge(when: dt.datetime, rule: IntradayRule) -> None:
    aware = when.replace(tzinfo=IST)
    got = CAL.first_tradable(aware, intraday=rule)
    assert CAL.is_session(got.date)
    fill_time = dt.time(9, 15) if got.fill is Fill.OPEN else dt.time(15, 30)
    assert dt.datetime.combine(got.date, fill_time, IST) >= aware
    # and it is the first such auction: no session strictly between
    between = CAL.sessions_between(aware.date() + dt.timedelta(days=1), got.date - dt.timedelta(days=1))
    assert between == []


def test_empty_calendar_refused() -> None:
    with pytest.raises(ValueError, match="at least one session"):
        TradingCalendar([])


def test_hole_in_shipped_list_is_filled_from_xbom() -> None:
    # nse-trading-calendar 0.1.6 has no sessions from 2025-04-07 to 2025-12-31
    assert CAL.is_session(dt.date(2025, 12, 16))  # a real sec_bhavdata_full session
    assert CAL.is_session(dt.date(2025, 7, 1))
    assert not CAL.is_session(dt.date(2025, 8, 15))  # Independence Day
    assert not CAL.is_session(dt.date(2025, 7, 5))  # Saturday
    assert any(a <= dt.date(2025, 7, 1) <= b for a, b in CAL.filled)
    days = CAL.sessions_between(dt.date(2000, 1, 1), dt.date(2026, 12, 31))
    assert max((b - a).days for a, b in itertools.pairwise(days)) <= 10
