"""Baselines on a hand-made calendar: the weekdays of January and February 2024 (no holidays).

Session numbers: Jan 1 = 0, ..., Jan 10 = 7, Jan 22 = 15, Jan 31 = 22, Feb 1 = 23, ... Feb 29 = 43.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from earnest.core.calendar import IST, TradingCalendar
from earnest.core.errors import ConfigError, SchemaDriftError
from earnest.lab import baselines
from earnest.lab.baselines import every_event, index_windows, matched_random_dates
from earnest.lab.windows import WindowSpec, event_windows, market_model

DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)]
SESSIONS = [d for d in DAYS if d.weekday() < 5]
CAL = TradingCalendar(SESSIONS)
JAN = list(range(23))


def bars(symbol: str, sessions: list[int]) -> pl.DataFrame:
    days = [SESSIONS[i] for i in sessions]
    close = [100.0 + i for i in sessions]
    return pl.DataFrame(
        {"symbol": symbol, "date": days, "open": close, "high": close, "low": close, "close": close}
    )


def pre_open(*rows: tuple[str, int]) -> pl.DataFrame:
    """Events known at 08:00 IST of session ``i``: they enter at that session's open."""
    times = [dt.datetime.combine(SESSIONS[i], dt.time(8), IST).astimezone(dt.UTC) for _, i in rows]
    return pl.DataFrame(
        {"symbol": [s for s, _ in rows], "knowledge_time": times},
        schema={"symbol": pl.Utf8, "knowledge_time": pl.Datetime("us", "UTC")},
    )


def sessions_of(frame: pl.DataFrame) -> list[int]:
    return [SESSIONS.index(d) for d in frame.get_column("entry_date").to_list()]


ALL_A = bars("A", list(range(len(SESSIONS))))


def test_every_event_is_the_frame_itself_checked() -> None:
    ev = pre_open(("A", 3), ("B", 4))
    assert every_event(ev).equals(ev)
    with pytest.raises(SchemaDriftError, match="knowledge_time"):
        every_event(ev.drop("knowledge_time"))


def test_random_dates_avoid_every_real_holding_window_of_the_symbol() -> None:
    # A's real events enter on sessions 7 (Jan 10, selected) and 15 (Jan 22); horizon 3 forbids entries
    # within 2 sessions of either (5..9, 13..17); session 0 has no session before it for the knowledge
    # time. k larger than the pool returns the whole pool: the January sessions left.
    selected = pre_open(("A", 7))
    out = matched_random_dates(
        selected, calendar=CAL, bars=ALL_A, k=100, seed=1, exclude=pre_open(("A", 15)), horizon=3
    )
    assert sessions_of(out) == [1, 2, 3, 4, 10, 11, 12, 18, 19, 20, 21, 22]
    assert out.get_column("matched_row").unique().to_list() == [0]
    assert out.get_column("symbol").unique().to_list() == ["A"]


def test_random_dates_are_seeded_distinct_and_k_per_event() -> None:
    selected = pre_open(("A", 7), ("A", 30))
    one = matched_random_dates(selected, calendar=CAL, bars=ALL_A, k=5, seed=7, horizon=3)
    again = matched_random_dates(selected, calendar=CAL, bars=ALL_A, k=5, seed=7, horizon=3)
    other = matched_random_dates(selected, calendar=CAL, bars=ALL_A, k=5, seed=8, horizon=3)
    assert one.equals(again)
    assert not one.equals(other)
    assert one.group_by("matched_row").len().sort("matched_row").get_column("len").to_list() == [5, 5]
    got = sessions_of(one)
    rows = one.get_column("matched_row").to_list()
    jan = [s for s, r in zip(got, rows, strict=True) if r == 0]
    feb = [s for s, r in zip(got, rows, strict=True) if r == 1]
    assert len(set(jan)) == 5
    assert all(1 <= s <= 22 and abs(s - 7) >= 3 for s in jan)  # January, away from the event
    assert all(23 <= s <= 43 and abs(s - 30) >= 3 for s in feb)  # February


def test_random_dates_only_where_the_symbol_traded_and_fall_back_to_next_month() -> None:
    # B trades Jan 1-5 (sessions 0-4) and all of February; its event enters session 2 with horizon 3,
    # so every January session is blocked or untradable: the draw moves to the neighbouring months.
    b = bars("B", [0, 1, 2, 3, 4, *range(23, 44)])
    out = matched_random_dates(pre_open(("B", 2)), calendar=CAL, bars=b, k=4, seed=0, horizon=3)
    got = sessions_of(out)
    assert len(got) == 4
    assert all(23 <= s <= 43 for s in got)
    # with horizon 2 sessions 0 and 4 are free... but 0 has no previous session: only 4 remains
    few = matched_random_dates(pre_open(("B", 2)), calendar=CAL, bars=b, k=4, seed=0, horizon=2)
    assert sessions_of(few) == [4]


def test_placebo_knowledge_time_makes_the_entry_land_on_the_drawn_session() -> None:
    selected = pre_open(("A", 7), ("A", 30))
    for lag in (1, 2):
        out = matched_random_dates(
            selected, calendar=CAL, bars=ALL_A, k=3, seed=2, horizon=3, lag_sessions=lag
        )
        spec = WindowSpec(
            lag_sessions=lag,
            estimation_sessions=3,
            gap_sessions=0,
            event_sessions=3,
            min_estimation_sessions=3,
        )
        w = event_windows(out, ALL_A, index(), spec=spec, calendar=CAL)
        drawn = out.get_column("entry_date").to_numpy().astype("datetime64[D]")
        np.testing.assert_array_equal(w.entry_date, drawn)
        local = out.get_column("knowledge_time").dt.convert_time_zone(IST.key)
        assert (local.dt.hour() == 16).all()


def test_no_selected_events_give_no_placebos() -> None:
    out = matched_random_dates(pre_open(("A", 7)).head(0), calendar=CAL, bars=ALL_A, seed=0, horizon=3)
    assert out.height == 0
    assert out.columns == ["symbol", "knowledge_time", "entry_date", "matched_row"]


def test_random_dates_validate_k_and_horizon() -> None:
    with pytest.raises(ConfigError, match="k must"):
        matched_random_dates(pre_open(("A", 7)), calendar=CAL, bars=ALL_A, k=0, seed=0, horizon=3)
    with pytest.raises(ConfigError, match="horizon"):
        matched_random_dates(pre_open(("A", 7)), calendar=CAL, bars=ALL_A, seed=0, horizon=0)
    with pytest.raises(ConfigError, match="lag_sessions"):
        matched_random_dates(pre_open(("A", 7)), calendar=CAL, bars=ALL_A, seed=0, horizon=3, lag_sessions=0)


def index() -> pl.DataFrame:
    close = [1000.0 + 10 * i for i in range(len(SESSIONS))]
    return pl.DataFrame({"date": SESSIONS, "open": [c - 5 for c in close], "close": close})


def test_index_windows_measure_the_index_over_the_same_days() -> None:
    spec = WindowSpec(estimation_sessions=5, gap_sessions=0, event_sessions=2, min_estimation_sessions=3)
    w = market_model(event_windows(pre_open(("A", 10), ("A", 30)), ALL_A, index(), spec=spec, calendar=CAL))
    ix = index_windows(w)
    # session 10 at the open: 1100 / 1095 - 1, then 1110 / 1100 - 1
    np.testing.assert_allclose(ix.ar_evt[0], [1100 / 1095 - 1, 1110 / 1100 - 1])
    np.testing.assert_array_equal(ix.ret_evt, w.mkt_evt)
    np.testing.assert_array_equal(ix.event_day, w.event_day)
    assert ix.model == "index"
    assert ix.entry_blocked is None


def test_public_surface() -> None:
    assert baselines.__all__ == ["every_event", "index_windows", "matched_random_dates"]
