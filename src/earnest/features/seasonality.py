"""Seasonality features: calendar facts about each session, known in advance (so known at the end
of the session at the latest, ``known_at`` ``eod``), needing no history (lookback 0).

- ``day_of_week``: ISO weekday, 1 = Monday ... 5 = Friday (6 = a special Saturday session).
- ``month_of_year``: 1 = January ... 12 = December.
- ``results_season`` / ``days_since_qtr_end``: Indian listed companies file quarterly results
  within 45 days of the quarter's end and the audited annual (January-March) results within 60
  days (SEBI LODR Regulation 33(3)); ``days_since_qtr_end`` is the calendar days since the latest
  quarter end (31 March, 30 June, 30 September, 31 December) on or before the session (0 on a
  quarter end), and ``results_season`` is 1.0 when that is between 1 and 45 days (60 after a
  March quarter), else 0.0.
- ``sessions_to_expiry`` / ``days_to_expiry``: NSE sessions and calendar days from the session to
  the expiry of the current monthly F&O contract (0 on expiry day; after this month's expiry, the
  next month's). Expiry rule (NSE stock and index derivatives): the last Thursday of the month for
  contracts expiring up to 31 August 2025, the last Tuesday from 1 September 2025 (SEBI circular
  SEBI/HO/MRD/TPD-1/P/CIR/2025/76 of 26 May 2025, NSE circular FAOP68589); when that day is not an
  NSE session, the previous session (e.g. 29 March 2023 for Ram Navami on Thursday 30 March).
  The withdrawn April 2025 proposal to move to Monday never took effect and is ignored; BSE's
  contracts (Tuesday until August 2025, Thursday since) are not modelled.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from bisect import bisect_right

import polars as pl

from earnest.core.calendar import TradingCalendar, nse_calendar
from earnest.features.spec import Compute, FeatureSpec, eod_known_at

TUESDAY_EXPIRY_FROM = dt.date(2025, 9, 1)
"""Monthly NSE F&O contracts expiring on or after this date expire on the last Tuesday."""

_THURSDAY, _TUESDAY = 3, 1


def _frame(panel: pl.DataFrame, *outputs: pl.Expr) -> pl.DataFrame:
    return panel.select("instrument_id", "date", eod_known_at(pl.col("date")).alias("known_at"), *outputs)


def day_of_week(panel: pl.DataFrame) -> pl.DataFrame:
    """ISO weekday of each session (1 = Monday)."""
    return _frame(panel, pl.col("date").dt.weekday().cast(pl.Float64).alias("day_of_week"))


def month_of_year(panel: pl.DataFrame) -> pl.DataFrame:
    """Calendar month of each session (1 = January)."""
    return _frame(panel, pl.col("date").dt.month().cast(pl.Float64).alias("month_of_year"))


def quarter_end_on_or_before(date: pl.Expr) -> pl.Expr:
    """The latest calendar-quarter end (31 Mar, 30 Jun, 30 Sep, 31 Dec) on or before ``date``."""
    nxt = date + pl.duration(days=1)
    quarter_start = pl.date(nxt.dt.year(), (nxt.dt.month() - 1) // 3 * 3 + 1, 1)
    return quarter_start - pl.duration(days=1)


def results_season(
    panel: pl.DataFrame, *, window_days: int = 45, annual_window_days: int = 60
) -> pl.DataFrame:
    """Calendar days since the latest quarter end, and whether the session is in the results
    season that follows it (1 to ``window_days`` days after, ``annual_window_days`` after March)."""
    q_end = quarter_end_on_or_before(pl.col("date"))
    days = (pl.col("date") - q_end).dt.total_days()
    window = pl.when(q_end.dt.month() == 3).then(annual_window_days).otherwise(window_days)
    return _frame(
        panel,
        ((days >= 1) & (days <= window)).cast(pl.Float64).alias("results_season"),
        days.cast(pl.Float64).alias("days_since_qtr_end"),
    )


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    day = dt.date(year, month, _calendar.monthrange(year, month)[1])
    return day - dt.timedelta(days=(day.weekday() - weekday) % 7)


def monthly_expiry(year: int, month: int, cal: TradingCalendar | None = None) -> dt.date:
    """Expiry session of the NSE monthly F&O contract of ``year``-``month`` (see module docstring)."""
    cal = cal or nse_calendar()
    day = _last_weekday(year, month, _THURSDAY)
    if day >= TUESDAY_EXPIRY_FROM:
        day = _last_weekday(year, month, _TUESDAY)
    return day if cal.is_session(day) else cal.previous_session(day)


def _next_expiry(day: dt.date, cal: TradingCalendar) -> dt.date:
    expiry = monthly_expiry(day.year, day.month, cal)
    if day <= expiry:
        return expiry
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return monthly_expiry(year, month, cal)


def days_to_expiry(panel: pl.DataFrame) -> pl.DataFrame:
    """NSE sessions and calendar days from each session to the current monthly F&O expiry."""
    cal = nse_calendar()
    sessions = cal.sessions
    days = panel.get_column("date").unique().sort().to_list()
    rows = []
    for day in days:
        expiry = _next_expiry(day, cal)
        n_sessions = bisect_right(sessions, expiry) - bisect_right(sessions, day)
        rows.append((day, float(n_sessions), float((expiry - day).days)))
    table = pl.DataFrame(
        rows,
        schema={"date": pl.Date, "sessions_to_expiry": pl.Float64, "days_to_expiry": pl.Float64},
        orient="row",
    )
    joined = panel.select("instrument_id", "date").join(table, on="date", how="left", maintain_order="left")
    return _frame(joined, pl.col("sessions_to_expiry"), pl.col("days_to_expiry"))


def _calendar_spec(name: str, compute: Compute, outputs: tuple[str, ...], description: str,
                   **params: int) -> FeatureSpec:  # fmt: skip
    """A seasonality spec: reads only the bars' dates, no history, known at the session's end."""
    return FeatureSpec(name, description, compute, ("bars",), 0, outputs, params)


SPECS: tuple[FeatureSpec, ...] = (
    _calendar_spec("day_of_week", day_of_week, ("day_of_week",),
                   "ISO weekday of the session: 1 = Monday ... 5 = Friday (6 = special Saturday session)"),
    _calendar_spec("month_of_year", month_of_year, ("month_of_year",),
                   "calendar month of the session: 1 = January ... 12 = December"),
    _calendar_spec("results_season", results_season, ("results_season", "days_since_qtr_end"),
                   "results season flag (1 to 45 calendar days after a quarter end, 60 after March: the "
                   "SEBI filing deadlines) and calendar days since the latest quarter end",
                   window_days=45, annual_window_days=60),
    _calendar_spec("fo_expiry", days_to_expiry, ("sessions_to_expiry", "days_to_expiry"),
                   "NSE sessions and calendar days to the monthly F&O expiry (last Thursday; last Tuesday "
                   "from September 2025; previous session if a holiday), 0 on expiry day"),
)  # fmt: skip

__all__ = [
    "SPECS",
    "TUESDAY_EXPIRY_FROM",
    "day_of_week",
    "days_to_expiry",
    "month_of_year",
    "monthly_expiry",
    "quarter_end_on_or_before",
    "results_season",
]
