"""Triple-barrier labels: hand-made paths that touch the upper, the lower or no barrier."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import polars as pl
import pytest

from earnest.core.calendar import IST, TradingCalendar, eod_known_utc
from earnest.core.errors import ConfigError
from earnest.labels import Barriers, triple_barrier

SESSIONS = [d for d in (dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(120)) if d.weekday() < 5]
CAL = TradingCalendar(SESSIONS)
HISTORY = 30
"""Sessions 0..29 alternate +1 % / -1 %: a daily volatility of about 1 %."""
SPEC = Barriers(upper=2.0, lower=2.0, vol_span=10, min_obs=5)


def closes(path: list[float]) -> list[float]:
    """History of alternating 1 % moves from 100, then ``path`` as multiples of the last history close."""
    out = [100.0]
    for i in range(1, HISTORY):
        out.append(out[-1] * (1.01 if i % 2 else 0.99))
    return out + [out[-1] * p for p in path]


def bars(path: list[float]) -> pl.DataFrame:
    c = closes(path)
    return pl.DataFrame(
        {"instrument_id": "A", "date": SESSIONS[: len(c)], "open": c, "high": c, "low": c, "close": c}
    )


def signal_after(session: int, hour: int = 19) -> pl.DataFrame:
    day = SESSIONS[session]
    when = dt.datetime.combine(day, dt.time(hour), IST).astimezone(dt.UTC)
    return pl.DataFrame({"instrument_id": ["A"], "knowledge_time": [when]})


def label(path: list[float], *, fill: str = "close", **kw: Any) -> dict[str, Any]:
    out = triple_barrier(bars(path), signal_after(HISTORY - 1), horizon=4, lag=0, barriers=SPEC, fill=fill,
                         calendar=CAL, **kw)  # fmt: skip
    return out.row(0, named=True)


def expected_vol(upto: int) -> float:
    """pandas' ewm(span).std() of the history's returns at session ``upto`` (AFML getDailyVol)."""
    r = pd.Series(closes([])).pct_change()
    return float(r.ewm(span=SPEC.vol_span, min_periods=SPEC.min_obs).std().iloc[upto])


def test_upper_barrier_first() -> None:
    # close fill: entry at the close of session 30 (the last history close x 1.0), held closes 31..34
    got = label([1.0, 1.001, 1.05, 0.90, 1.0])
    assert got["tb_label_4d_lag0_close"] == 1
    assert got["tb_touch_date_4d_lag0_close"] == SESSIONS[HISTORY + 2]
    assert got["tb_ret_4d_lag0_close"] == pytest.approx(0.05)
    assert got["tb_vol_4d_lag0_close"] == pytest.approx(expected_vol(HISTORY - 1))
    assert got["tb_known_at_4d_lag0_close"] == eod_known_utc(SESSIONS[HISTORY + 2])


def test_lower_barrier_first() -> None:
    got = label([1.0, 0.999, 0.95, 1.10, 1.0])
    assert got["tb_label_4d_lag0_close"] == -1
    assert got["tb_ret_4d_lag0_close"] == pytest.approx(-0.05)


def test_vertical_barrier_gives_zero_and_the_return_at_the_exit() -> None:
    got = label([1.0, 1.001, 0.999, 1.002, 1.003])
    assert got["tb_label_4d_lag0_close"] == 0
    assert got["tb_touch_date_4d_lag0_close"] == SESSIONS[HISTORY + 4]
    assert got["tb_ret_4d_lag0_close"] == pytest.approx(1.003 - 1)


def test_a_touch_after_the_vertical_barrier_does_not_count() -> None:
    assert label([1.0, 1.0, 1.0, 1.0, 1.0, 1.5])["tb_label_4d_lag0_close"] == 0


def test_open_fill_enters_at_the_open_and_watches_the_entry_close() -> None:
    b = bars([1.05, 1.0, 1.0, 1.0]).with_columns(
        pl.when(pl.col("date") == SESSIONS[HISTORY])
        .then(pl.col("close") / 1.05)
        .otherwise("open")
        .alias("open")
    )
    out = triple_barrier(b, signal_after(HISTORY - 1), horizon=4, lag=0, barriers=SPEC, calendar=CAL)
    assert out.item(0, "tb_label_4d_lag0") == 1
    assert out.item(0, "tb_touch_date_4d_lag0") == SESSIONS[HISTORY]
    assert out.item(0, "tb_ret_4d_lag0") == pytest.approx(0.05)


def test_volatility_uses_only_bars_published_by_the_signal() -> None:
    path = [1.0, 1.0, 1.0, 1.0, 1.0]
    evening = triple_barrier(
        bars(path), signal_after(HISTORY - 2, hour=19), horizon=2, lag=0, barriers=SPEC, calendar=CAL
    )
    midday = triple_barrier(
        bars(path), signal_after(HISTORY - 2, hour=12), horizon=2, lag=0, barriers=SPEC, calendar=CAL
    )
    assert evening.item(0, "tb_vol_2d_lag0") == pytest.approx(expected_vol(HISTORY - 2))
    assert midday.item(0, "tb_vol_2d_lag0") == pytest.approx(expected_vol(HISTORY - 3))


def test_disabled_barrier_and_missing_history() -> None:
    only_lower = Barriers(upper=None, lower=2.0, vol_span=10, min_obs=5)
    out = triple_barrier(bars([1.0, 1.05, 1.0, 1.0, 1.0]), signal_after(HISTORY - 1), horizon=4, lag=0,
                         barriers=only_lower, fill="close", calendar=CAL)  # fmt: skip
    assert out.item(0, "tb_label_4d_lag0_close") == 0
    early = triple_barrier(bars([]), signal_after(2), horizon=2, lag=0, barriers=SPEC, calendar=CAL)
    assert early.item(0, "tb_label_2d_lag0") is None  # fewer than min_obs returns known
    late = triple_barrier(
        bars([1.0]), signal_after(HISTORY - 1), horizon=4, lag=0, barriers=SPEC, calendar=CAL
    )
    assert late.item(0, "tb_label_4d_lag0") is None  # window not over and nothing touched yet


def test_barriers_validate() -> None:
    with pytest.raises(ConfigError):
        Barriers(upper=-1.0)
    with pytest.raises(ConfigError):
        Barriers(vol_span=0)
