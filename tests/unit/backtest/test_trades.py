"""Event trades -> slot weights: decision rows, exits, slots, held stocks, vol targeting."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from earnest.backtest.trades import plan_event_trades, trailing_vol
from earnest.core.errors import DataError

DATES = np.array([np.datetime64("2024-01-01") + i for i in range(10)], dtype="datetime64[D]")
SYMS = ("A", "B", "C")


def _trades(*rows: tuple[str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": [s for s, _ in rows], "entry_date": [dt.date(2024, 1, 1 + t) for _, t in rows]},
        schema={"symbol": pl.Utf8, "entry_date": pl.Date},
    )


def test_entry_is_decided_the_session_before_and_exits_after_hold() -> None:
    plan = plan_event_trades(_trades(("A", 3)), DATES, SYMS, hold=2, max_positions=4)
    w = plan.weights
    assert w[2, 0] == pytest.approx(0.25)  # decided at row 2, bought at session 3
    assert w[4, 0] == 0.0  # sold at session 5: held sessions 3 and 4
    assert np.isnan(np.delete(w[:, 0], [2, 4])).all()
    assert np.isnan(w[:, 1:]).all()
    assert plan.counts["planned"] == 1


def test_slots_limit_open_positions_and_a_held_stock_is_skipped() -> None:
    plan = plan_event_trades(
        _trades(("A", 2), ("B", 2), ("C", 3), ("A", 3), ("C", 5)), DATES, SYMS, hold=3, max_positions=2
    )
    assert plan.trades.get_column("status").to_list() == [
        "planned",
        "planned",
        "no_slot",
        "already_held",
        "planned",
    ]
    assert plan.weights[4, 2] == pytest.approx(0.5)  # C enters once A and B left (exit row 4)
    assert plan.weights[4, 0] == 0.0


def test_a_new_event_at_the_exit_row_keeps_the_position() -> None:
    plan = plan_event_trades(_trades(("A", 2), ("A", 4)), DATES, SYMS, hold=2, max_positions=1)
    assert plan.trades.get_column("status").to_list() == ["planned", "planned"]
    assert plan.weights[3, 0] == pytest.approx(1.0)  # the exit of the first became the second's entry
    assert plan.weights[5, 0] == 0.0


def test_entries_outside_the_grid_and_open_positions_at_the_end_are_counted() -> None:
    plan = plan_event_trades(_trades(("A", 0), ("B", 20), ("C", 8)), DATES, SYMS, hold=5, max_positions=3)
    assert plan.counts == {"planned": 1, "no_slot": 0, "already_held": 0, "no_session": 2, "open_at_end": 1}
    assert plan.weights[7, 2] == pytest.approx(1 / 3)


def test_max_weight_caps_the_slot_and_vol_target_scales_it_down() -> None:
    vol = np.full((10, 3), 0.04)
    plan = plan_event_trades(
        _trades(("A", 3)), DATES, SYMS, hold=2, max_positions=2, max_weight=0.3, vol=vol, target_vol=0.02
    )
    assert plan.weights[2, 0] == pytest.approx(0.15)  # min(0.5, 0.3) x 0.02 / 0.04


def test_trailing_vol_uses_only_returns_up_to_the_session() -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, size=(40, 2)), axis=0)
    vol = trailing_vol(close, window=20)
    assert np.isnan(vol[:20]).all()
    ret = close[1:] / close[:-1] - 1
    assert vol[25, 0] == pytest.approx(np.std(ret[5:25, 0], ddof=1))
    changed = close.copy()
    changed[30:] *= 1.5
    assert np.array_equal(trailing_vol(changed, window=20)[:30], vol[:30], equal_nan=True)


def test_missing_columns_are_refused() -> None:
    with pytest.raises(DataError, match="entry_date"):
        plan_event_trades(pl.DataFrame({"symbol": ["A"]}), DATES, SYMS, hold=1, max_positions=1)
