"""No look-ahead: what is derived for rows known at t does not change when later rows are removed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.events.derived import derive_quarterly, previous_reactions
from earnest.events.fundamentals import FIGURES

BASE = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
STARTS = [dt.date(2020 + i // 4, 3 * (i % 4) + 1, 1) for i in range(16)]  # 16 calendar quarters

money = st.one_of(st.none(), st.integers(-50, 200).map(float))
eps = st.one_of(st.none(), st.integers(-300, 900).map(lambda v: v / 100))


@st.composite
def figure_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for n in range(draw(st.integers(1, 40))):
        q = draw(st.integers(0, 15))
        start = STARTS[q]
        end = (pl.Series([start]).dt.month_end().dt.offset_by("2mo").dt.month_end()).item()
        day = draw(st.one_of(st.none(), st.integers(0, 2400)))
        rows.append(
            {
                "xbrl_name": f"f{n}",
                "xbrl_sha256": f"f{n}",
                "symbol": draw(st.sampled_from(["A", "B"])),
                "consolidation": draw(st.sampled_from(["standalone", "consolidated"])),
                "period_kind": "quarter",
                "period_start": start,
                "period_end": end,
                "knowledge_time": None
                if day is None
                else BASE + dt.timedelta(days=day, hours=draw(st.integers(0, 1))),
                "revenue_from_operations": draw(money),
                "net_profit": draw(money),
                "net_profit_owners": draw(money),
                "profit_before_tax": draw(money),
                "finance_costs": draw(money),
                "eps_basic": draw(eps),
            }
        )
    return rows


def _known_by(frame: pl.DataFrame, t: dt.datetime) -> pl.DataFrame:
    return frame.filter(pl.col("knowledge_time") <= t)


def _cut(times: pl.Series, data: st.DataObject) -> dt.datetime:
    """A cut-off at, or just after, one of the knowledge times (where look-ahead would show)."""
    known = times.drop_nulls().to_list() or [BASE]
    t: dt.datetime = data.draw(st.sampled_from(known))
    return t + dt.timedelta(minutes=data.draw(st.sampled_from([0, 1, 60 * 24])))


@settings(max_examples=40, deadline=None)
@given(rows=figure_rows(), data=st.data())
def test_derived_values_do_not_look_ahead(rows: list[dict[str, Any]], data: st.DataObject) -> None:
    figures = schemas.conform(pl.DataFrame(rows, infer_schema_length=None), FIGURES)
    t = _cut(figures["knowledge_time"], data)
    full = derive_quarterly(figures)
    kept = figures.filter(pl.col("knowledge_time").is_null() | (pl.col("knowledge_time") <= t))
    truncated = derive_quarterly(kept)
    expected = _known_by(full, t).sort("xbrl_sha256")
    got = _known_by(truncated, t).sort("xbrl_sha256")
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-12)


@st.composite
def market(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    missing = draw(st.sets(st.integers(0, 60), max_size=15))  # holidays, suspensions
    days = [d for d in range(61) if d not in missing]
    bar_rows = [
        {
            "symbol": s,
            "date": dt.date(2024, 1, 1) + dt.timedelta(days=d),
            "close": draw(st.integers(50, 150)) * 1.0,
        }
        for s in ("A", "B")
        for d in days
    ]
    event_rows = []
    for _ in range(draw(st.integers(1, 25))):
        minutes = draw(st.integers(0, 55 * 24 * 60))
        kt = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
        event_rows.append(
            {
                "symbol": draw(st.sampled_from(["A", "B"])),
                "knowledge_time": kt,
                # the first tradable session is never before the news: at least the next day here
                "first_session": kt.date() + dt.timedelta(days=draw(st.integers(1, 4))),
                "first_fill": draw(st.sampled_from(["open", "close"])),
            }
        )
    events = pl.DataFrame(event_rows, schema_overrides={"knowledge_time": schemas.UTC_TS})
    return events, pl.DataFrame(bar_rows)


@settings(max_examples=40, deadline=None)
@given(frames=market(), n=st.integers(1, 4), data=st.data())
def test_previous_reactions_do_not_look_ahead(
    frames: tuple[pl.DataFrame, pl.DataFrame], n: int, data: st.DataObject
) -> None:
    events, bars = frames
    t = _cut(events["knowledge_time"], data)
    full = previous_reactions(events, bars, n=n)
    published = pl.Series([eod_known_utc(d) <= t for d in bars["date"]])
    truncated = previous_reactions(_known_by(events, t), bars.filter(published), n=n)
    assert_frame_equal(_known_by(truncated, t), _known_by(full, t), check_exact=False, rel_tol=1e-12)
