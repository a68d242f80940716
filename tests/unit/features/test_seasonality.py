"""Seasonality features, hand-checked against the NSE calendar and SEBI's results deadlines."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from earnest.features import compute_features
from earnest.features.seasonality import SPECS, monthly_expiry

D = dt.date


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [
        (2024, 1, D(2024, 1, 25)),  # last Thursday, a session
        (2023, 3, D(2023, 3, 29)),  # Thursday 30 March 2023 was Ram Navami: the Wednesday before
        (2023, 6, D(2023, 6, 28)),  # Thursday 29 June 2023 was Bakri Id
        (2023, 1, D(2023, 1, 25)),  # Thursday 26 January is Republic Day
        (2025, 8, D(2025, 8, 28)),  # the last Thursday expiry
        (2025, 9, D(2025, 9, 30)),  # the first last-Tuesday expiry
        (2025, 12, D(2025, 12, 30)),  # last Tuesday (Thursday 25 December is a holiday, irrelevant now)
    ],
)
def test_monthly_expiry(year: int, month: int, expiry: dt.date) -> None:
    assert monthly_expiry(year, month) == expiry


def frame(*days: dt.date) -> pl.DataFrame:
    return pl.DataFrame({"instrument_id": ["X"] * len(days), "symbol": "X", "date": list(days), "close": 1.0})


def values(*days: dt.date) -> pl.DataFrame:
    return compute_features(frame(*days), SPECS)


def test_days_to_expiry_counts_sessions_and_calendar_days() -> None:
    got = values(D(2023, 3, 28), D(2023, 3, 29), D(2023, 3, 31)).select(
        "date", "sessions_to_expiry", "days_to_expiry"
    )
    assert got.rows() == [
        (D(2023, 3, 28), 1.0, 1.0),
        (D(2023, 3, 29), 0.0, 0.0),  # expiry day
        # after March's expiry: April's, Thursday 27 April 2023; 16 sessions between (4, 7 and 14
        # April were holidays), 27 calendar days
        (D(2023, 3, 31), 16.0, 27.0),
    ]


def test_results_season_and_days_since_quarter_end() -> None:
    days = (D(2024, 3, 31), D(2024, 4, 1), D(2024, 5, 30), D(2024, 5, 31), D(2024, 8, 14), D(2024, 8, 15))
    got = values(*days).select("date", "results_season", "days_since_qtr_end").rows()
    assert got == [
        (D(2024, 3, 31), 0.0, 0.0),  # the quarter end itself
        (D(2024, 4, 1), 1.0, 1.0),
        (D(2024, 5, 30), 1.0, 60.0),  # annual results: 60 days after March
        (D(2024, 5, 31), 0.0, 61.0),
        (D(2024, 8, 14), 1.0, 45.0),  # other quarters: 45 days
        (D(2024, 8, 15), 0.0, 46.0),
    ]


def test_day_of_week_and_month() -> None:
    got = values(D(2024, 1, 1), D(2024, 1, 5), D(2024, 12, 31)).select("day_of_week", "month_of_year").rows()
    assert got == [(1.0, 1.0), (5.0, 1.0), (2.0, 12.0)]


def test_values_known_at_the_end_of_their_day() -> None:
    out = values(D(2024, 1, 1))
    assert out.item(0, "known_at") == dt.datetime(2024, 1, 1, 10, 30, tzinfo=dt.UTC)
