"""Invariants of point-in-time adjustment (hypothesis).

- adjusting then dividing by the factor gives back the raw prices (and volume);
- with ``as_of`` earlier than every action's knowledge time, the adjusted series is the raw one;
- no look-ahead: truncating the bars after ``t`` changes nothing at or before ``t`` when
  ``as_of <= t`` (dividends and rights, whose factors read the cum close, included).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.calendar import IST, eod_known_utc, nse_calendar
from earnest.marketdata import PLAUSIBLE_RATIOS, Ratio, adjust_bars, infer_actions, unexplained_jumps

DAYS = nse_calendar().sessions_between(dt.date(2023, 1, 2), dt.date(2023, 12, 29))
IDS = ("INE000A01010", "INE111B01011")
PRICE_COLS = ("open", "high", "low", "close", "last")


@st.composite
def panels(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    """1-2 instruments, 2-30 sessions of bars, and up to 6 actions of any type and status."""
    n = draw(st.integers(2, 30))
    rows = []
    for iid in IDS[: draw(st.integers(1, 2))]:
        closes = draw(st.lists(st.floats(50, 1000, allow_nan=False), min_size=n, max_size=n))
        for i, (day, c) in enumerate(zip(DAYS[:n], closes, strict=True)):
            rows.append(
                {
                    "exchange": "NSE",
                    "instrument_id": iid,
                    "symbol": iid[-4:],
                    "series": "EQ",
                    "date": day,
                    "open": c * 1.01,
                    "high": c * 1.02,
                    "low": c * 0.98,
                    "close": c,
                    "last": c,
                    "prev_close": closes[i - 1] if i else None,
                    "volume": draw(st.integers(0, 10**6)),
                    "knowledge_time": eod_known_utc(day),
                    "source_file": "f.csv",
                }
            )
    bars = schemas.conform(pl.DataFrame(rows), schemas.BARS)
    acts: list[dict[str, Any]] = []
    for k in range(draw(st.integers(0, 6))):
        ex = DAYS[draw(st.integers(0, n + 3))]
        kind = draw(st.sampled_from(["split", "bonus", "dividend", "rights", "consolidation"]))
        lead_days = draw(st.integers(-2, 20))  # negative: learned after the ex-date (inferred later)
        acts.append(
            {
                "action_id": f"a{k}",
                "exchange": "NSE",
                "instrument_id": draw(st.sampled_from(IDS)),
                "symbol": "X",
                "ex_date": ex,
                "action_type": kind,
                "ratio_new": draw(st.sampled_from([1.0, 2.0, 3.0])),
                "ratio_old": draw(st.sampled_from([1.0, 4.0, 5.0])),
                "price_factor": draw(st.sampled_from([0.1, 0.5, 2 / 3, 1.0, 2.0])),
                "amount": draw(st.floats(0.5, 40)),
                "source": "nse_bc",
                "status": draw(st.sampled_from(["confirmed", "inferred", "rejected"])),
                "knowledge_time": dt.datetime.combine(ex - dt.timedelta(days=lead_days), dt.time(18), IST),
            }
        )
    actions = (
        schemas.conform(pl.DataFrame(acts), schemas.CORPORATE_ACTIONS)
        if acts
        else schemas.empty(schemas.CORPORATE_ACTIONS)
    )
    return bars, actions


def _rel_close(a: list[float | None], b: list[float | None]) -> bool:
    return all(
        (x is None and y is None)
        or (x is not None and y is not None and abs(x - y) <= 1e-9 * max(1.0, abs(y)))
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=60, deadline=None)
@given(panels(), st.booleans())
def test_dividing_by_the_factor_gives_back_raw_prices(
    data: tuple[pl.DataFrame, pl.DataFrame], divs: bool
) -> None:
    bars, actions = data
    out = adjust_bars(bars, actions, dividends=divs)
    for col in PRICE_COLS:
        back = (out.get_column(f"adj_{col}") / out.get_column("adj_factor")).to_list()
        assert _rel_close(back, bars.get_column(col).to_list())
    vol = (out.get_column("adj_volume") * out.get_column("adj_factor")).to_list()
    assert _rel_close(vol, [float(v) for v in bars.get_column("volume").to_list()])


@settings(max_examples=60, deadline=None)
@given(panels(), st.booleans())
def test_as_of_before_every_action_is_the_raw_series(
    data: tuple[pl.DataFrame, pl.DataFrame], divs: bool
) -> None:
    bars, actions = data
    earliest = actions.get_column("knowledge_time").min() if actions.height else None
    as_of = (
        (earliest - dt.timedelta(seconds=1)) if isinstance(earliest, dt.datetime) else dt.datetime.now(dt.UTC)
    )
    out = adjust_bars(bars, actions, as_of=as_of, dividends=divs)
    assert out.get_column("adj_factor").to_list() == [1.0] * bars.height
    for col in PRICE_COLS:
        assert out.get_column(f"adj_{col}").to_list() == bars.get_column(col).to_list()


@settings(max_examples=80, deadline=None)
@given(panels(), st.data(), st.booleans())
def test_no_look_ahead(data: tuple[pl.DataFrame, pl.DataFrame], pick: st.DataObject, divs: bool) -> None:
    bars, actions = data
    dates = sorted(set(bars.get_column("date").to_list()))
    t = pick.draw(st.sampled_from(dates))
    back_s = pick.draw(st.integers(0, 20 * 86400))
    as_of = dt.datetime.combine(t, dt.time(23, 59), IST) - dt.timedelta(seconds=back_s)
    full = adjust_bars(bars, actions, as_of=as_of, dividends=divs).filter(pl.col("date") <= t)
    cut = adjust_bars(bars.filter(pl.col("date") <= t), actions, as_of=as_of, dividends=divs)
    key = ["instrument_id", "date"]
    assert full.sort(key).equals(cut.sort(key))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-0.2, 0.2), min_size=4, max_size=30),
    st.sampled_from([r for r in PLAUSIBLE_RATIOS if abs(r.price_factor - 1) > 0.3]),
    st.data(),
)
def test_planted_ratio_is_recovered_and_removes_the_jump(
    moves: list[float], ratio: Ratio, pick: st.DataObject
) -> None:
    """A random walk of legal moves (within 20%) with one planted split/bonus/consolidation: exactly
    that action is inferred, and the adjusted series has no unexplained jump."""
    at = pick.draw(st.integers(1, len(moves) - 1))
    closes = [100.0]
    for i, m in enumerate(moves):
        closes.append(closes[-1] * (1 + m) * (ratio.price_factor if i + 1 == at else 1.0))
    rows = [
        {
            "exchange": "NSE",
            "instrument_id": IDS[0],
            "symbol": "ABC",
            "series": "EQ",
            "date": day,
            "open": c,
            "high": c,
            "low": c,
            "close": c,
            "volume": 1,
        }
        for day, c in zip(DAYS, closes, strict=False)
    ]
    bars = schemas.conform(pl.DataFrame(rows), schemas.BARS)
    # with a 20% band a legal move never reaches the nearest ratio's tolerance... unless it combines
    # with the planted one: then the product must still be within tolerance of the factor
    bands = pl.DataFrame(
        {"symbol": ["ABC"], "series": ["EQ"], "band_pct": [20.0], "effective_date": [DAYS[0]]}
    )
    found = infer_actions(bars, schemas.empty(schemas.CORPORATE_ACTIONS), bands=bands)
    planted_move = moves[at - 1]
    if abs(planted_move) <= 0.029:
        assert found.select("ex_date", "price_factor").rows() == [(DAYS[at], ratio.price_factor)]
        jumps = unexplained_jumps(adjust_bars(bars, found), actions=found, bands=bands)
        assert jumps.is_empty()
    assert found.height <= 1
    if found.height:
        assert found.get_column("ex_date").to_list() == [DAYS[at]]
