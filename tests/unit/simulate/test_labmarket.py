"""The lab's simulated market: shapes, determinism, realism and the planted effect."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.calendar import IST, nse_calendar
from earnest.core.errors import ConfigError
from earnest.lab.windows import WindowSpec, car, event_windows, market_model
from earnest.simulate.labmarket import LabMarket, simulate_lab_market


@pytest.fixture(scope="module")
def market() -> LabMarket:
    return simulate_lab_market(n_symbols=120, n_sessions=750, seed=3)


def test_frames_have_the_promised_shape_and_real_sessions(market: LabMarket) -> None:
    assert market.bars.columns == ["symbol", "date", "open", "high", "low", "close", "prev_close", "volume"]
    assert market.bars.height == 120 * 750
    sessions = nse_calendar().sessions
    first = sessions.index(dt.date(2011, 1, 3))  # the first NSE session of 2011
    assert market.sessions == sessions[first : first + 750]
    assert market.bars.get_column("date").unique().sort().to_list() == market.sessions
    assert market.index_bars.columns == list(schemas.INDEX_BARS)
    assert market.index_bars.get_column("index_name").unique().to_list() == ["NIFTY 50"]
    assert market.events.columns == ["symbol", "knowledge_time", "pat_yoy", "revenue_yoy"]
    assert market.events.schema["knowledge_time"] == pl.Datetime("us", "UTC")
    assert market.truth.planted.height == market.events.height


def test_bars_are_internally_consistent(market: LabMarket) -> None:
    ok = market.bars.select(
        (pl.col("high") >= pl.max_horizontal("open", "close")).all().alias("high"),
        (pl.col("low") <= pl.min_horizontal("open", "close")).all().alias("low"),
    )
    assert ok.row(0) == (True, True)
    prev = market.bars.select(pl.col("close").shift(1).over("symbol"), "prev_close").drop_nulls()
    np.testing.assert_allclose(prev["close"].to_numpy(), prev["prev_close"].to_numpy())


def test_same_seed_same_market_other_seed_other_market() -> None:
    a = simulate_lab_market(n_symbols=20, n_sessions=300, seed=5)
    b = simulate_lab_market(n_symbols=20, n_sessions=300, seed=5)
    c = simulate_lab_market(n_symbols=20, n_sessions=300, seed=6)
    assert a.bars.equals(b.bars)
    assert a.events.equals(b.events)
    assert not a.bars.equals(c.bars)


def test_stock_parameters_are_in_their_ranges(market: LabMarket) -> None:
    s = market.truth.stocks
    assert s["beta"].min() >= 0.5
    assert s["beta"].max() <= 1.5
    assert s["idio_vol"].min() >= 0.012
    assert s["idio_vol"].max() <= 0.030
    assert market.truth.sector["SIM0000"].startswith("SECTOR")


def test_results_seasons_cluster_on_dates_and_times(market: LabMarket) -> None:
    local = market.events.get_column("knowledge_time").dt.convert_time_zone(IST.key)
    day = local.dt.date()
    # about one event per symbol and quarter: 750 sessions are 12 quarters
    assert 120 * 11 <= market.events.height <= 120 * 13
    # each lands 14-56 days after a quarter end
    quarter_end = [
        dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1) - dt.timedelta(days=1) for d in day.to_list()
    ]
    lag = np.array([(d - q).days for d, q in zip(day.to_list(), quarter_end, strict=True)])
    lag = np.where(lag < 14, lag + 91, lag)  # early in a quarter: the previous quarter's season
    assert ((lag >= 14) & (lag <= 58)).all()
    # many share a date: the busiest day of each season holds far more than 1/30 of its events
    per_day = day.value_counts().get_column("count")
    assert per_day.max() >= 20
    minutes = (local.dt.hour().cast(pl.Int32) * 60 + local.dt.minute().cast(pl.Int32)).to_numpy()
    assert 0.25 < (minutes < 9 * 60 + 15).mean() < 0.45  # before the open
    assert 0.40 < (minutes >= 15 * 60 + 30).mean() < 0.60  # after the close


def test_returns_have_fat_tails_and_volatility_clustering() -> None:
    m = simulate_lab_market(n_symbols=50, n_sessions=2500, seed=11)
    r = m.truth.market_return
    sq = (r - r.mean()) ** 2
    acf1 = np.corrcoef(sq[:-1], sq[1:])[0, 1]
    assert acf1 > 0.05  # GARCH: big days follow big days
    close = m.bars.get_column("close").to_numpy().reshape(50, 2500)
    daily = close[:, 1:] / close[:, :-1] - 1.0
    resid = daily - np.outer(m.truth.stocks["beta"].to_numpy(), r[1:])
    z = (resid - resid.mean(axis=1, keepdims=True)) / resid.std(axis=1, keepdims=True)
    assert float((z**4).mean()) > 4.5  # normal: 3


def _car5(m: LabMarket, *, clean: bool = True) -> np.ndarray:
    spec = WindowSpec(estimation_sessions=120, gap_sessions=10, event_sessions=5, min_estimation_sessions=60)
    w = event_windows(
        m.events,
        m.bars,
        m.index_bars,
        spec=spec,
        calendar=nse_calendar(),
        exclude_from_estimation=m.events if clean else None,
    )
    w = market_model(w)
    values = car(w, 5)
    return values[np.isfinite(values)]


def test_planted_abnormal_return_is_recovered_by_an_open_entry() -> None:
    null = _car5(simulate_lab_market(n_symbols=200, n_sessions=500, seed=21))
    planted = _car5(simulate_lab_market(n_symbols=200, n_sessions=500, seed=21, planted_car=0.04))
    # same seed: the same noise, so the difference is the planted effect
    assert null.size == planted.size > 1000
    assert float(np.mean(planted - null)) == pytest.approx(0.04, abs=0.001)
    assert abs(float(np.mean(null))) < 0.004
    # without blanking the other events from the estimation windows the previous quarters' planted days
    # raise alpha, and the estimate falls short by about two events' worth: 2 * 0.04 * 5 / 120
    dirty = _car5(simulate_lab_market(n_symbols=200, n_sessions=500, seed=21, planted_car=0.04), clean=False)
    dirty_null = _car5(simulate_lab_market(n_symbols=200, n_sessions=500, seed=21), clean=False)
    assert float(np.mean(dirty - dirty_null)) < 0.04 - 0.002


def test_planted_only_on_selected_events() -> None:
    m = simulate_lab_market(n_symbols=40, n_sessions=300, seed=2, planted_car=0.02, planted_min_pat_yoy=0.5)
    got = pl.concat([m.events, m.truth.planted], how="horizontal")
    assert (got.filter(pl.col("pat_yoy") > 0.5)["planted"] == 0.02).all()
    assert (got.filter(pl.col("pat_yoy") <= 0.5)["planted"] == 0.0).all()


@pytest.mark.parametrize(
    "kw", [{"n_symbols": 1}, {"n_sessions": 5}, {"planted_days": 0}, {"n_sessions": 10**6}]
)
def test_bad_arguments_are_refused(kw: dict[str, int]) -> None:
    args = {"n_symbols": 10, "n_sessions": 100, "seed": 0, **kw}
    with pytest.raises(ConfigError):
        simulate_lab_market(**args)
