"""The core technical set on weekly bars, aligned to daily rows without multi-timeframe look-ahead.

A week is an ISO week (Monday to Sunday) and ends on its last NSE session per the trading calendar
(Friday, or the last session before a Friday holiday). An instrument's weekly bar aggregates its
daily rows of that week: first open, highest high, lowest low, last close, summed volume. Weekly
indicators run over the instrument's series of weekly bars with the daily conventions of
:mod:`earnest.features.technical` (TA-Lib), windows counted in weeks.

**Alignment (the classic multi-timeframe leak, avoided).** A weekly value is known only after its
week's last session. The row of a date ``d`` therefore carries the value of the latest week that
has *ended* by ``d``: on the week's last session itself, that week; on every other day, the
previous completed week. So Monday to Thursday of a normal week show last week's RSI, and a
Thursday or Friday print cannot move Wednesday's value. The week's end comes from the exchange
calendar, published in advance, not from the data (the data alone cannot tell on Thursday whether
a Friday row will follow). A row dated after its ISO week's last calendar session (a session the
calendar does not list) counts towards the next week, so a bar never includes a day after the date
it is first used on; a week with no calendar session ends on its Sunday.

Output columns carry a ``wk_`` prefix and windows in weeks: ``wk_ret_1w``, ``wk_ret_4w``,
``wk_ret_13w``, ``wk_rsi_14``, ``wk_macd_12_26_9`` (with signal and hist), ``wk_bb_pctb_20_2``,
``wk_bb_width_20_2``, ``wk_atr_14_pct``, ``wk_vol_20w`` (annualised with sqrt 52) and
``wk_volume_ratio_20w``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import polars as pl

from earnest.core.calendar import nse_calendar
from earnest.features._panel import PRICE_COLUMNS, Arr, Bars, Outputs, finite_frame, prepare, to_frame
from earnest.features.spec import FeatureSpec
from earnest.features.technical import (
    k_atr,
    k_bollinger,
    k_macd,
    k_returns,
    k_rsi,
    k_volatility,
    k_volume_ratio,
)

WEEKLY_RETURN_WINDOWS = (1, 4, 13)
WEEKS_PER_YEAR = 52
WEEKLY_LOOKBACK_SESSIONS = 800
"""About 160 weeks of history: the seeds of the weekly RSI, MACD and ATR then weigh under 1e-4 (on a
random-walk panel, the weekly RSI came within 1e-3 points of a full-history computation and the
ATR within 1e-4 percentage points). A longer history costs time on every incremental build."""
PREFIX = "wk_"
_EPOCH = dt.date(1970, 1, 1)
_MONDAY0 = 4
"""Day number of Monday 5 January 1970: ``(day - 4) // 7`` numbers ISO weeks (Monday starts them)."""


def iso_week(days: Arr) -> Arr:
    """Week number (Monday-based, consecutive) of day numbers counted from 1970-01-01."""
    return np.asarray(np.floor_divide(days - _MONDAY0, 7))


def _session_week_ends(sessions: Sequence[dt.date]) -> tuple[Arr, Arr]:
    """(weeks, last session day number) for every ISO week with a session, weeks ascending."""
    days = np.unique(np.array([(d - _EPOCH).days for d in sessions], dtype=np.int64))
    weeks = iso_week(days)
    last = np.append(np.flatnonzero(np.diff(weeks) != 0), len(weeks) - 1) if len(weeks) else weeks
    return weeks[last], days[last]


@lru_cache(maxsize=1)
def _nse_week_ends() -> tuple[Arr, Arr]:
    return _session_week_ends(nse_calendar().sessions)


def week_end_days(weeks: Arr, sessions: Sequence[dt.date] | None = None) -> Arr:
    """Day number on which each week in ``weeks`` ends: its last calendar session, else its Sunday.

    ``sessions`` defaults to the NSE calendar (:func:`earnest.core.calendar.nse_calendar`).
    """
    known_weeks, ends = _nse_week_ends() if sessions is None else _session_week_ends(sessions)
    out = weeks * 7 + _MONDAY0 + 6
    if len(known_weeks):
        at = np.clip(np.searchsorted(known_weeks, weeks), 0, len(known_weeks) - 1)
        hit = known_weeks[at] == weeks
        out = np.where(hit, ends[at], out)
    return out


def _aggregate(bars: Bars, group_start: Arr) -> Bars:
    """Weekly bars from daily ``bars``: one per group of rows starting at ``group_start``."""
    group_end = np.append(group_start[1:], bars.n)
    first_group = np.flatnonzero(bars.pos[group_start] == 0)
    cols = {
        "open": bars.col("open")[group_start],
        "high": np.maximum.reduceat(bars.col("high"), group_start),
        "low": np.minimum.reduceat(bars.col("low"), group_start),
        "close": bars.col("close")[group_end - 1],
        "volume": np.add.reduceat(bars.col("volume"), group_start),
    }
    ends = np.append(first_group[1:], len(group_start)).astype(np.int64)
    return Bars(first_group.astype(np.int64), ends, cols)


def weekly_kernels(weekly: Bars) -> Outputs:
    """The core technical set on weekly bars (one value per weekly bar), ``wk_``-prefixed names."""
    outputs: Outputs = {}
    outputs.update(k_returns(weekly, WEEKLY_RETURN_WINDOWS, unit="w"))
    outputs.update(k_rsi(weekly))
    outputs.update(k_macd(weekly))
    outputs.update(k_bollinger(weekly))
    outputs.update(k_atr(weekly))
    outputs.update(k_volatility(weekly, 20, WEEKS_PER_YEAR, unit="w"))
    outputs.update(k_volume_ratio(weekly, 20, unit="w"))
    return {PREFIX + name: values for name, values in outputs.items()}


def weekly_on_daily(bars: Bars, days: Arr, sessions: Sequence[dt.date] | None = None) -> pl.DataFrame:
    """Weekly features for each daily row of ``bars`` (dated ``days``), from completed weeks only.

    Computed once per weekly bar, then gathered onto the daily rows (null where no week has
    completed yet for the instrument).
    """
    if bars.n == 0:
        return pl.DataFrame(weekly_kernels(bars))
    week = iso_week(days)
    first = int(week.min())
    ends = week_end_days(np.arange(first, int(week.max()) + 2), sessions)
    period = week + (days > ends[week - first])
    own = days == ends[period - first]
    new = bars.pos == 0
    new[1:] |= period[1:] != period[:-1]
    group_start = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    valid = own | (bars.pos[group_start[group]] > 0)
    outputs = weekly_kernels(_aggregate(bars, group_start))
    table = finite_frame({name: np.append(values, np.nan) for name, values in outputs.items()})
    pick = np.where(valid, np.where(own, group, group - 1), len(group_start))
    return table[pick]


def weekly_features(panel: pl.DataFrame, *, sessions: Sequence[dt.date] | None = None) -> pl.DataFrame:
    """The weekly core set on each daily row, from the latest week completed by that row's date.

    ``panel`` needs ``instrument_id``, ``date``, ``open``, ``high``, ``low``, ``close`` and
    ``volume``; ``sessions`` replaces the NSE calendar that decides where weeks end (tests).
    Returns ``instrument_id``, ``date``, ``known_at`` and the ``wk_`` columns in input order.
    """
    prep = prepare(panel, (*PRICE_COLUMNS, "volume"))
    days = prep.frame["date"].cast(pl.Int32).to_numpy().astype(np.int64)
    return to_frame(prep, weekly_on_daily(prep.bars, days, sessions))


OUTPUTS: tuple[str, ...] = (
    *(f"{PREFIX}ret_{n}w" for n in WEEKLY_RETURN_WINDOWS),
    f"{PREFIX}rsi_14",
    f"{PREFIX}macd_12_26_9",
    f"{PREFIX}macd_signal_12_26_9",
    f"{PREFIX}macd_hist_12_26_9",
    f"{PREFIX}bb_pctb_20_2",
    f"{PREFIX}bb_width_20_2",
    f"{PREFIX}atr_14_pct",
    f"{PREFIX}vol_20w",
    f"{PREFIX}volume_ratio_20w",
)

SPECS: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        name="weekly",
        description="Weekly-bar returns (1/4/13w), RSI(14), MACD(12,26,9), Bollinger(20,2), ATR(14) %, "
        "vol(20w) and volume ratio, from the last week completed by the row's date",
        compute=weekly_features,
        inputs=("bars",),
        lookback_sessions=WEEKLY_LOOKBACK_SESSIONS,
        outputs=OUTPUTS,
    ),
)

__all__ = [
    "OUTPUTS",
    "SPECS",
    "WEEKLY_LOOKBACK_SESSIONS",
    "iso_week",
    "week_end_days",
    "weekly_features",
    "weekly_kernels",
    "weekly_on_daily",
]
