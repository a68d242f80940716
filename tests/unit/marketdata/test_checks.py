"""Post-ingest series checks: calendar gaps, stale prices, unexplained jumps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import IST
from earnest.marketdata import adjust_bars, calendar_gaps, stale_prices, unexplained_jumps

MakeBars = Callable[..., pl.DataFrame]
MakeAction = Callable[..., dict[str, Any]]
MakeActions = Callable[[list[dict[str, Any]]], pl.DataFrame]
FOUND_AT = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def test_calendar_gaps_one_finding_per_run(make_bars: MakeBars) -> None:
    bars = make_bars([100.0] * 12)
    d = bars.get_column("date")
    holey = bars.filter(~pl.col("date").is_in([d[3], d[4], d[5], d[8]]))
    out = calendar_gaps(holey, found_at=FOUND_AT)
    assert out.schema == pl.Schema(schemas.FINDINGS)
    assert out.get_column("date").to_list() == [d[3], d[8]]
    assert set(out.get_column("rule")) == {"calendar_gap"}
    assert set(out.get_column("severity")) == {"warning"}
    assert out.get_column("detail")[0] == (
        f"ABC EQ: no bar on 3 NSE session(s) from {d[3]} to {d[5]} (bars resume {d[6]}); "
        "suspension, series change or missing file"
    )
    assert out.get_column("found_at").to_list() == [FOUND_AT, FOUND_AT]


def test_calendar_gaps_ignore_other_series_exchanges_and_the_edges(make_bars: MakeBars) -> None:
    bars = make_bars([100.0] * 8)
    d = bars.get_column("date")
    other = pl.concat(
        [
            make_bars([100.0] * 8, series="BE").filter(pl.col("date") != d[3]),
            make_bars([100.0] * 8, exchange="BSE").filter(pl.col("date") != d[3]),
            bars.filter(pl.col("date") > d[1], pl.col("date") < d[6]),  # starts late, ends early
        ]
    )
    assert calendar_gaps(other).is_empty()


def test_stale_prices(make_bars: MakeBars) -> None:
    closes = [100.0, 101.0] + [101.0] * 6 + [102.0, 103.0] + [103.0] * 4
    volume = [10, 10] + [0] * 6 + [10, 10] + [0] * 4
    bars = make_bars(closes, volume=volume)
    out = stale_prices(bars, stale_days=5, found_at=FOUND_AT)
    d = bars.get_column("date")
    assert out.get_column("date").to_list() == [d[2]]
    assert out.get_column("detail")[0] == (
        f"ABC EQ: close stuck at 101.0 with zero volume on 6 consecutive bars from {d[2]} to {d[7]}"
    )
    assert stale_prices(bars, stale_days=4).height == 2
    assert stale_prices(bars, stale_days=7).is_empty()


def test_zero_volume_with_moving_close_is_not_stale(make_bars: MakeBars) -> None:
    bars = make_bars([100.0 + i for i in range(8)], volume=0)
    assert stale_prices(bars, stale_days=5).is_empty()


def test_unexplained_jump_without_action(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    bars = make_bars([100.0, 100.0, 55.0, 56.0], prev_close="raw")
    out = unexplained_jumps(adjust_bars(bars, no_actions), found_at=FOUND_AT)
    d = bars.get_column("date")
    assert out.get_column("date").to_list() == [d[2]]
    assert out.get_column("severity").to_list() == ["error"]
    assert out.get_column("detail")[0].startswith(
        f"ABC EQ: adjusted move -45.0% from close 100.0 on {d[1]} to open 55.0 / close 55.0 "
        "exceeds the 35.0% limit"
    )


def test_applied_split_leaves_no_jump_and_wrong_factor_does(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    bars = make_bars([100.0, 100.0, 50.0, 51.0])
    ex = bars.get_column("date")[2]
    right = make_actions([make_action(ex, 0.5)])
    assert unexplained_jumps(adjust_bars(bars, right), actions=right).is_empty()
    wrong = make_actions([make_action(ex, 0.25)])  # a residual jump at an applied action: factor is wrong
    assert unexplained_jumps(adjust_bars(bars, wrong), actions=wrong).get_column("date").to_list() == [ex]


def test_move_at_an_unapplied_action_is_explained(
    make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    # a demerger recorded without a factor (or outside the as_of view) explains the drop
    bars = make_bars([100.0, 100.0, 60.0, 61.0])
    ex = bars.get_column("date")[2]
    demerger = make_actions([make_action(ex, 1.0, action_type="demerger")])
    adjusted = adjust_bars(bars, demerger)
    assert unexplained_jumps(adjusted).height == 1
    assert unexplained_jumps(adjusted, actions=demerger).is_empty()
    rejected = demerger.with_columns(status=pl.lit("rejected"))
    assert unexplained_jumps(adjusted, actions=rejected).height == 1
    split = make_actions([make_action(ex, 0.5, known_at=dt.datetime.combine(ex, dt.time(8), IST))])
    early = dt.datetime.combine(bars.get_column("date")[0], dt.time(18), IST)
    assert unexplained_jumps(adjust_bars(bars, split, as_of=early), actions=split).is_empty()


def test_band_sets_the_limit(make_bars: MakeBars, no_actions: pl.DataFrame) -> None:
    bars = make_bars([100.0, 100.0, 89.0, 88.0, 83.0], prev_close="raw")
    adjusted = adjust_bars(bars, no_actions)
    assert unexplained_jumps(adjusted).is_empty()  # no band known: 35%
    bands = pl.DataFrame(
        {"symbol": ["ABC"], "series": ["EQ"], "band_pct": [10.0], "effective_date": [dt.date(2023, 1, 2)]}
    )
    out = unexplained_jumps(adjusted, bands=bands, band_tolerance_pct=0.5)
    assert out.get_column("date").to_list() == [bars.get_column("date")[2]]  # -11% > 10.5%; -5.7% is fine
    assert "exceeds the 10.5% limit" in out.get_column("detail")[0]
    no_band = bands.with_columns(band_pct=pl.lit(None, pl.Float64))  # "No Band" (F&O stock)
    assert unexplained_jumps(adjusted, bands=no_band).is_empty()


def test_unknown_volume_is_not_stale(make_bars: MakeBars) -> None:
    bars = make_bars([100.0] * 8).with_columns(volume=pl.lit(None, pl.Int64))
    assert stale_prices(bars, stale_days=5).is_empty()
    assert stale_prices(bars.with_columns(volume=pl.lit(0, pl.Int64)), stale_days=5).height == 1
