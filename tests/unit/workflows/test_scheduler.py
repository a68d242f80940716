"""The built-in scheduler: run times on NSE sessions only, retries of an incomplete day."""

from __future__ import annotations

import datetime as dt

from earnest.core.calendar import IST, nse_calendar
from earnest.workflows.scheduler import next_run, run_scheduler

AT = dt.time(18, 30)


def _ist(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=IST)  # type: ignore[misc]


def test_next_run_is_the_same_session_before_the_time_and_skips_holidays() -> None:
    cal = nse_calendar()
    day, when = next_run(_ist(2024, 1, 25, 10, 0), at=AT, calendar=cal)
    assert day == dt.date(2024, 1, 25)
    assert when == _ist(2024, 1, 25, 18, 30).astimezone(dt.UTC)
    # after the run time on Thursday 25 Jan 2024: Friday 26 Jan is Republic Day, then a weekend
    day, _ = next_run(_ist(2024, 1, 25, 19, 0), at=AT, calendar=cal)
    assert day == dt.date(2024, 1, 29)


class _Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.t = start
        self.slept: list[float] = []

    def now(self) -> dt.datetime:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += dt.timedelta(seconds=s)


def test_runs_each_session_once_and_retries_an_incomplete_day() -> None:
    cal = nse_calendar()
    clock = _Clock(_ist(2024, 1, 24, 12, 0).astimezone(dt.UTC))
    seen: list[tuple[dt.date, dt.datetime]] = []
    outcomes = iter([True, False, False, True, True])

    def job(day: dt.date) -> bool:
        seen.append((day, clock.now().astimezone(IST)))
        return next(outcomes)

    calls = run_scheduler(
        job,
        at=AT,
        calendar=cal,
        now=clock.now,
        sleep=clock.sleep,
        max_runs=5,
        retry_every=dt.timedelta(hours=1),
    )
    assert calls == 5
    assert [d for d, _ in seen] == [
        dt.date(2024, 1, 24),
        dt.date(2024, 1, 25),
        dt.date(2024, 1, 25),  # retried an hour later
        dt.date(2024, 1, 25),
        dt.date(2024, 1, 29),  # the next session after the holiday and the weekend
    ]
    assert seen[1][1] == _ist(2024, 1, 25, 18, 30)
    assert seen[2][1] == _ist(2024, 1, 25, 19, 30)
    assert seen[4][1] == _ist(2024, 1, 29, 18, 30)


def test_a_failing_job_does_not_stop_the_scheduler() -> None:
    cal = nse_calendar()
    clock = _Clock(_ist(2024, 1, 24, 12, 0).astimezone(dt.UTC))
    calls: list[dt.date] = []

    def job(day: dt.date) -> bool:
        calls.append(day)
        if len(calls) == 1:
            raise RuntimeError("network down")
        return True

    run_scheduler(job, at=AT, calendar=cal, now=clock.now, sleep=clock.sleep, max_runs=2)
    assert calls == [dt.date(2024, 1, 24), dt.date(2024, 1, 24)]
