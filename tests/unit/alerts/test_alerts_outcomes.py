"""Live outcomes on a hand-built market (both backends) and the performance statistics.

Sessions (NSE, January 2024): 1, 2, 3, 4, 5, 8, 9, 10. The alerts are known on 2 Jan at 17:30 IST
(after the close), so they enter at the open of 3 Jan; the 1-, 3- and 5-session exits are the
closes of 3, 5 and 9 Jan.

    stock  open 3 Jan  close 3 Jan  close 5 Jan  close 9 Jan   returns h1 / h3 / h5
    AAA    100         102          105          110           0.02 / 0.05 / 0.10
    BBB     50          49           50           55          -0.02 / 0.00 / 0.10
    CCC    200         200          104*         104           0.00 / -0.48 raw, 0.04 adjusted
    NIFTY 1000        1010         1000         1030           0.01 / 0.00 / 0.03

* CCC splits 2:1 with ex-date 4 Jan (price factor 0.5), so its adjusted open on 3 Jan is 100.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from alert_fakes import T0, FakeClock, ScriptedChannel, make_alert

from earnest.alerts import Expectation, deliver_pending, enqueue, fill_outcomes, live_statistics, performance
from earnest.alerts.outcomes import EQUAL_WEIGHT
from earnest.core.calendar import eod_known_utc
from earnest.core.errors import ConfigError
from earnest.store import SqlStore

D = [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5, 8, 9, 10)]
# open on 3 Jan, then closes per session (open = close elsewhere)
PRICES = {
    "AAA": {3: (100.0, 102.0), 4: (103.0, 103.0), 5: (104.0, 105.0), 9: (108.0, 110.0)},
    "BBB": {3: (50.0, 49.0), 5: (50.0, 50.0), 9: (54.0, 55.0)},
    "CCC": {3: (200.0, 200.0), 4: (101.0, 102.0), 5: (103.0, 104.0), 9: (104.0, 104.0)},
}
NIFTY = {3: (1000.0, 1010.0), 5: (1000.0, 1000.0), 9: (1020.0, 1030.0)}


def _ohlc(day: dt.date, prices: dict[int, tuple[float, float]], default: float) -> tuple[float, float]:
    return prices.get(day.day, (default, default))


def bars_frame(symbols: list[str]) -> pl.DataFrame:
    rows = []
    for sym in symbols:
        for day in D:
            o, c = _ohlc(day, PRICES[sym], next(iter(PRICES[sym].values()))[0])
            rows.append(
                {"exchange": "NSE", "instrument_id": f"IN{sym}", "symbol": sym, "series": "EQ", "date": day,
                 "open": o, "high": max(o, c), "low": min(o, c), "close": c, "knowledge_time": eod_known_utc(day),
                 "source_file": "test", "source_row": 1}
            )  # fmt: skip
    return pl.DataFrame(rows)


def nifty_frame() -> pl.DataFrame:
    rows = []
    for day in D:
        o, c = _ohlc(day, NIFTY, 1000.0)
        rows.append(
            {"index_name": "NIFTY 50", "date": day, "open": o, "high": max(o, c), "low": min(o, c), "close": c,
             "knowledge_time": eod_known_utc(day), "source_file": "test", "source_row": 1}
        )  # fmt: skip
    return pl.DataFrame(rows)


def split_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [{"action_id": "ccc-split", "exchange": "NSE", "instrument_id": "INCCC", "symbol": "CCC", "series": "EQ",
          "ex_date": dt.date(2024, 1, 4), "action_type": "split", "ratio_new": 2.0, "ratio_old": 1.0,
          "price_factor": 0.5, "purpose": "split 2:1", "source": "user", "status": "confirmed",
          "knowledge_time": dt.datetime(2023, 12, 20, tzinfo=dt.UTC), "source_file": "test"}]
    )  # fmt: skip


def sent_alerts(store: SqlStore, symbols: list[str]) -> dict[str, str]:
    alerts = [make_alert(s) for s in symbols]
    enqueue(store, alerts, channels=["telegram"], now=T0)
    clock = FakeClock()
    deliver_pending(store, [ScriptedChannel()], clock=clock, sleep=clock.sleep)
    return {a.symbol: a.alert_id for a in alerts}


def outcomes(store: SqlStore) -> dict[tuple[str, int], dict[str, object]]:
    return {(r["symbol"], r["horizon"]): r for r in store.read("alert_outcomes").iter_rows(named=True)}


def test_outcomes_fill_as_bars_arrive_against_nifty(store: SqlStore) -> None:
    store.upsert("bars", bars_frame(["AAA", "BBB", "CCC"]))
    store.upsert("index_bars", nifty_frame())
    store.upsert("corporate_actions", split_frame())
    ids = sent_alerts(store, ["AAA", "CCC"])
    enqueue(store, [make_alert("BBB")], channels=["telegram"], now=T0)  # never sent: no outcome
    # as of 5 Jan 16:00 IST the 3-session exit is known, the 5-session one is not
    assert fill_outcomes(store, as_of=eod_known_utc(D[4])) == 4
    got = outcomes(store)
    assert sorted(got) == [("AAA", 1), ("AAA", 3), ("CCC", 1), ("CCC", 3)]
    a1, a3 = got[("AAA", 1)], got[("AAA", 3)]
    assert (a1["entry_date"], a1["exit_date"], a1["fill"]) == (D[2], D[2], "open")
    assert a1["raw_return"] == pytest.approx(0.02)
    assert a1["benchmark"] == "NIFTY 50"
    assert a1["benchmark_return"] == pytest.approx(0.01)
    assert a1["excess_return"] == pytest.approx(0.01)
    assert a1["known_at"] == eod_known_utc(D[2])
    assert a3["exit_date"] == D[4]
    assert (a3["raw_return"], a3["excess_return"]) == pytest.approx((0.05, 0.05))
    assert got[("CCC", 3)]["raw_return"] == pytest.approx(0.04)  # split-adjusted: 104 / 100 - 1
    assert got[("CCC", 1)]["raw_return"] == pytest.approx(0.0)
    assert fill_outcomes(store, as_of=eod_known_utc(D[4])) == 0  # idempotent
    assert fill_outcomes(store, as_of=eod_known_utc(D[6])) == 2  # the 5-session exits arrive
    got = outcomes(store)
    assert got[("AAA", 5)]["exit_date"] == D[6]
    assert (got[("AAA", 5)]["raw_return"], got[("AAA", 5)]["excess_return"]) == pytest.approx((0.10, 0.07))
    assert set(ids.values()) == set(store.read("alert_outcomes").get_column("alert_id"))
    assert fill_outcomes(store, as_of=eod_known_utc(D[7])) == 0
    assert store.count("alert_outcomes") == 6


def test_equal_weight_stand_in_until_the_index_arrives(store: SqlStore) -> None:
    store.upsert("bars", bars_frame(["AAA", "BBB", "CCC"]))
    store.upsert("corporate_actions", split_frame())
    sent_alerts(store, ["AAA"])
    assert fill_outcomes(store, as_of=eod_known_utc(D[6]), horizons=(1, 3)) == 2
    got = outcomes(store)
    # h1: mean of AAA 0.02, BBB -0.02, CCC 0.00 = 0; h3: CCC's split falls inside, so AAA and BBB only
    assert got[("AAA", 1)]["benchmark"] == EQUAL_WEIGHT
    assert got[("AAA", 1)]["benchmark_return"] == pytest.approx(0.0)
    assert got[("AAA", 1)]["excess_return"] == pytest.approx(0.02)
    assert got[("AAA", 3)]["benchmark_return"] == pytest.approx(0.025)
    assert got[("AAA", 3)]["excess_return"] == pytest.approx(0.025)
    assert fill_outcomes(store, as_of=eod_known_utc(D[6]), horizons=(1, 3)) == 0
    store.upsert("index_bars", nifty_frame())
    assert fill_outcomes(store, as_of=eod_known_utc(D[6]), horizons=(1, 3)) == 2  # upgraded
    got = outcomes(store)
    assert {r["benchmark"] for r in got.values()} == {"NIFTY 50"}
    assert got[("AAA", 1)]["excess_return"] == pytest.approx(0.01)
    assert store.count("alert_outcomes") == 2


def test_close_fill_and_nothing_sent(duck: SqlStore) -> None:
    assert fill_outcomes(duck, as_of=eod_known_utc(D[7])) == 0
    duck.upsert("bars", bars_frame(["AAA", "BBB", "CCC"]))
    duck.upsert("index_bars", nifty_frame())
    sent_alerts(duck, ["AAA"])
    assert fill_outcomes(duck, as_of=eod_known_utc(D[7]), horizons=(1,), fill="close") == 1
    (row,) = outcomes(duck).values()
    # buy the close of 3 Jan (102), sell the close of 4 Jan (103); NIFTY 1010 -> 1000 (4 Jan close)
    assert (row["fill"], row["entry_date"], row["exit_date"]) == ("close", D[2], D[3])
    assert row["raw_return"] == pytest.approx(103 / 102 - 1)
    assert row["excess_return"] == pytest.approx(103 / 102 - 1 - (1000 / 1010 - 1))
    with pytest.raises(ConfigError):
        fill_outcomes(duck, as_of=dt.datetime(2024, 1, 10))


def test_performance_reads_the_outcomes(duck: SqlStore) -> None:
    duck.upsert("bars", bars_frame(["AAA", "BBB", "CCC"]))
    duck.upsert("index_bars", nifty_frame())
    duck.upsert("corporate_actions", split_frame())
    sent_alerts(duck, ["AAA", "BBB", "CCC"])
    fill_outcomes(duck, as_of=eod_known_utc(D[7]))
    perf = performance(duck, expectation=Expectation(mean=0.0, sd=0.05, win_rate=0.5), horizon=3)
    # excess h3: AAA 0.05, BBB 0.00, CCC 0.04 (NIFTY flat from the 3 Jan open to the 5 Jan close)
    assert perf.n == 3
    assert perf.wins == 2
    assert perf.mean == pytest.approx(0.03)
    assert perf.benchmarks == {"NIFTY 50": 3}
    raw = performance(duck, expectation=Expectation(), horizon=1, measure="raw", model_name="blockbuster")
    assert raw.n == 3
    assert raw.mean == pytest.approx(0.0)  # 0.02, -0.02, 0.00
    assert performance(duck, expectation=Expectation(), horizon=1, model_name="other").n == 0
    with pytest.raises(ConfigError):
        performance(duck, expectation=Expectation(), measure="log")


def test_live_statistics_by_hand() -> None:
    # 42 alerts, 16 wins (REFERENCES.md section 7): Clopper-Pearson [0.23572, 0.54363], p = 0.16415
    values = [0.01] * 16 + [-0.01] * 26
    perf = live_statistics(values, expectation=Expectation(win_rate=0.5), horizon=3)
    assert (perf.n, perf.wins) == (42, 16)
    assert perf.win_rate_ci == pytest.approx((0.23572, 0.54363), abs=1e-5)
    assert perf.win_rate_p == pytest.approx(0.16415, abs=1e-5)
    assert perf.win_rate_outside is False
    assert perf.mean_outside is None  # no mean/sd expectation given
    # four returns: mean 0.0125, sd = sqrt(((.0075)^2 + (.0225)^2 + (.0175)^2 + (.0025)^2) / 3)
    values = [0.02, -0.01, 0.03, 0.01]
    sd = math.sqrt((0.0075**2 + 0.0225**2 + 0.0175**2 + 0.0025**2) / 3)
    perf = live_statistics(values, expectation=Expectation(mean=0.0, sd=0.01), horizon=3)
    assert perf.mean == pytest.approx(0.0125)
    assert perf.sd == pytest.approx(sd)
    t975_3 = 3.182446305284263  # t quantile, 3 degrees of freedom
    assert perf.mean_ci == pytest.approx((0.0125 - t975_3 * sd / 2, 0.0125 + t975_3 * sd / 2))
    # expectation: 0 +- 1.959964 * 0.01 / 2 = +-0.0098; the live mean 0.0125 is outside
    assert perf.expected_mean_range == pytest.approx((-0.0098, 0.0098), abs=1e-6)
    assert perf.mean_outside is True
    assert perf.flagged
    doc = perf.to_dict()
    assert doc["flagged"] is True
    assert doc["expectation"] == {"mean": 0.0, "sd": 0.01, "win_rate": None}
    inside = live_statistics(values, expectation=Expectation(mean=0.01, sd=0.01), horizon=3)
    assert inside.mean_outside is False
    assert not inside.flagged
    # 10 wins out of 10 against a 40 % backtest win rate: p = 2 * 0.4^10 < 0.05 -> flagged
    ten = live_statistics([0.01] * 10, expectation=Expectation(win_rate=0.4), horizon=1)
    assert ten.win_rate_p == pytest.approx(0.4**10, rel=1e-6)
    assert ten.win_rate_outside is True


def test_live_statistics_edge_cases() -> None:
    none = live_statistics([], expectation=Expectation(mean=0.0, sd=0.01, win_rate=0.5), horizon=1)
    assert none.n == 0
    assert math.isnan(none.mean)
    assert (none.mean_outside, none.win_rate_outside) == (None, None)
    assert none.to_dict()["mean"] is None
    one = live_statistics([0.02], expectation=Expectation(mean=0.0, sd=0.01), horizon=1)
    assert math.isnan(one.mean_ci[0])
    assert one.mean_outside is True  # 0.02 > 1.96 * 0.01
    with pytest.raises(ConfigError):
        Expectation(sd=0.0)
    with pytest.raises(ConfigError):
        Expectation(win_rate=1.0)
