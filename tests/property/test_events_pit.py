"""Properties of earnings events: no look-ahead, versions as a plain re-statement says, and the
vectorised first-tradable-session kernel equals the calendar's scalar rule.

Random listings: two companies, three quarters, standalone or consolidated, knowledge times on a
coarse grid (so ties happen) with shuffled NSE sequence numbers; random instants ``t`` in UTC or IST.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.calendar import IST, IntradayRule, nse_calendar
from earnest.events import as_of, build_events
from earnest.events.records import first_sessions

CAL = nse_calendar()
BASE = dt.datetime(2024, 1, 10, 12, 0, tzinfo=dt.UTC)
QUARTERS = {
    dt.date(2023, 6, 30): dt.date(2023, 4, 1),
    dt.date(2023, 9, 30): dt.date(2023, 7, 1),
    dt.date(2023, 12, 31): dt.date(2023, 10, 1),
}
PERIOD = ("symbol", "period_end", "consolidated")


@st.composite
def listings(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(0, 14))
    seqs = draw(st.permutations(range(990, 990 + n)))  # 990..1003: string and number orders differ
    rows: list[dict[str, Any]] = []
    for i, seq in enumerate(seqs):
        end = draw(st.sampled_from(sorted(QUARTERS)))
        known = BASE + dt.timedelta(hours=6 * draw(st.integers(0, 40)))
        rows.append(
            {
                "filing_key": f"NSE:{seq}",
                "exchange": "NSE",
                "symbol": draw(st.sampled_from(["AAA", "BBB"])),
                "period_from": QUARTERS[end],
                "period_to": end,
                "period_type": "Quarterly",
                "consolidated": draw(st.booleans()),
                "seq_number": seq,
                "broadcast_time": known,
                "knowledge_time": known,
                "source_file": "random.json",
                "source_row": i + 1,
            }
        )
    frame = pl.DataFrame(rows) if rows else schemas.empty(schemas.RESULTS_LISTINGS)
    return schemas.conform(frame, schemas.RESULTS_LISTINGS, name="random listings")


instants = st.builds(
    lambda hours, seconds, zone: (BASE + dt.timedelta(hours=hours, seconds=seconds)).astimezone(zone),
    st.integers(-12, 260),
    st.sampled_from([0, -1, 1]),
    st.sampled_from([dt.UTC, IST]),
)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("event_id")


@settings(max_examples=100, deadline=None)
@given(listings(), instants)
def test_as_of_never_looks_ahead(frame: pl.DataFrame, t: dt.datetime) -> None:
    events = build_events(frame, calendar=CAL)
    seen = as_of(events, t)
    t_utc = t.astimezone(dt.UTC)
    assert (seen.get_column("knowledge_time") <= t_utc).all()
    # truncating the listings to what was known at t changes nothing at t ...
    truncated = build_events(frame.filter(pl.col("knowledge_time") <= t_utc), calendar=CAL)
    assert _sorted(as_of(truncated, t)).equals(_sorted(seen))
    # ... not even the versions of the rows that were known
    assert _sorted(truncated).equals(_sorted(events.filter(pl.col("knowledge_time") <= t_utc)))


@settings(max_examples=100, deadline=None)
@given(listings(), instants)
def test_versions_and_as_of_match_a_plain_restatement(frame: pl.DataFrame, t: dt.datetime) -> None:
    events = build_events(frame, calendar=CAL)
    assert events.height == frame.height
    by_period: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        by_period[(row["symbol"], row["period_to"], row["consolidated"])].append(row)
    want_version, want_latest = {}, {}
    for key, rows in by_period.items():
        ordered = sorted(rows, key=lambda r: (r["knowledge_time"], r["seq_number"]))
        for v, row in enumerate(ordered, start=1):
            want_version[row["filing_key"]] = v
        known = [r for r in ordered if r["knowledge_time"] <= t]
        if known:
            want_latest[key] = (known[-1]["filing_key"], len(known))
    assert dict(events.select("event_id", "version").iter_rows()) == want_version
    got = {(r["symbol"], r["period_end"], r["consolidated"]): (r["event_id"], r["version"])
           for r in as_of(events, t).iter_rows(named=True)}  # fmt: skip
    assert got == want_latest


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.datetimes(
            min_value=dt.datetime(2005, 1, 1),
            max_value=dt.datetime(2026, 12, 31),
            timezones=st.sampled_from([dt.UTC, IST]),
        ),
        max_size=30,
    ),
    st.sampled_from(list(IntradayRule)),
)
def test_vectorised_first_session_equals_the_calendar_rule(
    instants_: list[dt.datetime], rule: IntradayRule
) -> None:
    series = pl.Series("t", [t.astimezone(dt.UTC) for t in instants_], dtype=schemas.UTC_TS)
    got = first_sessions(series, calendar=CAL, intraday=rule)
    # polars keeps microseconds, as does datetime: the same instants
    want = [CAL.first_tradable(t, intraday=rule) for t in instants_]
    assert got.rows() == [(w.date, w.fill.value) for w in want]
    assert all(CAL.is_session(d) for d in got.get_column("first_session"))
