"""Inference of splits, bonuses and consolidations from planted synthetic series."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.calendar import IST
from earnest.core.errors import ConfigError
from earnest.marketdata import PLAUSIBLE_RATIOS, infer_actions

MakeBars = Callable[..., pl.DataFrame]
MakeAction = Callable[..., dict[str, Any]]
MakeActions = Callable[[list[dict[str, Any]]], pl.DataFrame]


def _one(found: pl.DataFrame) -> dict[str, Any]:
    assert found.height == 1, found
    return found.row(0, named=True)


PLANTED: list[tuple[float, list[float], float, str]] = [
    (100.0, [50.6, 51.0, 50.2], 0.5, "1:2"),  # 2:1 split
    (840.0, [84.5, 85.1, 84.0], 0.1, "1:10"),  # 10:1 split
    (300.0, [199.0, 202.0, 201.0], 2 / 3, "2:3"),  # 1:2 bonus
    (250.0, [100.9, 99.5, 101.0], 0.4, "2:5"),  # face value 5 -> 2
    (12.0, [119.0, 121.0, 120.5], 10.0, "10:1"),  # 1:10 consolidation
]


@pytest.mark.parametrize("planted", PLANTED)
def test_planted_ratio_is_inferred(
    make_bars: MakeBars, no_actions: pl.DataFrame, planted: tuple[float, list[float], float, str]
) -> None:
    before, after, factor, label = planted
    bars = make_bars([before] * 5 + after, prev_close="raw")
    act = _one(infer_actions(bars, no_actions))
    ex = bars.get_column("date")[5]
    assert act["ex_date"] == ex
    assert act["price_factor"] == pytest.approx(factor)
    assert f"{act['ratio_old']:.0f}:{act['ratio_new']:.0f}" == label
    assert (act["source"], act["status"]) == ("inferred", "inferred")
    assert act["action_type"] == ("consolidation" if factor > 1 else "split_bonus")
    assert act["instrument_id"] == "INE000A01010"
    # known at the ex-date's 09:15 IST open, not a second earlier
    assert act["knowledge_time"] == dt.datetime.combine(ex, dt.time(9, 15), IST).astimezone(dt.UTC)
    assert f" {label} from overnight ratio " in act["purpose"]
    assert "prev_close unadjusted" in act["purpose"]


def test_bonus_with_nse_prev_close_records_the_evidence(
    make_bars: MakeBars, no_actions: pl.DataFrame
) -> None:
    # a 1:1 bonus: NSE writes prev_close = 200 * 0.5 = 100 on the ex-date
    bars = make_bars([200.0, 201.0, 200.0, 99.7, 101.0, 100.0], steps={3: 0.5})
    act = _one(infer_actions(bars, no_actions))
    assert act["price_factor"] == 0.5
    assert act["purpose"] == (
        "inferred split/bonus 1:2 from overnight ratio 0.4985 (open over previous close; "
        "prev_close agrees; next close persists)"
    )


def test_prev_close_confirms_a_ratio_the_prices_alone_do_not(
    make_bars: MakeBars, no_actions: pl.DataFrame
) -> None:
    # 2:1 split on a day the stock also rose 9%: ratio 0.545 is 9% off 1:2 and 10% off 3:5, ambiguous
    closes = [1000.0, 1000.0, 545.0, 546.0]
    assert infer_actions(make_bars(closes, prev_close="raw"), no_actions).is_empty()
    act = _one(infer_actions(make_bars(closes, steps={2: 0.5}), no_actions))
    assert act["price_factor"] == 0.5
    assert "prev_close agrees" in act["purpose"]


def test_extreme_move_with_one_near_ratio_is_a_wide_match(
    make_bars: MakeBars, no_actions: pl.DataFrame
) -> None:
    # 5:1 split on a day the stock also rose 6%: 0.212 is 6% off 1:5 (beyond the 3% tolerance), but
    # no session can fall 79% and the next ratio (1:4) is 18% away
    act = _one(infer_actions(make_bars([1000.0, 1000.0, 212.0, 213.0], prev_close="raw"), no_actions))
    assert act["price_factor"] == pytest.approx(0.2)
    assert "wide match 6.0% off" in act["purpose"]
    # 12% off is too far even for an extreme move
    assert infer_actions(make_bars([1000.0, 1000.0, 224.0, 225.0], prev_close="raw"), no_actions).is_empty()


def test_move_at_the_circuit_limit_is_not_outside_the_band(
    make_bars: MakeBars, no_actions: pl.DataFrame
) -> None:
    # a lower circuit of exactly 20% in a 20% band is a legal move, though it equals a 1:4 bonus
    bands = pl.DataFrame(
        {"symbol": ["ABC"], "series": ["EQ"], "band_pct": [20.0], "effective_date": [dt.date(2023, 1, 2)]}
    )
    bars = make_bars([100.0, 100.0, 80.0, 80.0, 80.5], prev_close="raw")
    assert infer_actions(bars, no_actions, bands=bands).is_empty()


def test_small_factor_needs_band_or_prev_close(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    # a 1:4 bonus (factor 0.8) is a 20% move: possible without a band, impossible in a 5% band
    closes = [500.0] * 4 + [400.5, 401.0, 399.0]
    assert infer_actions(make_bars(closes, prev_close="raw"), no_actions).is_empty()
    bands = pl.DataFrame(
        {"symbol": ["ABC"], "series": ["EQ"], "band_pct": [5.0], "effective_date": [dt.date(2023, 6, 1)]}
    )
    act = _one(infer_actions(make_bars(closes, prev_close="raw"), no_actions, bands=bands))
    assert act["price_factor"] == pytest.approx(0.8)
    act = _one(infer_actions(make_bars(closes, steps={4: 0.8}), no_actions))
    assert "prev_close agrees" in act["purpose"]


def test_band_not_yet_effective_is_not_used(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    closes = [500.0] * 4 + [400.5, 401.0, 399.0]
    later = pl.DataFrame(
        {"symbol": ["ABC"], "series": ["EQ"], "band_pct": [5.0], "effective_date": [dt.date(2030, 1, 1)]}
    )
    assert infer_actions(make_bars(closes, prev_close="raw"), no_actions, bands=later).is_empty()


def test_real_crash_is_not_a_split(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    # -30% and it stays there: 0.70 is 5% from 2/3 and 7% from 3/4, no plausible ratio
    bars = make_bars([100.0] * 5 + [70.0, 69.0, 71.0, 70.5], prev_close="raw")
    assert infer_actions(bars, no_actions).is_empty()


def test_intraday_collapse_is_not_a_split(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    # opens flat, closes 25% down (close ratio 0.75 matches 3/4, but the open did not gap)
    bars = make_bars([100.0, 100.0, 75.0, 74.0], opens=[100.0, 100.0, 99.0, 75.0], prev_close="raw")
    bands = pl.DataFrame(
        {"symbol": ["ABC"], "series": ["EQ"], "band_pct": [20.0], "effective_date": [dt.date(2023, 1, 2)]}
    )
    assert infer_actions(bars, no_actions, bands=bands).is_empty()


def test_one_day_bad_print_that_reverts_is_not_a_split(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    # neither the drop (it does not persist) nor the way back up (the old level was not established)
    bars = make_bars([100.0, 101.0, 50.5, 101.5, 102.0], prev_close="raw")
    assert infer_actions(bars, no_actions).is_empty()
    spike = make_bars([100.0, 101.0, 1010.0, 101.5, 102.0], prev_close="raw")
    assert infer_actions(spike, no_actions).is_empty()


def test_a_split_on_the_last_bar_is_inferred_without_persistence(
    make_bars: MakeBars, no_actions: pl.DataFrame
) -> None:
    act = _one(infer_actions(make_bars([100.0, 100.0, 50.1], prev_close="raw"), no_actions))
    assert act["purpose"].endswith("no next session)")


def test_known_action_suppresses_inference(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0] * 4 + [50.0, 50.5], prev_close="raw")
    ex = bars.get_column("date")[4]
    assert infer_actions(bars, make_actions([make_action(ex, 0.5)])).is_empty()
    # a symbol-only action (no ISIN resolved) covers it too
    assert infer_actions(bars, make_actions([make_action(ex, 0.5, instrument_id=None)])).is_empty()
    # an action whose ex-date fell in a gap of the series (no bar that day) covers the next bar
    gappy = make_bars([100.0] * 4 + [50.0, 50.5, 50.2], prev_close="raw").filter(pl.col("date") != ex)
    assert infer_actions(gappy, make_actions([make_action(ex, 0.5)])).is_empty()
    # ... but not one whose ex-date is after the bar
    later = bars.get_column("date")[5]
    assert _one(infer_actions(bars, make_actions([make_action(later, 0.5)])))["ex_date"] == ex


def test_known_but_rejected_or_dividend_does_not_suppress(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0] * 4 + [50.0, 50.5], prev_close="raw")
    ex = bars.get_column("date")[4]
    rejected = make_action(ex, 0.5, status="rejected")
    dividend = make_action(ex, 1.0, action_type="dividend", amount=2.0)
    other = make_action(ex, 0.5, instrument_id="INE999Z01019", symbol="XYZ")
    act = _one(infer_actions(bars, make_actions([rejected, dividend, other])))
    assert act["price_factor"] == 0.5


def test_rerun_infers_nothing_new_and_rejected_is_not_resurrected(
    make_bars: MakeBars, no_actions: pl.DataFrame
) -> None:
    bars = make_bars([100.0] * 4 + [50.0, 50.5], prev_close="raw")
    first = infer_actions(bars, no_actions)
    assert first.height == 1
    assert infer_actions(bars, first).is_empty()
    rejected = first.with_columns(status=pl.lit("rejected"))
    assert infer_actions(bars, rejected).is_empty()
    # the id is stable: the same evidence gives the same id
    assert infer_actions(bars, no_actions).get_column("action_id").to_list() == first["action_id"].to_list()


def test_one_action_per_instrument_across_series_and_exchanges(
    make_bars: MakeBars, no_actions: pl.DataFrame
) -> None:
    closes = [100.0] * 4 + [50.0, 50.5]
    bars = pl.concat(
        [
            make_bars(closes, prev_close="raw"),
            make_bars(closes, prev_close="raw", series="BE"),
            make_bars(closes, prev_close="raw", exchange="BSE"),
            make_bars([100.0] * 6, prev_close="raw", instrument_id="INE111B01011", symbol="DEF"),
        ]
    )
    act = _one(infer_actions(bars, no_actions))
    assert (act["exchange"], act["series"]) == ("NSE", "EQ")


def test_empty_inputs(no_actions: pl.DataFrame) -> None:
    out = infer_actions(schemas.empty(schemas.BARS), no_actions)
    assert out.is_empty()
    assert out.schema == pl.Schema(schemas.CORPORATE_ACTIONS)


def test_tolerance_out_of_range_is_a_config_error(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    with pytest.raises(ConfigError) as err:
        infer_actions(make_bars([1.0, 1.0]), no_actions, tolerance=0.2)
    assert err.value.field == "split_ratio_tolerance"


def test_plausible_ratios_are_far_enough_apart() -> None:
    logs = sorted(math.log(r.price_factor) for r in PLAUSIBLE_RATIOS)
    assert min(b - a for a, b in itertools.pairwise(logs)) > 2 * math.log1p(0.03)
