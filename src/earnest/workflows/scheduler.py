"""The built-in scheduler (``earnest scheduler``): runs the daily pipeline after each NSE session.

For hosts without cron or systemd timers (see ``deploy/`` for those). The loop sleeps until the
next run time, ``at`` (IST) on the next NSE session, runs the job for that session, and goes on.
A job that fails is logged and retried at ``retry_every`` until the next session's run time: the
daily pipeline is resumable, so a retry finishes what the failed run left.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from earnest.core.calendar import IST, TradingCalendar

__all__ = ["next_run", "run_scheduler"]

log = logging.getLogger(__name__)


def next_run(now: dt.datetime, *, at: dt.time, calendar: TradingCalendar) -> tuple[dt.date, dt.datetime]:
    """The next (session, run time in UTC) strictly after ``now``: ``at`` IST on an NSE session."""
    now_ist = now.astimezone(IST)
    day = calendar.next_session(now_ist.date(), inclusive=True)
    while True:
        when = dt.datetime.combine(day, at, tzinfo=IST)
        if when > now_ist:
            return day, when.astimezone(dt.UTC)
        day = calendar.next_session(day)


def run_scheduler(
    job: Callable[[dt.date], bool],
    *,
    at: dt.time,
    calendar: TradingCalendar,
    retry_every: dt.timedelta = dt.timedelta(minutes=30),
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    sleep: Callable[[float], None] = time.sleep,
    max_runs: int | None = None,
) -> int:
    """Run ``job(session)`` at ``at`` IST after every session; ``job`` returns True when the day is
    complete. Retries an incomplete day every ``retry_every`` until the next run time. Returns the
    number of job calls (``max_runs`` stops the loop, for tests)."""
    calls = 0
    day, when = next_run(now(), at=at, calendar=calendar)
    while max_runs is None or calls < max_runs:
        wait = (when - now()).total_seconds()
        if wait > 0:
            log.info("next daily run for %s at %s", day, when.astimezone(IST).isoformat())
            sleep(wait)
        calls += 1
        try:
            complete = job(day)
        except Exception:  # keep the scheduler alive; the run is retried
            log.exception("daily run for %s failed", day)
            complete = False
        following, following_at = next_run(now(), at=at, calendar=calendar)
        if complete or now() + retry_every >= following_at:
            day, when = following, following_at
        else:
            when = now() + retry_every
    return calls
