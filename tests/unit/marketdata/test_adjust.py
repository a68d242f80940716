"""Point-in-time adjustment with hand-checked values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from earnest.core.calendar import IST
from earnest.core.errors import ConfigError, DataError
from earnest.marketdata import ADJUSTED_COLUMNS, adjust_bars, adjusted_bars
from earnest.store import open_store

MakeBars = Callable[..., pl.DataFrame]
MakeAction = Callable[..., dict[str, Any]]
MakeActions = Callable[[list[dict[str, Any]]], pl.DataFrame]


def _col(frame: pl.DataFrame, name: str) -> list[float]:
    return [round(v, 6) for v in frame.get_column(name).to_list()]


def test_split_and_bonus_hand_checked(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    # 2:1 split before bar 2, 1:1 bonus before bar 4
    bars = make_bars([100.0, 102.0, 51.0, 52.0, 26.0, 26.5], steps={2: 0.5, 4: 0.5}, volume=1000)
    d = bars.get_column("date")
    acts = make_actions([make_action(d[2], 0.5), make_action(d[4], 0.5, action_type="bonus")])
    out = adjust_bars(bars, acts)
    assert _col(out, "adj_factor") == [0.25, 0.25, 0.5, 0.5, 1.0, 1.0]
    assert _col(out, "adj_close") == [25.0, 25.5, 25.5, 26.0, 26.0, 26.5]
    assert _col(out, "adj_volume") == [4000.0, 4000.0, 2000.0, 2000.0, 1000.0, 1000.0]
    # NSE's prev_close is already in the ex-date's units: adjusted, it continues the series
    assert out.get_column("adj_prev_close").to_list()[1:] == pytest.approx(_col(out, "adj_close")[:-1])
    assert list(out.columns[-len(ADJUSTED_COLUMNS) :]) == list(ADJUSTED_COLUMNS)
    assert out.get_column("close").to_list() == bars.get_column("close").to_list()


def test_unadjusted_prev_close_is_put_in_the_right_units(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0, 102.0, 51.0, 52.0], prev_close="raw")
    acts = make_actions([make_action(bars.get_column("date")[2], 0.5)])
    out = adjust_bars(bars, acts)
    assert out.get_column("adj_prev_close").to_list() == [None, 50.0, 51.0, 51.0]


def test_same_day_actions_multiply_and_other_instruments_are_untouched(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = pl.concat(
        [
            make_bars([100.0, 100.0, 25.0]),
            make_bars([80.0, 80.0, 80.0], instrument_id="INE222C01012", symbol="GHI"),
        ]
    )
    d = bars.get_column("date")
    acts = make_actions(
        [make_action(d[2], 0.5), make_action(d[2], 0.5, action_type="bonus")]  # split and bonus together
    )
    out = adjust_bars(bars, acts)
    assert _col(out, "adj_factor") == [0.25, 0.25, 1.0, 1.0, 1.0, 1.0]
    assert _col(out, "adj_close")[3:] == [80.0, 80.0, 80.0]


def test_status_rules(make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions) -> None:
    bars = make_bars([100.0, 100.0, 50.0])
    ex = bars.get_column("date")[2]
    inferred = make_actions([make_action(ex, 0.5, status="inferred", source="inferred")])
    rejected = make_actions([make_action(ex, 0.5, status="rejected")])
    assert _col(adjust_bars(bars, inferred), "adj_factor") == [0.5, 0.5, 1.0]
    assert _col(adjust_bars(bars, inferred, include_inferred=False), "adj_factor") == [1.0, 1.0, 1.0]
    assert _col(adjust_bars(bars, rejected), "adj_factor") == [1.0, 1.0, 1.0]


def test_point_in_time(make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions) -> None:
    bars = make_bars([100.0, 100.0, 50.0, 50.0])
    ex = bars.get_column("date")[2]
    announced = dt.datetime.combine(bars.get_column("date")[0], dt.time(18), IST)
    acts = make_actions([make_action(ex, 0.5, known_at=announced)])
    # before the announcement: not applied
    before = announced - dt.timedelta(minutes=1)
    assert _col(adjust_bars(bars, acts, as_of=before), "adj_factor") == [1.0] * 4
    # announced but not yet ex: prices are still in the old share units
    assert _col(adjust_bars(bars, acts, as_of=announced), "adj_factor") == [1.0] * 4
    # on the ex-date it applies; and with as_of=None everything known now applies
    on_ex = dt.datetime.combine(ex, dt.time(9, 0), IST)
    assert _col(adjust_bars(bars, acts, as_of=on_ex), "adj_factor") == [0.5, 0.5, 1.0, 1.0]
    assert _col(adjust_bars(bars, acts), "adj_factor") == [0.5, 0.5, 1.0, 1.0]


def test_inferred_action_unknown_before_its_ex_date_open(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0, 100.0, 50.0, 50.0])
    ex = bars.get_column("date")[2]
    opened = dt.datetime.combine(ex, dt.time(9, 15), IST)
    acts = make_actions([make_action(ex, 0.5, status="inferred", source="inferred", known_at=opened)])
    assert _col(adjust_bars(bars, acts, as_of=opened - dt.timedelta(seconds=1)), "adj_factor") == [1.0] * 4
    assert _col(adjust_bars(bars, acts, as_of=opened), "adj_factor") == [0.5, 0.5, 1.0, 1.0]


def test_naive_as_of_is_rejected(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    with pytest.raises(ConfigError) as err:
        adjust_bars(make_bars([1.0]), no_actions, as_of=dt.datetime(2024, 1, 1))
    assert err.value.field == "as_of"


def test_dividend_adjustment_is_opt_in(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0, 100.0, 95.0])
    acts = make_actions([make_action(bars.get_column("date")[2], 1.0, action_type="DIVIDEND", amount=5.0)])
    assert _col(adjust_bars(bars, acts), "adj_factor") == [1.0, 1.0, 1.0]
    assert _col(adjust_bars(bars, acts, dividends=True), "adj_factor") == [0.95, 0.95, 1.0]
    assert _col(adjust_bars(bars, acts, dividends=True), "adj_close") == [95.0, 95.0, 95.0]


def test_dividend_above_price_is_a_data_error(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0, 100.0, 95.0])
    acts = make_actions([make_action(bars.get_column("date")[2], 1.0, action_type="dividend", amount=150.0)])
    with pytest.raises(DataError) as err:
        adjust_bars(bars, acts, dividends=True)
    assert err.value.field == "amount"
    assert "dividend" in str(err.value)


def test_rights_factor_from_terp(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    # 1 new share for every 4 held at 50 when the cum-rights close is 100: TERP = (4*100 + 1*50) / 5 = 90
    bars = make_bars([100.0, 100.0, 90.0])
    ex = bars.get_column("date")[2]
    rights = make_action(ex, 1.0, action_type="rights", ratio_new=1.0, ratio_old=4.0, amount=50.0)
    assert _col(adjust_bars(bars, make_actions([rights])), "adj_factor") == [0.9, 0.9, 1.0]
    # without an issue price, the stored factor is used
    bare = make_action(ex, 0.97, action_type="rights", ratio_new=1.0, ratio_old=4.0)
    assert _col(adjust_bars(bars, make_actions([bare])), "adj_factor") == [0.97, 0.97, 1.0]


def test_symbol_only_action_is_resolved_to_the_instrument(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0, 100.0, 50.0])
    acts = make_actions([make_action(bars.get_column("date")[2], 0.5, instrument_id=None)])
    assert _col(adjust_bars(bars, acts), "adj_factor") == [0.5, 0.5, 1.0]


def test_row_order_is_preserved(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0, 100.0, 50.0])
    acts = make_actions([make_action(bars.get_column("date")[2], 0.5)])
    out = adjust_bars(bars.reverse(), acts)
    assert _col(out, "adj_factor") == [1.0, 0.5, 0.5]


def test_adjusted_bars_from_a_store(
    tmp_path: Path, make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    store = open_store(f"duckdb:///{tmp_path / 'e.duckdb'}")
    try:
        bars = make_bars([100.0, 100.0, 50.0, 51.0])
        d = bars.get_column("date")
        store.upsert("bars", bars)
        store.upsert("corporate_actions", make_actions([make_action(d[2], 0.5)]))
        out = adjusted_bars(store, symbols=["ABC"], end=d[1])
        assert _col(out, "adj_close") == [50.0, 50.0]  # the action after `end` still applies
        # as of the end of day 1 the split has not gone ex, and later bars were not yet published
        as_of = dt.datetime.combine(d[1], dt.time(18), IST)
        past = adjusted_bars(store, instrument_ids=["INE000A01010"], as_of=as_of)
        assert past.get_column("date").to_list() == d[:2].to_list()
        assert _col(past, "adj_close") == [100.0, 100.0]
        assert adjusted_bars(store, symbols=["NOPE"]).is_empty()
    finally:
        store.close()
