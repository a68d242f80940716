"""Weekly technical features: hand-checked alignment, weekly bars, and the multi-timeframe no-leak rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core.calendar import nse_calendar
from earnest.features import weekly as W

WEEKDAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(800)]
WEEKDAYS = [d for d in WEEKDAYS if d.weekday() < 5]
"""A calendar where every weekday is a session: weeks end on Fridays."""


def make_panel(
    dates: Sequence[dt.date], close: Sequence[float], *, iid: str = "INE000A01010", seed: int = 0
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    c = np.asarray(close, dtype=float)
    return pl.DataFrame(
        {
            "instrument_id": [iid] * len(c),
            "symbol": [iid[:6]] * len(c),
            "date": list(dates),
            "open": c * (1 + rng.uniform(-0.01, 0.01, len(c))),
            "high": c * (1 + rng.uniform(0.01, 0.03, len(c))),
            "low": c * (1 - rng.uniform(0.01, 0.03, len(c))),
            "close": c,
            "volume": rng.uniform(1000, 5000, len(c)).round(),
        },
        schema_overrides={"date": pl.Date},
    )


def random_walk(n: int, seed: int) -> np.ndarray:
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.02, n)))


def at(frame: pl.DataFrame, day: dt.date, column: str, iid: str = "INE000A01010") -> float | None:
    value = frame.filter((pl.col("date") == day) & (pl.col("instrument_id") == iid)).get_column(column)
    return value.item()  # type: ignore[no-any-return]


def test_weekly_return_uses_completed_weeks_only() -> None:
    # three Mon-Fri weeks; Friday closes 100, 110, 121
    dates = WEEKDAYS[:15]
    close = [90, 95, 98, 99, 100, 101, 102, 104, 108, 110, 112, 114, 116, 118, 121]
    out = W.weekly_features(make_panel(dates, close), sessions=WEEKDAYS)
    got = out.get_column("wk_ret_1w").to_list()
    assert got[:9] == [None] * 9  # week 1 alone has no return; week 2's Mon-Thu still see week 1
    assert got[9] == pytest.approx(0.1)  # Friday of week 2: its own week is complete
    assert got[10:14] == pytest.approx([0.1] * 4)  # week 3's Mon-Thu: week 2
    assert got[14] == pytest.approx(0.1)  # 121 / 110 - 1


def test_weekly_indicators_match_talib_on_weekly_bars() -> None:
    n = 400
    panel = make_panel(WEEKDAYS[:n], random_walk(n, 11), seed=11)
    out = W.weekly_features(panel, sessions=WEEKDAYS)
    weeks = (
        panel.group_by(pl.col("date").dt.truncate("1w").alias("week"), maintain_order=True)
        .agg(
            pl.col("date").last(),
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .sort("week")
    )
    close, high, low = (weeks.get_column(c).to_numpy() for c in ("close", "high", "low"))
    expect = {
        "wk_ret_4w": np.concatenate((np.full(4, np.nan), close[4:] / close[:-4] - 1)),
        "wk_rsi_14": talib.RSI(close, 14),
        "wk_macd_signal_12_26_9": talib.MACD(close, 12, 26, 9)[1],
        "wk_atr_14_pct": 100 * talib.ATR(high, low, close, 14) / close,
        "wk_vol_20w": np.concatenate(([np.nan], talib.STDDEV(np.diff(np.log(close)), 20)))
        * np.sqrt(20 / 19 * 52),
    }
    macd, _, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, 0)
    volume = weeks.get_column("volume").to_numpy()
    expect |= {
        "wk_ret_1w": np.concatenate(([np.nan], close[1:] / close[:-1] - 1)),
        "wk_ret_13w": np.concatenate((np.full(13, np.nan), close[13:] / close[:-13] - 1)),
        "wk_macd_12_26_9": macd,
        "wk_macd_hist_12_26_9": hist,
        "wk_bb_pctb_20_2": (close - lower) / (upper - lower),
        "wk_bb_width_20_2": (upper - lower) / middle,
        "wk_volume_ratio_20w": volume / talib.SMA(volume, 20),
    }
    assert set(expect) == set(W.OUTPUTS)
    on_fridays = out.join(weeks.select("date"), on="date", how="semi").sort("date")
    assert on_fridays.height == weeks.height
    for name, want in expect.items():
        got = on_fridays.get_column(name).fill_null(np.nan).to_numpy()
        assert np.allclose(got, want, rtol=1e-9, equal_nan=True), name
        assert np.isfinite(want).sum() > 10, name


def test_weekly_values_hand_checked_on_flat_weeks() -> None:
    # 21 Mon-Fri weeks; every day of week w closes at w + 1 and trades 100 shares (300 in the last week)
    dates = WEEKDAYS[:105]
    close = [float(i // 5 + 1) for i in range(105)]
    panel = make_panel(dates, close).with_columns(
        pl.Series("volume", [300.0 if i >= 100 else 100.0 for i in range(105)])
    )
    out = W.weekly_features(panel, sessions=WEEKDAYS)
    week19_friday, week20_friday = dates[99], dates[104]
    assert at(out, week20_friday, "wk_ret_13w") == pytest.approx(21 / 8 - 1)
    assert at(out, dates[103], "wk_ret_13w") == pytest.approx(20 / 7 - 1)  # Thursday: week 19's value
    # weekly volumes 500 x 19 and 1500: 1500 over their mean 550
    assert at(out, week20_friday, "wk_volume_ratio_20w") == pytest.approx(1500 / 550)
    assert at(out, week19_friday, "wk_volume_ratio_20w") == pytest.approx(1.0)
    # weekly closes 1..20: mean 10.5, population std sqrt(399 / 12), as in the daily Bollinger test
    std = (399 / 12) ** 0.5
    assert at(out, week19_friday, "wk_bb_pctb_20_2") == pytest.approx((20 - 10.5 + 2 * std) / (4 * std))
    assert at(out, week19_friday, "wk_bb_width_20_2") == pytest.approx(4 * std / 10.5)
    assert at(out, dates[98], "wk_bb_pctb_20_2") is None  # only 19 weeks completed on Thursday


def test_wednesday_value_ignores_thursday_and_friday() -> None:
    n = 300
    close = random_walk(n, 3)
    panel = make_panel(WEEKDAYS[:n], close, seed=3)
    wed, thu, fri = WEEKDAYS[247], WEEKDAYS[248], WEEKDAYS[249]
    assert (wed.weekday(), fri.weekday()) == (2, 4)
    changed = panel.with_columns(
        pl.when(pl.col("date").is_in([thu, fri])).then(pl.col(c) * 1.5).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close", "volume")
    )
    base = W.weekly_features(panel, sessions=WEEKDAYS)
    moved = W.weekly_features(changed, sessions=WEEKDAYS)
    cols = list(W.OUTPUTS)
    before = pl.col("date") <= wed
    assert moved.filter(before).equals(base.filter(before))
    assert (
        moved.filter(pl.col("date") == thu)
        .select(cols)
        .equals(base.filter(pl.col("date") == thu).select(cols))
    )
    assert at(moved, fri, "wk_ret_1w") != pytest.approx(at(base, fri, "wk_ret_1w"))


def test_week_ends_on_thursday_before_a_friday_holiday() -> None:
    # NSE: Holi on Mon 25 Mar 2024 and Good Friday on 29 Mar 2024; that week's sessions are Tue-Thu
    sessions = nse_calendar().sessions_between(dt.date(2023, 1, 1), dt.date(2024, 4, 30))
    panel = make_panel(sessions, random_walk(len(sessions), 5), seed=5)
    out = W.weekly_features(panel)
    thu, wed, mon = dt.date(2024, 3, 28), dt.date(2024, 3, 27), dt.date(2024, 4, 1)
    prev_fri = dt.date(2024, 3, 22)
    for col in ("wk_ret_1w", "wk_rsi_14", "wk_macd_12_26_9"):
        assert at(out, thu, col) == at(out, mon, col) != at(out, wed, col)
        assert at(out, wed, col) == at(out, prev_fri, col)
    closes = dict(zip(panel.get_column("date"), panel.get_column("close"), strict=True))
    assert at(out, thu, "wk_ret_1w") == pytest.approx(closes[thu] / closes[prev_fri] - 1)


def test_missing_friday_row_completes_the_week_next_monday() -> None:
    n = 60
    dates = WEEKDAYS[:n]
    full = make_panel(dates, random_walk(n, 8), seed=8)
    fri, thu, mon = dates[44], dates[43], dates[45]
    assert fri.weekday() == 4
    suspended = full.filter(pl.col("date") != fri)
    out = W.weekly_features(suspended, sessions=WEEKDAYS)
    closes = dict(zip(full.get_column("date"), full.get_column("close"), strict=True))
    assert at(out, thu, "wk_ret_1w") == pytest.approx(closes[dates[39]] / closes[dates[34]] - 1)
    assert at(out, mon, "wk_ret_1w") == pytest.approx(closes[thu] / closes[dates[39]] - 1)


def test_row_after_the_calendar_week_end_counts_towards_next_week() -> None:
    dates = WEEKDAYS[:10]
    saturday = dates[4] + dt.timedelta(days=1)  # a special session the calendar does not list
    rows = [*dates[:5], saturday, *dates[5:]]
    close = [100, 100, 100, 100, 100, 200, 101, 102, 103, 104, 110]
    out = W.weekly_features(make_panel(rows, close), sessions=WEEKDAYS)
    assert at(out, saturday, "wk_ret_1w") is None  # only week 1 (ending Friday, close 100) is complete
    assert at(out, dates[9], "wk_ret_1w") == pytest.approx(0.1)  # week 2 includes Saturday: 110 / 100


def test_week_numbers_and_week_ends() -> None:
    monday = dt.date(2024, 1, 1)
    day = (monday - dt.date(1970, 1, 1)).days
    week = W.iso_week(np.array([day - 1, day, day + 6, day + 7]))
    assert week.tolist() == [week[1] - 1, week[1], week[1], week[1] + 1]  # Sunday | Mon..Sun | Mon
    assert W.week_end_days(week[1:2], sessions=[]).tolist() == [day + 6]  # no session: its Sunday
    wednesday = monday + dt.timedelta(days=2)
    assert W.week_end_days(week[1:2], sessions=[monday, wednesday]).tolist() == [day + 2]


def test_instruments_isolated_and_specs_match() -> None:
    a = make_panel(WEEKDAYS[:250], random_walk(250, 1), iid="INE000A01010", seed=1)
    b = make_panel(WEEKDAYS[30:260], random_walk(230, 2), iid="INE000B01010", seed=2)
    both = W.weekly_features(pl.concat([b, a]), sessions=WEEKDAYS)
    assert both.head(b.height).equals(W.weekly_features(b, sessions=WEEKDAYS))
    assert both.tail(a.height).equals(W.weekly_features(a, sessions=WEEKDAYS))
    (spec,) = W.SPECS
    assert both.columns == ["instrument_id", "date", "known_at", *spec.outputs]
    assert spec.lookback_sessions == W.WEEKLY_LOOKBACK_SESSIONS


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 400), cut=st.floats(0.0, 1.0))
def test_no_look_ahead_truncate_and_perturb(seed: int, n: int, cut: float) -> None:
    sessions = nse_calendar().sessions_between(dt.date(2022, 1, 1), dt.date(2024, 12, 31))[:n]
    panel = pl.concat(
        [
            make_panel(sessions, random_walk(n, seed), seed=seed),
            make_panel(sessions[5:], random_walk(n - 5, seed + 1), iid="INE000B01010", seed=seed + 1),
        ]
    )
    t = sessions[int(cut * (n - 1))]
    before = pl.col("date") <= t
    full = W.weekly_features(panel)
    assert W.weekly_features(panel.filter(before)).equals(full.filter(before))
    prices = ("open", "high", "low", "close", "volume")
    bumped = panel.with_columns(pl.when(before).then(pl.col(prices)).otherwise(pl.col(prices) * 1.61))
    assert W.weekly_features(bumped).filter(before).equals(full.filter(before))
