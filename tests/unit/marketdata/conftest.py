"""Builders of small synthetic bar series and actions with hand-checkable numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.calendar import IST, eod_known_utc, nse_calendar

START = dt.date(2024, 1, 1)


def sessions(n: int, start: dt.date = START) -> list[dt.date]:
    cal = nse_calendar()
    return cal.sessions_between(start, start + dt.timedelta(days=3 * n + 30))[:n]


def build_bars(
    closes: Sequence[float],
    *,
    opens: Sequence[float] | None = None,
    steps: Mapping[int, float] | None = None,
    prev_close: str = "nse",
    instrument_id: str = "INE000A01010",
    symbol: str = "ABC",
    series: str = "EQ",
    exchange: str = "NSE",
    volume: int | Sequence[int] = 1000,
    start: dt.date = START,
) -> pl.DataFrame:
    """Bars on consecutive NSE sessions. ``steps`` maps a bar index (an ex-date) to the factor NSE
    applies to ``prev_close`` there (``prev_close='nse'``); ``'raw'`` leaves it unadjusted,
    ``'none'`` leaves it empty."""
    days = sessions(len(closes), start)
    opens = list(opens) if opens is not None else list(closes)
    vols = [volume] * len(closes) if isinstance(volume, int) else list(volume)
    rows = []
    for i, (day, o, c) in enumerate(zip(days, opens, closes, strict=True)):
        if i == 0 or prev_close == "none":
            pc = None
        else:
            pc = closes[i - 1] * ((steps or {}).get(i, 1.0) if prev_close == "nse" else 1.0)
        rows.append(
            {
                "exchange": exchange,
                "instrument_id": instrument_id,
                "isin": instrument_id,
                "symbol": symbol,
                "series": series,
                "date": day,
                "open": float(o),
                "high": max(o, c) * 1.01,
                "low": min(o, c) * 0.99,
                "close": float(c),
                "last": float(c),
                "prev_close": pc,
                "volume": vols[i],
                "knowledge_time": eod_known_utc(day),
                "source_file": f"cm{day:%d%b%Y}bhav.csv".upper(),
                "source_row": 2,
            }
        )
    return schemas.conform(pl.DataFrame(rows), schemas.BARS)


def build_action(
    ex_date: dt.date,
    price_factor: float,
    *,
    instrument_id: str | None = "INE000A01010",
    symbol: str = "ABC",
    action_type: str = "split",
    status: str = "confirmed",
    source: str = "nse_bc",
    known_at: dt.datetime | None = None,
    amount: float | None = None,
    ratio_new: float | None = None,
    ratio_old: float | None = None,
    action_id: str | None = None,
) -> dict[str, Any]:
    """One CORPORATE_ACTIONS row; known (by default) at 18:00 IST a week before the ex-date."""
    known = known_at or dt.datetime.combine(ex_date - dt.timedelta(days=7), dt.time(18), IST)
    return {
        "action_id": action_id or f"{source}:{instrument_id or symbol}:{ex_date}:{action_type}",
        "exchange": "NSE",
        "instrument_id": instrument_id,
        "symbol": symbol,
        "series": "EQ",
        "ex_date": ex_date,
        "action_type": action_type,
        "ratio_new": ratio_new,
        "ratio_old": ratio_old,
        "price_factor": price_factor,
        "amount": amount,
        "purpose": action_type,
        "source": source,
        "status": status,
        "knowledge_time": known.astimezone(dt.UTC),
        "source_file": None,
    }


def actions_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    if not rows:
        return schemas.empty(schemas.CORPORATE_ACTIONS)
    return schemas.conform(
        pl.DataFrame(list(rows), schema=dict(schemas.CORPORATE_ACTIONS)), schemas.CORPORATE_ACTIONS
    )


@pytest.fixture
def make_bars() -> Callable[..., pl.DataFrame]:
    return build_bars


@pytest.fixture
def make_action() -> Callable[..., dict[str, Any]]:
    return build_action


@pytest.fixture
def make_actions() -> Callable[[Sequence[Mapping[str, Any]]], pl.DataFrame]:
    return actions_frame


@pytest.fixture
def no_actions() -> pl.DataFrame:
    return schemas.empty(schemas.CORPORATE_ACTIONS)
