"""NSE trading calendar: sessions, holidays, session times and "first tradable session" helpers.

Sessions come from NSE's own trading-day list as shipped in the PyPI package
``nse-trading-calendar`` (1990 to the end of the year it was built for, including special
Saturday and Muhurat sessions). That list has holes where its data is missing (April to December
2025 in version 0.1.6): a stretch of more than :data:`MAX_HOLIDAY_GAP_DAYS` days without a session
after 2000 is filled from ``exchange_calendars``' XBOM calendar (BSE and NSE share their holiday
list; XBOM lacks only NSE's special sessions), and so are the dates after the list's end while
XBOM knows them. Past both, NSE has not published holidays yet, so the calendar projects weekdays
and says so (:attr:`TradingCalendar.projected_after`). Session times are NSE's continuous session,
09:15 to 15:30 IST.
"""

from __future__ import annotations

import datetime as dt
import itertools
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
UTC = dt.UTC
SESSION_OPEN = dt.time(9, 15)
SESSION_CLOSE = dt.time(15, 30)
EOD_PUBLISHED = dt.time(16, 0)
"""When end-of-day prices are taken to be known (the closing price is computed from the last 30
minutes of trade and published shortly after 15:30). An assumption, documented in the README."""


class Fill(StrEnum):
    """Which auction of a session an entry happens at."""

    OPEN = "open"
    CLOSE = "close"


class IntradayRule(StrEnum):
    """What to do with news released while the market is open."""

    NEXT_OPEN = "next_open"
    SAME_CLOSE = "same_close"


@dataclass(frozen=True, slots=True)
class TradableSession:
    """The first session (and auction) at which news known at some instant can be traded."""

    date: dt.date
    fill: Fill


def _nse_days() -> list[dt.date]:
    import openpyxl

    ref = resources.files("nse_calendar").joinpath("data/trading_days.xlsx")
    with resources.as_file(ref) as path:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            days: list[dt.date] = []
            for row in ws.iter_rows(min_row=2, values_only=True):
                value = row[0] if row else None
                if isinstance(value, dt.datetime):
                    days.append(value.date())
                elif isinstance(value, dt.date):
                    days.append(value)
        finally:
            wb.close()
    return sorted(set(days))


MAX_HOLIDAY_GAP_DAYS = 10
"""NSE has never been closed this long since 2000; a longer hole in the shipped list is missing data."""


@lru_cache(maxsize=1)
def _xbom_sessions() -> tuple[dt.date, ...]:
    """Every XBOM session from 2000 to the last year exchange_calendars records holidays for."""
    import exchange_calendars as xc

    return tuple(d.date() for d in xc.get_calendar("XBOM", start="2000-01-03").sessions)


def _xbom_days(after: dt.date, until: dt.date) -> list[dt.date]:
    """XBOM sessions in (after, until]."""
    xbom = _xbom_sessions()
    return list(xbom[bisect_right(xbom, after) : bisect_right(xbom, until)])


def _fill_holes(days: list[dt.date]) -> tuple[list[dt.date], list[tuple[dt.date, dt.date]]]:
    """Fill implausibly long gaps of the shipped list with XBOM sessions; returns the filled ranges."""
    filled: list[tuple[dt.date, dt.date]] = []
    extra: list[dt.date] = []
    for a, b in itertools.pairwise(days):
        if a.year >= 2000 and (b - a).days > MAX_HOLIDAY_GAP_DAYS:
            got = [d for d in _xbom_days(a, b) if d < b]
            if got:
                extra.extend(got)
                filled.append((got[0], got[-1]))
    return sorted(set(days) | set(extra)), filled


def _weekdays(after: dt.date, until: dt.date) -> list[dt.date]:
    out = []
    day = after + dt.timedelta(days=1)
    while day <= until:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


class TradingCalendar:
    """Sorted NSE session dates with lookup helpers. Build one with :func:`nse_calendar`."""

    def __init__(
        self,
        sessions: list[dt.date],
        *,
        projected_after: dt.date | None = None,
        filled: list[tuple[dt.date, dt.date]] | None = None,
    ) -> None:
        if not sessions:
            raise ValueError("a calendar needs at least one session")
        self._days = sorted(set(sessions))
        self._set = frozenset(self._days)
        self.projected_after = projected_after
        """Sessions after this date are projected weekdays, not exchange-published sessions."""
        self.filled = list(filled or [])
        """Date ranges taken from XBOM because the shipped NSE list had no sessions there."""

    @property
    def first(self) -> dt.date:
        return self._days[0]

    @property
    def last(self) -> dt.date:
        return self._days[-1]

    @property
    def sessions(self) -> list[dt.date]:
        return list(self._days)

    def is_session(self, day: dt.date) -> bool:
        return day in self._set

    def sessions_between(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Sessions in the closed interval [start, end]."""
        return self._days[bisect_left(self._days, start) : bisect_right(self._days, end)]

    def next_session(self, day: dt.date, *, inclusive: bool = False) -> dt.date:
        i = bisect_left(self._days, day) if inclusive else bisect_right(self._days, day)
        if i >= len(self._days):
            raise ValueError(f"no NSE session known after {day}; the calendar ends {self.last}")
        return self._days[i]

    def previous_session(self, day: dt.date, *, inclusive: bool = False) -> dt.date:
        i = bisect_right(self._days, day) if inclusive else bisect_left(self._days, day)
        if i == 0:
            raise ValueError(f"no NSE session known before {day}; the calendar starts {self.first}")
        return self._days[i - 1]

    def offset(self, day: dt.date, n: int) -> dt.date:
        """The session ``n`` sessions after (n > 0) or before (n < 0) session ``day``."""
        i = bisect_left(self._days, day)
        if i >= len(self._days) or self._days[i] != day:
            raise ValueError(f"{day} is not an NSE session")
        j = i + n
        if not 0 <= j < len(self._days):
            raise ValueError(f"{n} sessions from {day} falls outside the calendar")
        return self._days[j]

    def first_tradable(
        self, when: dt.datetime, *, intraday: IntradayRule = IntradayRule.NEXT_OPEN
    ) -> TradableSession:
        """The first session and auction at which information known at ``when`` can be traded.

        NSE rules: before 09:15 IST on a session day, that day's open; during the session, that
        day's close or the next session's open (``intraday``); at or after 15:30 IST, or on a
        day without a session, the next session's open.
        """
        if when.tzinfo is None:
            raise ValueError("first_tradable needs a timezone-aware timestamp (IST or UTC)")
        local = when.astimezone(IST)
        day, t = local.date(), local.time()
        if self.is_session(day):
            if t < SESSION_OPEN:
                return TradableSession(day, Fill.OPEN)
            if t < SESSION_CLOSE:
                if intraday is IntradayRule.SAME_CLOSE:
                    return TradableSession(day, Fill.CLOSE)
                return TradableSession(self.next_session(day), Fill.OPEN)
        return TradableSession(self.next_session(day), Fill.OPEN)


def session_close_utc(day: dt.date) -> dt.datetime:
    """15:30 IST on ``day`` as a UTC timestamp."""
    return dt.datetime.combine(day, SESSION_CLOSE, IST).astimezone(UTC)


def eod_known_utc(day: dt.date) -> dt.datetime:
    """When the end-of-day bar for ``day`` is taken to be known, as a UTC timestamp."""
    return dt.datetime.combine(day, EOD_PUBLISHED, IST).astimezone(UTC)


@lru_cache(maxsize=1)
def nse_calendar(extend_to: dt.date | None = None) -> TradingCalendar:
    """The NSE calendar; after the shipped list, weekdays are projected up to ``extend_to``."""
    days, filled = _fill_holes(_nse_days())
    days.extend(_xbom_days(days[-1], extend_to or dt.date(dt.date.today().year + 2, 12, 31)))
    known_until = days[-1]
    horizon = extend_to or dt.date(dt.date.today().year + 2, 12, 31)
    days.extend(_weekdays(known_until, horizon))
    return TradingCalendar(days, projected_after=known_until, filled=filled)


__all__ = [
    "EOD_PUBLISHED",
    "IST",
    "SESSION_CLOSE",
    "SESSION_OPEN",
    "UTC",
    "Fill",
    "IntradayRule",
    "TradableSession",
    "TradingCalendar",
    "eod_known_utc",
    "nse_calendar",
    "session_close_utc",
]
