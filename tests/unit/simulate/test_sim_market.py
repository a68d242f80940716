"""The simulated market: determinism, plausible statistics, bands, corporate actions, life cycle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import numpy as np
import polars as pl
import pytest
from sim_configs import SMALL

from earnest.core.calendar import IST, IntradayRule, nse_calendar
from earnest.core.errors import ConfigError
from earnest.simulate import SimConfig, SimMarket, simulate_market

EPS = 1e-9


def _frames(m: SimMarket) -> dict[str, pl.DataFrame]:
    return {
        f.name: getattr(m, f.name)
        for f in dataclasses.fields(m)
        if isinstance(getattr(m, f.name), pl.DataFrame)
    }


def test_same_seed_same_market_other_seed_other_market(small_market: SimMarket) -> None:
    again = simulate_market(SMALL)
    for name, frame in _frames(small_market).items():
        assert frame.equals(_frames(again)[name]), name
    assert again.planted_errors == small_market.planted_errors
    other = simulate_market(dataclasses.replace(SMALL, seed=12))
    assert not other.bars.select("close").equals(small_market.bars.select("close"))


def test_sessions_are_nse_sessions_and_cross_the_udiff_switch(demo_market: SimMarket) -> None:
    cal = nse_calendar()
    assert list(demo_market.sessions) == cal.sessions_between(dt.date(2022, 1, 1), dt.date(2024, 12, 31))
    assert demo_market.sessions[0] < dt.date(2024, 7, 8) < demo_market.sessions[-1]
    assert demo_market.instruments.height == 150


def test_index_volatility_is_plausible(demo_market: SimMarket) -> None:
    nifty = demo_market.index.filter(pl.col("index_name") == "Nifty 50")
    assert nifty.height == len(demo_market.sessions)
    daily = np.log(nifty["close"] / nifty["prev_close"]).to_numpy()
    assert 0.008 <= daily.std() <= 0.015
    levels = nifty.get_column("close")
    assert levels.min() > 10_000  # type: ignore[operator]
    assert levels.max() < 40_000  # type: ignore[operator]
    vix = demo_market.index.filter(pl.col("index_name") == "India VIX").get_column("close")
    assert vix.min() > 8  # type: ignore[operator]
    assert vix.max() < 60  # type: ignore[operator]


def test_idiosyncratic_returns_are_fat_tailed(demo_market: SimMarket) -> None:
    moves = demo_market.bars.select(
        "date", (pl.col("close") / pl.col("prev_close")).log().alias("r")
    ).with_columns((pl.col("r") - pl.col("r").mean().over("date")).alias("idio"))
    x = moves.get_column("idio").to_numpy()
    kurtosis = ((x - x.mean()) ** 4).mean() / x.var() ** 2
    assert kurtosis > 3.0


def test_prices_and_volumes_are_realistic(demo_market: SimMarket) -> None:
    bars = demo_market.bars
    start = bars.filter(pl.col("date") == demo_market.sessions[0]).get_column("close")
    assert start.min() >= 20  # type: ignore[operator]
    assert start.max() <= 20_000  # type: ignore[operator]
    assert bars.get_column("close").median() > 100  # type: ignore[operator]
    # a stock trades more on days it moves more
    size = (pl.col("close") / pl.col("prev_close")).log().abs()
    within = bars.select(
        (size - size.mean().over("isin")).alias("move"),
        (pl.col("volume").log() - pl.col("volume").log().mean().over("isin")).alias("volume"),
    )
    assert within.select(pl.corr("move", "volume")).item() > 0.2


def test_no_close_moves_beyond_its_band(demo_market: SimMarket) -> None:
    move = (pl.col("close") / pl.col("prev_close") - 1).abs() * 100
    beyond = demo_market.bars.filter(move > pl.col("band_pct").fill_null(20.0) + EPS)
    assert beyond.is_empty(), beyond
    # ...and some stocks do lock at a circuit limit
    locked = demo_market.bars.filter((move > pl.col("band_pct") - 0.3) & (pl.col("close") == pl.col("high")))
    assert locked.height > 10
    no_band = demo_market.bars.filter(pl.col("band_pct").is_null()).get_column("isin").n_unique()
    assert no_band == 30


def test_bars_are_internally_consistent(demo_market: SimMarket) -> None:
    b = demo_market.bars
    bad = b.filter(
        (pl.col("low") > pl.min_horizontal("open", "close", "last", "avg_price"))
        | (pl.col("high") < pl.max_horizontal("open", "close", "last", "avg_price"))
        | (pl.col("low") <= 0)
        | (pl.col("trades") > pl.col("volume"))
        | (pl.col("delivery_qty") > pl.col("volume"))
    )
    assert bad.is_empty(), bad
    assert (
        b.filter(pl.col("series") == "BE").get_column("delivery_qty").null_count()
        == b.filter(pl.col("series") == "BE").height
    )
    assert b.select(pl.struct("isin", "date").is_duplicated().any()).item() is False


def _around(m: SimMarket, isin: str, ex: dt.date) -> tuple[dict[str, float], dict[str, float]]:
    rows = m.bars.filter(pl.col("isin") == isin).sort("date")
    before = rows.filter(pl.col("date") < ex).row(-1, named=True)
    on = rows.filter(pl.col("date") == ex).row(0, named=True)
    return before, on


def test_splits_and_bonuses_show_in_raw_prices(demo_market: SimMarket) -> None:
    acts = demo_market.actions.filter(pl.col("action_type").is_in(["split", "bonus"]))
    assert acts.get_column("action_type").to_list().count("bonus") == 2
    assert acts.filter(pl.col("action_type") == "split").height == 3
    for act in acts.iter_rows(named=True):
        before, on = _around(demo_market, act["isin"], act["ex_date"])
        # NSE's previous close on the ex-date is the last close times the factor ...
        assert on["prev_close"] == pytest.approx(before["close"] * act["price_factor"], abs=0.01)
        # ... so the raw close jumps by the factor, give or take one day's move (at most the band)
        assert on["close"] / before["close"] == pytest.approx(act["price_factor"], rel=0.21)
        assert act["price_factor"] == pytest.approx(act["ratio_old"] / act["ratio_new"])


def test_one_split_is_in_no_file_and_dividends_are_recorded(demo_market: SimMarket) -> None:
    hidden = demo_market.actions.filter(~pl.col("recorded"))
    assert hidden.height == 1
    assert hidden.row(0, named=True)["action_type"] == "split"
    assert hidden.row(0, named=True)["price_factor"] == 0.5
    divs = demo_market.actions.filter(pl.col("action_type") == "dividend")
    assert divs.height > 50
    assert divs.filter(pl.col("amount") <= 0).is_empty()
    assert (divs.get_column("bc_date") < divs.get_column("ex_date")).all()
    assert (
        divs.get_column("purpose")
        .str.contains(r"^(INTDIV - RS [\d.]+ PER SH|DIVIDEND - RS [\d.]+ PER SHARE)$")
        .all()
    )


def test_record_dates_follow_the_settlement_cycle(demo_market: SimMarket) -> None:
    acts = demo_market.actions
    t2 = acts.filter(pl.col("ex_date") < dt.date(2023, 1, 27))
    t1 = acts.filter(pl.col("ex_date") >= dt.date(2023, 1, 27))
    assert (t1.get_column("record_date") == t1.get_column("ex_date")).all()
    assert (t2.get_column("record_date") > t2.get_column("ex_date")).all()


def test_listings_delistings_and_no_survivorship(demo_market: SimMarket) -> None:
    ins = demo_market.instruments
    gone = ins.filter(pl.col("status") == "delisted")
    assert gone.height == 2
    for row in gone.iter_rows(named=True):
        last = demo_market.bars.filter(pl.col("isin") == row["isin"]).get_column("date").max()
        assert last == nse_calendar().previous_session(row["delisting_date"])
    first_day = demo_market.sessions[0]
    late = ins.filter(pl.col("first_seen") > first_day)
    assert late.height == 2
    assert (late.get_column("listing_date") == late.get_column("first_seen")).all()


def test_symbol_change_keeps_the_isin(demo_market: SimMarket) -> None:
    change = demo_market.symbol_changes.row(0, named=True)
    assert demo_market.symbol_changes.height == 1
    rows = demo_market.bars.filter(pl.col("symbol").is_in([change["old_symbol"], change["new_symbol"]]))
    assert rows.get_column("isin").n_unique() == 1
    old = rows.filter(pl.col("symbol") == change["old_symbol"]).get_column("date")
    new = rows.filter(pl.col("symbol") == change["new_symbol"]).get_column("date")
    assert old.max() < change["change_date"] == new.min()  # type: ignore[operator]


def test_results_announcements_drive_price_reactions(demo_market: SimMarket) -> None:
    res = demo_market.results
    assert res.height > 150 * 10
    cal = nse_calendar()
    for row in res.sample(50, seed=1).iter_rows(named=True):
        local = row["announced_at"].astimezone(IST)
        assert cal.first_tradable(local, intraday=IntradayRule.NEXT_OPEN).date == row["first_tradable_date"]
        assert row["reaction_date"] >= local.date()
        assert row["reaction_date"] <= row["first_tradable_date"]
    # results seasons: most reactions fall in the six weeks after each quarter's first fortnight
    months = res.get_column("reaction_date").dt.month()
    assert months.is_in([1, 2, 4, 5, 7, 8, 10, 11]).mean() > 0.9  # type: ignore[operator]
    # reaction days move more than ordinary days
    moves = demo_market.bars.with_columns((pl.col("close") / pl.col("prev_close")).log().abs().alias("m"))
    on = moves.join(
        res.select(pl.col("instrument_id"), pl.col("reaction_date").alias("date")),
        on=["instrument_id", "date"],
    )
    assert on.get_column("m").mean() > 1.5 * moves.get_column("m").mean()  # type: ignore[operator]


def test_bands_files_cover_listed_companies(small_market: SimMarket) -> None:
    bands = small_market.bands
    dates = bands.get_column("effective_date").unique().sort().to_list()
    assert dates == list(small_market.sessions[::10])
    assert set(bands.get_column("band_pct").drop_nulls().unique().to_list()) <= {2.0, 5.0, 10.0, 20.0}
    contents = [
        set(bands.filter(pl.col("effective_date") == d).select("symbol", "band_pct").iter_rows())
        for d in dates
    ]
    # every file differs from the one before (identical files would be skipped as already ingested)
    assert all(a != b for a, b in itertools.pairwise(contents))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"scale": 0.0}, "positive"),
        ({"n_symbols": 10}, "too few"),
        ({"start": dt.date(2024, 1, 1), "end": dt.date(2023, 1, 1)}, "not before"),
        ({"band_every": 30}, "15 sessions"),
        ({"start": dt.date(2024, 1, 1), "end": dt.date(2024, 1, 20)}, "needs 40"),
        ({"end": dt.date(2031, 1, 1)}, "after the last session"),
    ],
)
def test_config_errors_say_what_to_do(changes: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        simulate_market(dataclasses.replace(SimConfig(), **changes))  # type: ignore[arg-type]


def test_scale_multiplies_the_universe_and_special_cases() -> None:
    full = SimConfig.full_market_year()
    assert full.n_companies == 2500
    assert (full.start, full.end) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    counts = full.counts()
    assert (counts.splits, counts.delisted) == (33, 33)
    assert 150 < full.no_band < 300
    assert SimConfig(scale=0.5, n_symbols=100).counts().hidden_splits == 1


def test_a_hole_in_the_calendar_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from earnest.core.calendar import TradingCalendar
    from earnest.simulate import market

    days = nse_calendar().sessions_between(dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    holed = TradingCalendar([d for d in days if not dt.date(2024, 4, 1) <= d <= dt.date(2024, 5, 31)])
    monkeypatch.setattr(market, "nse_calendar", lambda: holed)
    with pytest.raises(ConfigError, match="no sessions between 2024-03-28 and 2024-06-03"):
        simulate_market(SMALL)
