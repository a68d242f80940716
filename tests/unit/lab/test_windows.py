"""Event windows and abnormal returns on hand-made panels: every expectation is worked out by hand.

Toy calendar: the weekdays of January 2024 without Wed 10 Jan (a holiday). Session numbers:
Jan 1=0, 2=1, 3=2, 4=3, 5=4, 8=5, 9=6, 11=7, 12=8, 15=9, 16=10, 17=11, 18=12, 19=13, ...
Stock A: close 100 + i on session i, open close - 0.5. Stock B: close 50 + 2i, open close - 1.
Index: close 1000 + 10i, open close - 5.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest

from earnest.core.calendar import IST, TradingCalendar
from earnest.core.errors import ConfigError, DataError, SchemaDriftError
from earnest.lab import windows as lw
from earnest.lab.windows import (
    EventWindows,
    WindowSpec,
    bhar,
    car,
    event_windows,
    market_adjusted,
    market_model,
    non_overlapping,
    sector_adjusted,
    use_adjusted,
)
from earnest.labels import forward_returns

DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(31)]
SESSIONS = [d for d in DAYS if d.weekday() < 5 and d.day != 10]
CAL = TradingCalendar(SESSIONS)
N = 14


def ist(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=IST).astimezone(dt.UTC)


def bars(**over: Any) -> pl.DataFrame:
    """Stocks A and B over the first N sessions (``over``: {(symbol, session): {field: value}})."""
    rows = []
    for sym, base, step, gap in (("A", 100.0, 1.0, 0.5), ("B", 50.0, 2.0, 1.0)):
        for i, day in enumerate(SESSIONS[:N]):
            close = base + step * i
            row = {"symbol": sym, "date": day, "open": close - gap, "high": close + 1, "low": close - gap - 1,
                   "close": close}  # fmt: skip
            row.update(over.get(f"{sym}{i}", {}))
            rows.append(row)
    return pl.DataFrame(rows)


INDEX = pl.DataFrame(
    {
        "index_name": "NIFTY 50",
        "date": SESSIONS[:N],
        "open": [1000.0 + 10 * i - 5 for i in range(N)],
        "close": [1000.0 + 10 * i for i in range(N)],
    }
)


def events(*rows: tuple[str, dt.datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "knowledge_time": [r[1] for r in rows],
            "tag": list(range(len(rows))),
        },
        schema={"symbol": pl.Utf8, "knowledge_time": pl.Datetime("us", "UTC"), "tag": pl.Int64},
    )


SPEC = WindowSpec(estimation_sessions=3, gap_sessions=1, event_sessions=3, min_estimation_sessions=3)


def windows(ev: pl.DataFrame, spec: WindowSpec = SPEC, **kw: Any) -> EventWindows:
    return event_windows(ev, kw.pop("bars", bars()), kw.pop("index", INDEX), spec=spec, calendar=CAL, **kw)


def test_after_close_event_enters_next_open_and_days_are_hand_computed() -> None:
    # A announced Thu 4 Jan 18:00 IST -> first tradable session Fri 5 (session 4), bought at its open 103.5.
    w = windows(events(("A", ist(4, 18))))
    assert w.event_day.tolist() == [4]
    assert w.entry_date[0] == np.datetime64("2024-01-05")
    np.testing.assert_allclose(w.ret_evt[0], [104 / 103.5 - 1, 105 / 104 - 1, 106 / 105 - 1])
    np.testing.assert_allclose(w.mkt_evt[0], [1040 / 1035 - 1, 1050 / 1040 - 1, 1060 / 1050 - 1])
    # estimation: close-to-close returns of sessions 4-1-3 .. 4-1-1 = 0, 1, 2; session 0 has no previous close
    assert np.isnan(w.ret_est[0, 0])
    np.testing.assert_allclose(w.ret_est[0, 1:], [101 / 100 - 1, 102 / 101 - 1])
    np.testing.assert_allclose(w.mkt_est[0, 1:], [1010 / 1000 - 1, 1020 / 1010 - 1])
    assert w.model == "raw"
    np.testing.assert_array_equal(w.ar_evt, w.ret_evt)
    assert w.events.get_column("tag").to_list() == [0]  # extra columns carried through
    assert w.symbols[w.symbol_id[0]] == "A"


@pytest.mark.parametrize(
    ("when", "session"),
    [
        (ist(9, 8, 0), 6),  # before the open on Tue 9: that day's open
        (ist(9, 11, 0), 7),  # in session: next open (Thu 11: Wed 10 is a holiday)
        (ist(10, 11, 0), 7),  # on the holiday: next session
        (ist(6, 10, 0), 5),  # Saturday: Monday
    ],
)
def test_entry_session_follows_nse_rules(when: dt.datetime, session: int) -> None:
    w = windows(events(("B", when)))
    assert w.event_day.tolist() == [session]
    close, opn = 50.0 + 2 * session, 49.0 + 2 * session
    assert w.ret_evt[0, 0] == pytest.approx(close / opn - 1)


def test_lag_two_enters_one_session_later() -> None:
    w = windows(
        events(("A", ist(4, 18))),
        WindowSpec(lag_sessions=2, estimation_sessions=3, event_sessions=2, min_estimation_sessions=3),
    )
    assert w.event_day.tolist() == [5]
    assert w.ret_evt[0, 0] == pytest.approx(105 / 104.5 - 1)


def test_close_entry_day_one_is_the_next_close_to_close() -> None:
    spec = WindowSpec(
        at="close", estimation_sessions=3, gap_sessions=1, event_sessions=2, min_estimation_sessions=3
    )
    w = windows(events(("A", ist(4, 18))), spec)
    assert w.event_day.tolist() == [4]  # bought at the close of Fri 5 (104)
    np.testing.assert_allclose(w.ret_evt[0], [105 / 104 - 1, 106 / 105 - 1])
    np.testing.assert_allclose(w.mkt_evt[0], [1050 / 1040 - 1, 1060 / 1050 - 1])


@pytest.mark.parametrize("at", ["open", "close"])
def test_compounded_window_equals_the_labels_forward_return(at: str) -> None:
    ev = events(("A", ist(4, 18)), ("B", ist(9, 8)), ("A", ist(6, 12)))
    spec = WindowSpec(
        at=at, lag_sessions=2, estimation_sessions=3, event_sessions=4, min_estimation_sessions=3
    )  # type: ignore[arg-type]
    w = market_adjusted(windows(ev, spec))
    for h in (1, 3, 4):
        labels = forward_returns(bars(), ev, horizon=h, lag=1, fill=at, calendar=CAL, index=INDEX)
        sfx = f"{h}d_lag1" + ("_close" if at == "close" else "")
        compounded = np.prod(1 + w.ret_evt[:, :h], axis=1) - 1
        np.testing.assert_allclose(compounded, labels.get_column(f"fwd_ret_{sfx}").to_numpy())
        np.testing.assert_allclose(bhar(w, h), labels.get_column(f"abn_ret_{sfx}").to_numpy())


def test_missing_bar_blanks_that_day_and_the_next() -> None:
    b = bars().filter(~((pl.col("symbol") == "A") & (pl.col("date") == SESSIONS[5])))
    w = windows(events(("A", ist(4, 18))), bars=b)  # days = sessions 4, 5, 6
    assert w.ret_evt[0, 0] == pytest.approx(104 / 103.5 - 1)
    assert np.isnan(w.ret_evt[0, 1])
    assert np.isnan(w.ret_evt[0, 2])
    assert np.isnan(car(w, 2)[0])


def test_window_beyond_the_data_is_nan_and_unknown_symbols_are_reported() -> None:
    w = windows(events(("A", ist(18, 18)), ("ZZZ", ist(4, 18))))  # A enters session 13, the last bar
    assert w.ret_evt[0, 0] == pytest.approx(113 / 112.5 - 1)
    assert np.isnan(w.ret_evt[0, 1:]).all()
    assert w.symbol_id[1] == -1
    assert np.isnan(w.ret_evt[1]).all()
    assert any("without bars: ZZZ" in m for m in w.warnings)


def test_market_model_recovers_alpha_and_beta_of_a_noiseless_line() -> None:
    # index returns m_t, stock returns 0.002 + 1.5 m_t; on the event days the stock gains 1% extra.
    rng = np.random.default_rng(0)
    m = rng.normal(0, 0.01, size=N)
    r = 0.002 + 1.5 * m
    r[10:12] += 0.01  # days 1-2 after a close entry on session 9
    close = 100 * np.cumprod(1 + r)
    idx = 1000 * np.cumprod(1 + m)
    b = pl.DataFrame(
        {"symbol": "A", "date": SESSIONS[:N], "open": close, "high": close, "low": close, "close": close}
    )
    ix = INDEX.with_columns(pl.Series("close", idx), pl.Series("open", idx))
    spec = WindowSpec(
        at="close", estimation_sessions=8, gap_sessions=0, event_sessions=3, min_estimation_sessions=5
    )
    w = market_model(windows(events(("A", ist(12, 18))), spec, bars=b, index=ix))  # s0 = Mon 15 = session 9
    assert w.event_day.tolist() == [9]
    assert w.params["alpha"][0] == pytest.approx(0.002, abs=1e-12)
    assert w.params["beta"][0] == pytest.approx(1.5, abs=1e-10)
    assert w.params["sigma"][0] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(w.ar_est[0, 1:], 0.0, atol=1e-12)  # session 1..8 residuals
    np.testing.assert_allclose(w.ar_evt[0], [0.01, 0.01, 0.0], atol=1e-12)  # sessions 10, 11, 12
    assert car(w, 3)[0] == pytest.approx(0.02, abs=1e-12)
    assert w.model == "market_model"
    assert not w.excluded.any()


def test_market_model_needs_enough_estimation_days() -> None:
    spec = WindowSpec(estimation_sessions=3, gap_sessions=1, event_sessions=2, min_estimation_sessions=3)
    w = market_model(windows(events(("A", ist(4, 18)), ("A", ist(12, 18))), spec))
    # first event: estimation sessions 0..2, session 0 has no return -> 2 valid days < 3
    assert w.excluded.tolist() == [True, False]
    assert np.isnan(w.ar_evt[0]).all()
    assert np.isfinite(w.ar_evt[1]).all()
    assert w.params["n_est"].tolist() == [2, 3]
    assert any("1 event(s) have fewer than 3 valid estimation sessions" in m for m in w.warnings)


def test_other_events_are_blanked_from_the_estimation_window() -> None:
    # A and B enter session 8 (Jan 12, pre-open); their estimation days are sessions 4, 5, 6.
    # A's earlier event enters session 4 (Jan 5, pre-open): with a 2-day event window it occupies 4 and 5.
    spec = WindowSpec(estimation_sessions=3, gap_sessions=1, event_sessions=2, min_estimation_sessions=3)
    ev = events(("A", ist(12, 8)), ("B", ist(12, 8)))
    earlier = events(("A", ist(5, 8)))
    w = windows(ev, spec, exclude_from_estimation=earlier)
    assert np.isnan(w.ret_est[0, :2]).all()
    assert np.isnan(w.mkt_est[0, :2]).all()
    assert w.ret_est[0, 2] == pytest.approx(106 / 105 - 1)
    np.testing.assert_allclose(w.ret_est[1], [58 / 56 - 1, 60 / 58 - 1, 62 / 60 - 1])  # B untouched
    assert w.params["n_est"].tolist() == [1, 3]
    assert market_model(w).excluded.tolist() == [True, False]


def test_market_adjusted_is_return_less_index() -> None:
    w = market_adjusted(windows(events(("A", ist(4, 18)))))
    assert w.ar_evt[0, 0] == pytest.approx((104 / 103.5 - 1) - (1040 / 1035 - 1))
    assert w.ar_est[0, 2] == pytest.approx((102 / 101 - 1) - (1020 / 1010 - 1))
    assert car(w, 2)[0] == pytest.approx(w.ar_evt[0, 0] + w.ar_evt[0, 1])


def test_bhar_compounds_the_stock_and_the_model() -> None:
    w = market_adjusted(windows(events(("A", ist(4, 18)))))
    assert bhar(w, 2)[0] == pytest.approx(105 / 103.5 - 1050 / 1035)
    raw = windows(events(("A", ist(4, 18))))
    assert bhar(raw, 3)[0] == pytest.approx(106 / 103.5 - 1)  # raw model: plain buy-and-hold


def test_sector_adjusted_uses_the_other_stocks_of_the_sector() -> None:
    c = (
        bars()
        .filter(pl.col("symbol") == "B")
        .with_columns(pl.lit("C").alias("symbol"), pl.col("close") * 2, pl.col("open") * 2 - 1)
    )
    b = pl.concat([bars(), c])
    sector = {"A": "IT", "B": "IT", "C": "IT"}
    w = sector_adjusted(windows(events(("A", ist(4, 18)), ("B", ist(4, 18))), bars=b, sector=sector))
    # day 1 open-to-close on session 4: B 58/57, C 116/113; A's sector return = their mean
    expect_a = (104 / 103.5 - 1) - ((58 / 57 - 1) + (116 / 113 - 1)) / 2
    expect_b = (58 / 57 - 1) - ((104 / 103.5 - 1) + (116 / 113 - 1)) / 2
    np.testing.assert_allclose(w.ar_evt[:, 0], [expect_a, expect_b])
    # day 2 close-to-close on session 5: B and C both 60/58 - 1
    assert w.ar_evt[0, 1] == pytest.approx((105 / 104 - 1) - (60 / 58 - 1))
    alone = windows(events(("A", ist(4, 18))), sector={"A": "IT"})
    assert np.isnan(sector_adjusted(alone).ar_evt).all()  # no other stock in the sector


def test_sector_adjusted_without_sectors_says_so() -> None:
    with pytest.raises(ConfigError, match="the store has no sectors"):
        sector_adjusted(windows(events(("A", ist(4, 18)))))


def test_non_overlapping_keeps_the_first_and_drops_overlaps_per_symbol() -> None:
    # A enters sessions 0, 2, 5, 6 (pre-open announcements), B enters 2; horizon 3:
    # keep A0 (0-2), drop A2, keep A5 (5-7), drop A6; B2 is another symbol: kept.
    ev = events(("A", ist(1, 8)), ("A", ist(3, 8)), ("A", ist(8, 8)), ("A", ist(9, 8)), ("B", ist(3, 8)))
    w = windows(ev)
    assert w.event_day.tolist() == [0, 2, 5, 6, 2]
    keep = non_overlapping(w, 3)
    assert keep.mask.tolist() == [True, False, True, False, True]
    assert keep.n_dropped == 2
    mask, dropped = non_overlapping(w, 1)  # unpacks too; horizon 1 overlaps nothing here
    assert mask.all()
    assert dropped == 0
    kept = w.select(keep.mask)
    assert kept.n == 3
    assert kept.events.get_column("tag").to_list() == [0, 2, 4]
    np.testing.assert_array_equal(kept.ret_evt, w.ret_evt[[0, 2, 4]])


def test_circuit_flags_from_bands() -> None:
    # band 5 %: A session 4 (Fri 5) prev close 103 -> upper band 108.15; opening there blocks the buy.
    over = {"A4": {"open": 108.15, "high": 108.15, "close": 104.0}, "A5": {"high": 109.2}}
    b = bars(**over).with_columns(
        pl.col("close").shift(1).over("symbol").alias("prev_close"),
        pl.when(pl.col("symbol") == "A").then(5.0).otherwise(20.0).alias("band_pct"),
    )
    w = windows(events(("A", ist(4, 18)), ("B", ist(4, 18))), bars=b)
    assert w.entry_blocked is not None
    assert w.upper_circuit_hit is not None
    assert w.entry_blocked.tolist() == [True, False]
    # session 5: prev close 104 -> upper band 109.20 = high: hit on day 2
    assert w.upper_circuit_hit[0].tolist() == [True, True, False]
    assert not w.upper_circuit_hit[1].any()
    plain = windows(events(("A", ist(4, 18))))
    assert plain.entry_blocked is None
    assert plain.upper_circuit_hit is None


def test_unadjusted_split_is_flagged_and_adjusted_prices_clear_it() -> None:
    # A splits 1:2 from session 5: raw prices halve; the adjusted columns undo it.
    raw = bars().with_columns(
        pl.when((pl.col("symbol") == "A") & (pl.col("date") >= SESSIONS[5]))
        .then(0.5)
        .otherwise(1.0)
        .alias("f")
    )
    split = raw.with_columns(pl.col(c) * pl.col("f") for c in ("open", "high", "low", "close"))
    w = windows(events(("A", ist(4, 18))), bars=split.drop("f"))
    assert w.ret_evt[0, 1] == pytest.approx(52.5 / 104 - 1)
    assert any("|return| > 40%" in m and "A 2024-01-08" in m for m in w.warnings)
    adjusted = split.with_columns(
        (pl.col(c) / pl.col("f") * 0.5).alias(f"adj_{c}") for c in ("open", "high", "low", "close")
    )
    fixed = windows(events(("A", ist(4, 18))), bars=use_adjusted(adjusted))
    assert fixed.ret_evt[0, 1] == pytest.approx(105 / 104 - 1)
    assert not any("40%" in m for m in fixed.warnings)
    with pytest.raises(ConfigError, match="adj_close"):
        use_adjusted(bars())


def test_bad_inputs_raise_clear_errors() -> None:
    ev = events(("A", ist(4, 18)))
    with pytest.raises(DataError, match="more than one bar for A"):
        windows(ev, bars=pl.concat([bars(), bars().head(1)]))
    with pytest.raises(DataError, match="not a session"):
        windows(ev, bars=bars().with_columns(pl.lit(dt.date(2024, 1, 10)).alias("date")))
    with pytest.raises(ConfigError, match="several indices"):
        windows(ev, index=pl.concat([INDEX, INDEX.with_columns(pl.lit("NIFTY BANK").alias("index_name"))]))
    naive = ev.with_columns(pl.col("knowledge_time").dt.replace_time_zone(None))
    with pytest.raises(SchemaDriftError, match="timezone-aware"):
        windows(naive)
    with pytest.raises(SchemaDriftError, match="symbol"):
        windows(ev.drop("symbol"))
    with pytest.raises(ConfigError, match="horizon"):
        car(windows(ev), 4)


@pytest.mark.parametrize(
    "kw",
    [
        {"lag_sessions": 0},
        {"at": "noon"},
        {"event_sessions": 0},
        {"estimation_sessions": 50, "min_estimation_sessions": 60},
    ],
)
def test_window_spec_rejects_nonsense(kw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        WindowSpec(**kw)


def test_public_surface() -> None:
    assert set(lw.__all__) >= {"EventWindows", "WindowSpec", "event_windows", "market_model", "market_adjusted",
                               "sector_adjusted", "car", "bhar", "non_overlapping"}  # fmt: skip
