"""Properties of the India cost model (issue 7), on random models, dates and traded values.

- every component is >= 0 and a cell with no trade costs nothing;
- the total never falls when a bought or sold value rises (rounding and brokerage minimums included);
- raising any single rate on a day never lowers that day's total (so costs never raise net PnL);
- the NumPy breakdown summed over components equals the numba scalar kernel, cell by cell.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.backtest.cost_schedule import Exchange, Segment
from earnest.backtest.costs import (
    BROKER_PRESETS,
    COMPONENTS,
    CostModel,
    DailyRates,
    cell_costs,
    cost_breakdown,
)

pytestmark = pytest.mark.filterwarnings("ignore::earnest.backtest.cost_schedule.CostAssumptionWarning")

RATE_FIELDS = [f for f in DailyRates._fields if f != "stt_round"]
values = st.one_of(st.just(0.0), st.floats(0.0, 5e8, allow_nan=False, allow_infinity=False))


@st.composite
def models(draw: st.DrawFn) -> CostModel:
    segment: Segment = draw(st.sampled_from(["delivery", "intraday", "futures", "options"]))
    exchange: Exchange = (
        draw(st.sampled_from(["NSE", "BSE"])) if segment in ("delivery", "intraday") else "NSE"
    )
    return CostModel(
        broker=draw(st.sampled_from(sorted(BROKER_PRESETS))),
        segment=segment,
        exchange=exchange,
        dp_charge=draw(st.booleans()),
        round_stt=draw(st.booleans()),
    )


days = st.dates(dt.date(2000, 1, 1), dt.date(2027, 12, 31))


def _rates(model: CostModel, day: dt.date) -> DailyRates:
    return model.daily_rates(np.array([day], dtype="datetime64[D]"))


@settings(deadline=None, max_examples=150)
@given(model=models(), day=days, buy=values, sell=values)
def test_components_non_negative_and_zero_trade_free(
    model: CostModel, day: dt.date, buy: float, sell: float
) -> None:
    dates = np.array([day, day], dtype="datetime64[D]")
    parts = cost_breakdown(model, dates, [[buy], [0.0]], [[sell], [0.0]])
    for name in COMPONENTS:
        assert (parts[name] >= 0.0).all(), name
        assert parts[name][1, 0] == 0.0, name
    assert cell_costs(_rates(model, day), 0, 0.0, 0.0) == 0.0


@settings(deadline=None, max_examples=150)
@given(model=models(), day=days, buy=values, sell=values, more=values, on_buy=st.booleans())
def test_total_monotone_in_traded_value(
    model: CostModel, day: dt.date, buy: float, sell: float, more: float, on_buy: bool
) -> None:
    rates = _rates(model, day)
    base = cell_costs(rates, 0, buy, sell)
    bigger = cell_costs(rates, 0, buy + more, sell) if on_buy else cell_costs(rates, 0, buy, sell + more)
    assert bigger >= base


@settings(deadline=None, max_examples=200)
@given(
    model=models(),
    day=days,
    buy=values,
    sell=values,
    name=st.sampled_from(RATE_FIELDS),
    bump=st.floats(0.0, 1.0),
)
def test_raising_any_rate_never_lowers_cost(
    model: CostModel, day: dt.date, buy: float, sell: float, name: str, bump: float
) -> None:
    rates = _rates(model, day)
    old = getattr(rates, name)
    step = bump * (100.0 if name in ("dp_per_sell_scrip", "brokerage_cap", "brokerage_min") else 0.01)
    raised = rates._replace(**{name: old + step})
    before = cell_costs(rates, 0, buy, sell)
    after = cell_costs(raised, 0, buy, sell)
    assert after >= before
    # so net PnL (sell - buy - costs) never rises when a rate rises
    assert sell - buy - after <= sell - buy - before


@settings(deadline=None, max_examples=100)
@given(
    model=models(),
    start=days,
    n_days=st.integers(1, 4),
    n_symbols=st.integers(1, 4),
    data=st.data(),
)
def test_vectorised_breakdown_equals_numba_kernel(
    model: CostModel, start: dt.date, n_days: int, n_symbols: int, data: st.DataObject
) -> None:
    dates = np.array([start + dt.timedelta(days=k * 97) for k in range(n_days)], dtype="datetime64[D]")
    cells = st.lists(values, min_size=n_days * n_symbols, max_size=n_days * n_symbols)
    buy = np.array(data.draw(cells)).reshape(n_days, n_symbols)
    sell = np.array(data.draw(cells)).reshape(n_days, n_symbols)
    parts = cost_breakdown(model, dates, buy, sell)
    total = np.sum([parts[c] for c in COMPONENTS], axis=0)
    rates = model.daily_rates(dates)
    for i in range(n_days):
        for j in range(n_symbols):
            kernel = cell_costs(rates, i, float(buy[i, j]), float(sell[i, j]))
            assert math.isclose(kernel, float(total[i, j]), rel_tol=1e-12, abs_tol=1e-9)
