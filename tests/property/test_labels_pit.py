"""Labels read only the prices of the sessions they hold: with the signal of date t known at t's close,
``fwd_ret_{h}d_lag{L}`` and its circuit flags depend only on bars in (t + L, t + L + h] (open fill) or
[t + L + 1, t + L + h + 1] (close fill); perturbing every other bar (and the index outside the same
window) changes nothing. Triple-barrier labels also read the volatility known at t, so only bars after
t and outside the window may change. Label names carry horizon and lag."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from earnest.core.calendar import TradingCalendar
from earnest.labels import Barriers, daily_forward_returns, triple_barrier

SESSIONS = [d for d in (dt.date(2023, 1, 2) + dt.timedelta(days=i) for i in range(90)) if d.weekday() < 5]
CAL = TradingCalendar(SESSIONS)
N = 40
PRICE_FIELDS = ("open", "high", "low", "close", "prev_close")

moves = st.lists(st.integers(-60, 60).map(lambda v: v / 1000), min_size=N, max_size=N)


def panel(rets: list[float], bands: list[float | None]) -> pl.DataFrame:
    closes, c = [], 100.0
    for r in rets:
        c = round(c * (1 + r), 2)
        closes.append(c)
    prev = [100.0, *closes[:-1]]
    return pl.DataFrame(
        {
            "instrument_id": "A",
            "date": SESSIONS[:N],
            "open": [round((p + c) / 2, 2) for p, c in zip(prev, closes, strict=True)],
            "high": [max(p, c) * 1.01 for p, c in zip(prev, closes, strict=True)],
            "low": [min(p, c) * 0.99 for p, c in zip(prev, closes, strict=True)],
            "close": closes,
            "prev_close": prev,
            "band_pct": bands,
        },
        schema_overrides={"band_pct": pl.Float64},
    )


def index_frame(rets: list[float]) -> pl.DataFrame:
    closes, c = [], 1000.0
    for r in rets:
        c *= 1 + r / 2
        closes.append(c)
    return pl.DataFrame({"index_name": "NIFTY 50", "date": SESSIONS[:N], "open": closes, "close": closes})


def perturb(frame: pl.DataFrame, keep: pl.Expr, factor: float, fields: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(keep).then(pl.col(f)).otherwise(pl.col(f) * factor).alias(f) for f in fields
    )


@settings(max_examples=40, deadline=None)
@given(
    rets=moves,
    bands=st.lists(st.sampled_from([None, 2.0, 5.0]), min_size=N, max_size=N),
    t=st.integers(0, N - 1),
    horizon=st.integers(1, 5),
    lag=st.integers(0, 3),
    fill=st.sampled_from(["open", "close"]),
    factor=st.sampled_from([0.5, 0.97, 1.03, 2.0]),
)
def test_forward_labels_depend_only_on_the_held_window(
    rets: list[float], bands: list[float | None], t: int, horizon: int, lag: int, fill: str, factor: float
) -> None:
    first, last = (t + lag + 1, t + lag + horizon) if fill == "open" else (t + lag + 1, t + lag + horizon + 1)
    sessions = pl.Series(SESSIONS[:N], dtype=pl.Date)
    inside = pl.col("date").is_between(sessions[min(first, N - 1)], sessions[min(last, N - 1)])
    inside = inside & pl.lit(first <= N - 1)
    bars, index = panel(rets, bands), index_frame(rets)
    moved_bars = perturb(bars, inside, factor, PRICE_FIELDS).with_columns(
        pl.when(inside).then(pl.col("band_pct")).otherwise(pl.lit(20.0)).alias("band_pct")
    )
    moved_index = perturb(index, inside, factor, ("open", "close"))
    kw = {"horizon": horizon, "lag": lag, "fill": fill, "calendar": CAL}
    before = daily_forward_returns(bars, index=index, **kw).row(t, named=True)
    after = daily_forward_returns(moved_bars, index=moved_index, **kw).row(t, named=True)
    assert before == after
    tag = f"{horizon}d_lag{lag}"
    labels = [k for k in before if k not in ("instrument_id", "date", "known_at")]
    assert labels
    assert all(tag in k for k in labels)


@settings(max_examples=30, deadline=None)
@given(
    rets=moves,
    t=st.integers(10, N - 1),
    horizon=st.integers(1, 5),
    lag=st.integers(0, 3),
    fill=st.sampled_from(["open", "close"]),
    factor=st.sampled_from([0.5, 0.97, 1.03, 2.0]),
)
def test_triple_barrier_reads_only_the_past_and_the_held_window(
    rets: list[float], t: int, horizon: int, lag: int, fill: str, factor: float
) -> None:
    first, last = (t + lag + 1, t + lag + horizon) if fill == "open" else (t + lag + 1, t + lag + horizon + 1)
    idx = pl.int_range(pl.len())
    keep = (idx <= t) | idx.is_between(first, last)
    bars = panel(rets, [None] * N)
    signals = bars.select("instrument_id", (pl.col("date").cast(pl.Datetime("us")) + pl.duration(hours=12))
                          .dt.replace_time_zone("UTC").alias("knowledge_time"))  # fmt: skip
    kw = {
        "horizon": horizon,
        "lag": lag,
        "fill": fill,
        "calendar": CAL,
        "barriers": Barriers(vol_span=5, min_obs=3),
    }
    before = triple_barrier(bars, signals, **kw)[t]
    after = triple_barrier(perturb(bars, keep, factor, PRICE_FIELDS), signals, **kw)[t]
    assert_frame_equal(before, after)
    assert all(f"{horizon}d_lag{lag}" in c for c in before.columns if c.startswith("tb_"))
