"""Daily technical features: REFERENCES.md section 5 examples, hand-checked cases, isolation, no look-ahead."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core.calendar import eod_known_utc
from earnest.core.errors import DataError
from earnest.features import technical as T
from earnest.features.spec import FeatureSpec

# Wilder / StockCharts RSI textbook series and StockCharts' published RSI(14) from index 14
WILDER = [
    44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03, 45.61, 46.28,
    46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45, 45.78, 45.35, 44.03, 44.18,
    44.22, 44.57, 43.42, 42.66, 43.13,
]  # fmt: skip
STOCKCHARTS_RSI = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42, 39.99, 41.46,
    41.87, 45.46, 37.30, 33.08, 37.77,
]  # fmt: skip
DAY0 = dt.date(2024, 1, 1)


def make_panel(
    close: Sequence[float],
    *,
    iid: str = "INE000A01010",
    high: Sequence[float] | None = None,
    low: Sequence[float] | None = None,
    open_: Sequence[float] | None = None,
    volume: Sequence[float] | None = None,
    **extra: Sequence[float | None],
) -> pl.DataFrame:
    """One instrument on consecutive days; high/low default to the close, volume to 1000."""
    n = len(close)
    cols: dict[str, object] = {
        "instrument_id": [iid] * n,
        "symbol": [iid[:6]] * n,
        "date": [DAY0 + dt.timedelta(days=i) for i in range(n)],
        "open": list(open_ if open_ is not None else close),
        "high": list(high if high is not None else close),
        "low": list(low if low is not None else close),
        "close": list(close),
        "volume": list(volume if volume is not None else [1000.0] * n),
    }
    cols.update({k: list(v) for k, v in extra.items()})
    return pl.DataFrame(cols, schema_overrides={"date": pl.Date})


def values(frame: pl.DataFrame, column: str) -> list[float | None]:
    return frame.get_column(column).to_list()


def first_valid(frame: pl.DataFrame, column: str) -> int:
    return int(frame.get_column(column).is_not_null().arg_max() or 0)


# --- REFERENCES.md section 5 ----------------------------------------------------------------------


def test_rsi_wilder_textbook_series() -> None:
    out = T.rsi(make_panel(WILDER))
    got = values(out, "rsi_14")
    assert got[:14] == [None] * 14
    assert got[14:17] == pytest.approx([70.464135, 66.249619, 66.480942], abs=1e-6)
    # StockCharts rounds its averages to 2 dp: within 0.5 of the published table
    assert got[14:] == pytest.approx(STOCKCHARTS_RSI, abs=0.5)


def _sma_seeded_ema(x: np.ndarray, n: int, seed_end: int, seed_len: int) -> np.ndarray:
    """EMA with k = 2/(n+1) seeded at ``seed_end`` with the mean of the ``seed_len`` values ending there."""
    out = np.full(len(x), np.nan)
    out[seed_end] = x[seed_end - seed_len + 1 : seed_end + 1].mean()
    k = 2.0 / (n + 1)
    for i in range(seed_end + 1, len(x)):
        out[i] = out[i - 1] + k * (x[i] - out[i - 1])
    return out


def test_macd_seeds_fast_ema_at_slow_bar_and_emits_from_33() -> None:
    rng = np.random.default_rng(3)
    close = 100 + np.cumsum(rng.normal(0, 1, 80))
    slow = _sma_seeded_ema(close, 26, 25, 26)
    fast = _sma_seeded_ema(close, 12, 25, 12)  # SMA of closes 14..25, not 0..11
    line = fast - slow
    signal = np.full(len(close), np.nan)
    signal[25:] = _sma_seeded_ema(line[25:], 9, 8, 9)
    out = T.macd(make_panel(close.tolist()))
    assert first_valid(out, "macd_12_26_9") == 33
    for name in ("macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9"):
        assert values(out, name)[:33] == [None] * 33
    assert values(out, "macd_12_26_9")[33:] == pytest.approx(line[33:].tolist(), abs=1e-9)
    assert values(out, "macd_signal_12_26_9")[33:] == pytest.approx(signal[33:].tolist(), abs=1e-9)
    assert values(out, "macd_hist_12_26_9")[33:] == pytest.approx((line - signal)[33:].tolist(), abs=1e-9)
    naive = _sma_seeded_ema(close, 12, 11, 12) - slow  # the naive seeding is measurably different
    assert np.abs(naive[33:] - line[33:]).max() > 1e-4


def test_bollinger_uses_population_std() -> None:
    close = [float(v) for v in range(1, 21)]  # 1..20: mean 10.5, population std sqrt(399/12)
    out = T.bollinger(make_panel(close))
    std = math.sqrt(399 / 12)
    upper, lower = 10.5 + 2 * std, 10.5 - 2 * std
    assert values(out, "bb_pctb_20_2")[:19] == [None] * 19
    assert values(out, "bb_pctb_20_2")[19] == pytest.approx((20 - lower) / (upper - lower), rel=1e-9)
    assert values(out, "bb_width_20_2")[19] == pytest.approx(4 * std / 10.5, rel=1e-9)
    sample = float(np.std(close, ddof=1))
    assert values(out, "bb_width_20_2")[19] != pytest.approx(4 * sample / 10.5, rel=1e-6)


def test_bollinger_collapsed_band_is_null_not_inf() -> None:
    out = T.bollinger(make_panel([50.0] * 21))
    assert values(out, "bb_pctb_20_2")[19:] == [None, None]
    assert values(out, "bb_width_20_2")[19:] == [0.0, 0.0]


def test_atr_seed_is_mean_of_true_ranges_1_to_14() -> None:
    rng = np.random.default_rng(5)
    close = 200 + np.cumsum(rng.normal(0, 2, 40))
    high, low = close + rng.uniform(0.5, 3, 40), close - rng.uniform(0.5, 3, 40)
    prev = np.concatenate(([np.nan], close[:-1]))
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
    atr = np.full(40, np.nan)
    atr[14] = tr[1:15].mean()
    for i in range(15, 40):
        atr[i] = (atr[i - 1] * 13 + tr[i]) / 14
    out = T.atr_pct(make_panel(close.tolist(), high=high.tolist(), low=low.tolist()))
    assert first_valid(out, "atr_14_pct") == 14
    assert values(out, "atr_14_pct")[14:] == pytest.approx((100 * atr / close)[14:].tolist(), rel=1e-9)


def test_atr_constant_range_hand_checked() -> None:
    out = T.atr_pct(make_panel([100.0] * 16, high=[101.0] * 16, low=[99.0] * 16))
    assert values(out, "atr_14_pct") == [None] * 14 + [2.0, 2.0]


# --- hand-checkable cases ---------------------------------------------------------------------------


def test_returns_are_simple_and_per_window() -> None:
    close = [100.0, 110.0, 99.0, 99.0, 99.0, 120.0]
    out = T.returns(make_panel(close), windows=(1, 5))
    assert values(out, "ret_1d") == pytest.approx([None, 0.1, -0.1, 0.0, 0.0, 120 / 99 - 1])
    assert values(out, "ret_5d") == pytest.approx([None] * 5 + [0.2])
    assert out.columns == ["instrument_id", "date", "known_at", "ret_1d", "ret_5d"]


def test_default_return_windows_are_1_5_20_and_60_sessions() -> None:
    out = T.returns(make_panel([100 * 1.01**i for i in range(61)]))
    assert out.columns[3:] == ["ret_1d", "ret_5d", "ret_20d", "ret_60d"]
    assert values(out, "ret_20d")[:20] == [None] * 20
    assert values(out, "ret_20d")[20] == pytest.approx(1.01**20 - 1)
    assert values(out, "ret_60d")[:60] == [None] * 60
    assert values(out, "ret_60d")[60] == pytest.approx(1.01**60 - 1)


def test_known_at_is_eod_of_the_row_date() -> None:
    out = T.returns(make_panel([1.0, 2.0]))
    assert out.get_column("known_at").to_list() == [
        eod_known_utc(DAY0),
        eod_known_utc(DAY0 + dt.timedelta(1)),
    ]
    assert out.schema["known_at"] == pl.Datetime("us", "UTC")


def test_realised_vol_alternating_returns() -> None:
    r = 0.01
    close = list(100 * np.exp(np.cumsum([0.0] + [r if i % 2 == 0 else -r for i in range(21)])))
    out = T.realised_vol(make_panel(close))
    got = values(out, "vol_20d")
    assert got[:20] == [None] * 20  # 20 returns need 21 closes
    # mean 0 over an even count: sample std = r * sqrt(20 / 19), annualised by sqrt(252)
    assert got[20:] == pytest.approx([r * math.sqrt(20 / 19) * math.sqrt(252)] * 2, rel=1e-9)


def test_volume_ratio_includes_today() -> None:
    out = T.volume_ratio(make_panel([10.0] * 20, volume=[100.0] * 19 + [300.0]))
    assert values(out, "volume_ratio_20d") == [None] * 19 + [pytest.approx(300 / 110)]


def test_delivery_ratio_null_when_unknown_never_zero() -> None:
    delivered: list[float | None] = [500.0] * 25
    delivered[22] = None
    out = T.delivery(make_panel([10.0] * 25, volume=[1000.0] * 25, delivery_qty=delivered))
    ratio = values(out, "delivery_ratio")
    assert ratio[22] is None
    assert ratio[:22] == [0.5] * 22
    rel = values(out, "delivery_ratio_rel_20d")
    assert rel[:19] == [None] * 19
    assert rel[19:] == [1.0, 1.0, 1.0, None, 1.0, 1.0]


def test_delivery_mean_needs_ten_known_days() -> None:
    delivered = [None] * 11 + [300.0] * 9 + [600.0]  # 10 known in the window ending at row 20
    out = T.delivery(make_panel([10.0] * 21, volume=[1000.0] * 21, delivery_qty=delivered))
    rel = values(out, "delivery_ratio_rel_20d")
    assert rel[19] is None  # 9 known of 20
    assert rel[20] == pytest.approx(0.6 / ((0.3 * 9 + 0.6) / 10))


def test_range_52w_uses_high_and_low_over_252_sessions() -> None:
    n = 253
    close = [100.0] * n
    high, low = [101.0] * n, [99.0] * n
    high[0], low[100] = 150.0, 50.0  # the 150 high drops out of the window at row 252
    out = T.range_52w(make_panel(close, high=high, low=low))
    assert first_valid(out, "high_52w_dist") == 251
    assert values(out, "high_52w_dist")[251:] == pytest.approx([100 / 150 - 1, 100 / 101 - 1])
    assert values(out, "low_52w_dist")[251:] == pytest.approx([1.0, 1.0])


def test_gap_prefers_prev_close_column() -> None:
    panel = make_panel([100.0, 104.0, 98.0], open_=[99.0, 102.0, 99.0], prev_close=[95.0, None, 100.0])
    out = T.gap(panel)
    assert values(out, "gap") == pytest.approx([99 / 95 - 1, 102 / 100 - 1, 99 / 100 - 1])
    plain = T.gap(panel.drop("prev_close"))
    assert values(plain, "gap") == pytest.approx([None, 0.02, 99 / 104 - 1])


def test_band_distance_around_previous_close() -> None:
    panel = make_panel([100.0, 104.0, 105.0, 90.0], band_pct=[5.0, 5.0, None, 10.0])
    out = T.band_distance(panel)
    assert values(out, "band_upper_dist") == pytest.approx([None, (105 - 104) / 104, None, (115.5 - 90) / 90])
    assert values(out, "band_lower_dist") == pytest.approx([None, (104 - 95) / 104, None, (90 - 94.5) / 90])
    no_band = T.band_distance(panel.drop("band_pct"))
    assert values(no_band, "band_upper_dist") == [None] * 4


def test_band_distance_from_price_band_rows() -> None:
    panel = make_panel([100.0, 104.0, 101.0], prev_close=[100.0, 100.0, 104.0])
    bands = pl.DataFrame(
        {
            "symbol": ["INE000"] * 2,
            "series": ["EQ"] * 2,
            "band_pct": [5.0, 20.0],
            "effective_date": [DAY0 + dt.timedelta(1), DAY0 + dt.timedelta(2)],
        }
    )
    out = T.band_distance(panel, bands=bands)
    assert values(out, "band_upper_dist") == pytest.approx([None, 1 / 104, (124.8 - 101) / 101])
    # the 20 % band was published at 17:00 IST on its effective day: usable from the next day only
    late = bands.with_columns(
        knowledge_time=pl.Series(
            [dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC), dt.datetime(2024, 1, 3, 11, 30, tzinfo=dt.UTC)]
        )
    )
    out = T.band_distance(panel, bands=late)
    assert values(out, "band_upper_dist") == pytest.approx([None, 1 / 104, (109.2 - 101) / 101])


def test_technical_features_has_every_spec_output() -> None:
    rng = np.random.default_rng(1)
    close = (100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))).tolist()
    panel = make_panel(
        close, delivery_qty=[400.0] * 300, prev_close=[None, *close[:-1]], band_pct=[10.0] * 300
    )
    fast = T.technical_features(panel)
    outputs = [o for spec in T.SPECS for o in spec.outputs]
    assert fast.columns == ["instrument_id", "date", "known_at", *outputs]
    for spec in T.SPECS:
        assert isinstance(spec, FeatureSpec)
        alone = spec.compute(panel, **dict(spec.params))
        assert alone.equals(fast.select("instrument_id", "date", "known_at", *spec.outputs)), spec.name
        assert fast.select(spec.outputs).null_count().row(0) != (300,) * len(spec.outputs), spec.name


# --- panel handling: order, isolation, errors --------------------------------------------------------


def _random_panel(seed: int, n: int, iid: str) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    delivery: list[float | None] = rng.uniform(100, 900, n).round().tolist()
    for i in rng.choice(n, n // 10, replace=False):
        delivery[int(i)] = None
    return make_panel(
        close.tolist(),
        iid=iid,
        high=high.tolist(),
        low=low.tolist(),
        open_=open_.tolist(),
        volume=rng.uniform(1000, 5000, n).round().tolist(),
        delivery_qty=delivery,
        band_pct=[10.0] * n,
    )


def test_instruments_are_isolated_and_input_order_kept() -> None:
    a, b = _random_panel(1, 280, "INE000A01010"), _random_panel(2, 270, "INE000B01010")
    both = pl.concat([a, b])
    full = T.technical_features(both)
    assert full.head(a.height).equals(T.technical_features(a))
    assert full.tail(b.height).equals(T.technical_features(b))
    shuffled = both.sample(fraction=1.0, shuffle=True, seed=4)
    again = T.technical_features(shuffled)
    assert again.select("instrument_id", "date").equals(shuffled.select("instrument_id", "date"))
    assert again.sort("instrument_id", "date").equals(full)


def test_duplicate_rows_and_null_prices_are_rejected() -> None:
    panel = make_panel([1.0, 2.0, 3.0])
    with pytest.raises(DataError, match="two rows") as err:
        T.rsi(pl.concat([panel, panel.head(1)]))
    assert err.value.field == "date"
    with pytest.raises(DataError, match="close is null") as err:
        T.rsi(panel.with_columns(close=pl.Series([1.0, None, 3.0])))
    assert err.value.row == 2
    assert err.value.field == "close"
    with pytest.raises(DataError, match="no column high"):
        T.atr_pct(panel.drop("high"))
    with pytest.raises(DataError, match="date is null") as err:
        T.rsi(panel.with_columns(date=pl.Series([DAY0, DAY0, None], dtype=pl.Date)))
    assert err.value.row == 3


def test_talib_runs_with_its_default_conventions() -> None:
    # set_unstable_period / set_compatibility are process-wide; the conventions above assume defaults
    assert talib.get_unstable_period("RSI") == 0
    assert talib.get_unstable_period("ATR") == 0
    assert talib.get_compatibility() == 0


def test_empty_panel_gives_empty_frame() -> None:
    out = T.technical_features(
        make_panel([]).with_columns(pl.col("close", "open", "high", "low").cast(pl.Float64))
    )
    assert out.height == 0
    assert "rsi_14" in out.columns


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 300), cut=st.floats(0.0, 1.0))
def test_no_look_ahead_truncate_and_perturb(seed: int, n: int, cut: float) -> None:
    panel = pl.concat(
        [_random_panel(seed, n, "INE000A01010"), _random_panel(seed + 1, n - 7, "INE000B01010")]
    )
    t = DAY0 + dt.timedelta(days=int(cut * (n - 1)))
    full = T.technical_features(panel)
    before = pl.col("date") <= t
    truncated = T.technical_features(panel.filter(before))
    assert truncated.equals(full.filter(before))
    bump = (
        pl.when(before)
        .then(pl.col("open", "high", "low", "close"))
        .otherwise(pl.col("open", "high", "low", "close") * 1.37)
    )
    perturbed = T.technical_features(
        panel.with_columns(bump, volume=pl.when(before).then("volume").otherwise(1.0))
    )
    assert perturbed.filter(before).equals(full.filter(before))
