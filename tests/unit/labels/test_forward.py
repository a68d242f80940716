"""Forward-return labels on a hand-made calendar and bars: every expectation is computed by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from earnest.core.calendar import IST, TradingCalendar, eod_known_utc
from earnest.core.errors import ConfigError, DataError
from earnest.labels import attach_bands, daily_forward_returns, forward_returns, label_suffix

# Weekdays of January 2024 (no holidays in this toy calendar).
DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(31)]
SESSIONS = [d for d in DAYS if d.weekday() < 5]
CAL = TradingCalendar(SESSIONS)
JAN = {d.day: d for d in SESSIONS}


def bars_of(
    instrument: str, n: int = 12, band: float | None = 5.0, **over: dict[int, float]
) -> list[dict[str, Any]]:
    """Session ``i`` (0 = Jan 1): close 100 + i, open close - 0.5, high close + 1, low open - 1,
    prev_close the previous close; ``over`` overrides a field per session number."""
    rows = []
    for i, day in enumerate(SESSIONS[:n]):
        close = 100.0 + i
        row = {"instrument_id": instrument, "symbol": instrument, "date": day, "open": close - 0.5,
               "high": close + 1.0, "low": close - 1.5, "close": close, "prev_close": close - 1.0,
               "band_pct": band}  # fmt: skip
        for field, values in over.items():
            if i in values:
                row[field] = values[i]
        rows.append(row)
    return rows


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"band_pct": pl.Float64})


def ist(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=IST).astimezone(dt.UTC)


def signals(*rows: tuple[str, dt.datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {"instrument_id": [r[0] for r in rows], "knowledge_time": [r[1] for r in rows]},
        schema={"instrument_id": pl.Utf8, "knowledge_time": pl.Datetime("us", "UTC")},
    )


INDEX = pl.DataFrame(
    {
        "index_name": "NIFTY 50",
        "date": SESSIONS[:12],
        "open": [1000.0 + 10 * i - 5 for i in range(12)],
        "close": [1000.0 + 10 * i for i in range(12)],
    }
)


def one(out: pl.DataFrame, col: str, row: int = 0) -> Any:
    return out.item(row, col)


def test_label_names_carry_horizon_lag_and_close_fill() -> None:
    assert label_suffix(horizon=3, lag=1) == "3d_lag1"
    assert label_suffix(horizon=5, lag=0, fill="close") == "5d_lag0_close"
    out = forward_returns(frame(bars_of("A")), signals(("A", ist(3, 19, 15))), horizon=3, lag=1, calendar=CAL)
    labels = out.columns[2:]
    assert labels == [
        "entry_date_3d_lag1", "exit_date_3d_lag1", "fwd_ret_3d_lag1", "hit_upper_circuit_3d_lag1",
        "hit_lower_circuit_3d_lag1", "entry_blocked_3d_lag1", "label_known_at_3d_lag1",
    ]  # fmt: skip


def test_after_hours_signal_lag1_open_fill() -> None:
    # Known Wed 3 Jan 19:15 IST -> s0 = Thu 4; lag 1 -> enter Fri 5 at the open (session 4: 103.5);
    # horizon 3 -> exit at the close of Tue 9 (session 6: 106.0).
    out = forward_returns(
        frame(bars_of("A")), signals(("A", ist(3, 19, 15))), horizon=3, lag=1, calendar=CAL, index=INDEX
    )
    assert one(out, "entry_date_3d_lag1") == JAN[5]
    assert one(out, "exit_date_3d_lag1") == JAN[9]
    assert one(out, "fwd_ret_3d_lag1") == pytest.approx(106.0 / 103.5 - 1)
    # index: open of Jan 5 = 1035, close of Jan 9 = 1060
    assert one(out, "abn_ret_3d_lag1") == pytest.approx(106.0 / 103.5 - 1060.0 / 1035.0)
    assert one(out, "label_known_at_3d_lag1") == eod_known_utc(JAN[9])
    assert one(out, "hit_upper_circuit_3d_lag1") is False
    assert one(out, "entry_blocked_3d_lag1") is False


def test_close_fill_holds_from_entry_close_to_close_h_sessions_later() -> None:
    # enter at the close of Fri 5 (104), exit at the close of Wed 10 (session 7: 107)
    out = forward_returns(
        frame(bars_of("A")),
        signals(("A", ist(3, 19, 15))),
        horizon=3,
        lag=1,
        fill="close",
        calendar=CAL,
        index=INDEX,
    )
    assert one(out, "entry_date_3d_lag1_close") == JAN[5]
    assert one(out, "exit_date_3d_lag1_close") == JAN[10]
    assert one(out, "fwd_ret_3d_lag1_close") == pytest.approx(107.0 / 104.0 - 1)
    assert one(out, "abn_ret_3d_lag1_close") == pytest.approx(107.0 / 104.0 - 1070.0 / 1040.0)


@pytest.mark.parametrize(
    ("when", "lag", "entry"),
    [
        (ist(8, 8, 0), 0, 8),  # before the open on a session day: that day's open
        (ist(8, 11, 0), 0, 9),  # during the session: the next open (conservative)
        (ist(8, 15, 30), 0, 9),  # at the close: the next open
        (ist(6, 10, 0), 0, 8),  # Saturday: Monday's open
        (ist(6, 10, 0), 2, 10),  # ... plus two sessions
    ],
)
def test_entry_session_is_first_tradable_plus_lag(when: dt.datetime, lag: int, entry: int) -> None:
    out = forward_returns(frame(bars_of("A")), signals(("A", when)), horizon=1, lag=lag, calendar=CAL)
    sfx = f"1d_lag{lag}"
    assert one(out, f"entry_date_{sfx}") == JAN[entry]
    assert one(out, f"exit_date_{sfx}") == JAN[entry]  # horizon 1, open fill: same session's close
    i = SESSIONS.index(JAN[entry])
    assert one(out, f"fwd_ret_{sfx}") == pytest.approx((100.0 + i) / (100.0 + i - 0.5) - 1)


def test_circuit_hits_count_only_bars_held() -> None:
    # band 5 %: session 5 (Mon 8) upper limit = 104 * 1.05 = 109.2; a high within a tick of it hits.
    up = bars_of("A", high={5: 109.17}, low={7: 106.0 * 0.95 + 0.04})  # low of Wed 10 at its lower limit
    sig = signals(("A", ist(3, 19, 15)))
    opened = forward_returns(frame(up), sig, horizon=3, lag=1, calendar=CAL)  # holds Jan 5, 8, 9
    assert one(opened, "hit_upper_circuit_3d_lag1") is True
    assert one(opened, "hit_lower_circuit_3d_lag1") is False  # Jan 10 is after the exit
    closed = forward_returns(frame(up), sig, horizon=3, lag=1, fill="close", calendar=CAL)  # holds 8, 9, 10
    assert one(closed, "hit_upper_circuit_3d_lag1_close") is True
    assert one(closed, "hit_lower_circuit_3d_lag1_close") is True
    near = bars_of("A", high={5: 109.1})  # 109.1 < 109.2 - 0.05
    assert (
        one(forward_returns(frame(near), sig, horizon=3, lag=1, calendar=CAL), "hit_upper_circuit_3d_lag1")
        is False
    )


def test_entry_session_hit_counts_for_open_fill_only() -> None:
    rows = bars_of("A", high={4: 103.0 * 1.05})  # Fri 5, the entry session
    sig = signals(("A", ist(3, 19, 15)))
    assert one(forward_returns(frame(rows), sig, horizon=3, lag=1, calendar=CAL), "hit_upper_circuit_3d_lag1")
    closed = forward_returns(frame(rows), sig, horizon=3, lag=1, fill="close", calendar=CAL)
    assert one(closed, "hit_upper_circuit_3d_lag1_close") is False


def test_no_band_never_hits_and_missing_band_column_gives_null() -> None:
    rows = bars_of("A", band=None, high={5: 200.0})
    sig = signals(("A", ist(3, 19, 15)))
    assert (
        one(forward_returns(frame(rows), sig, horizon=3, lag=1, calendar=CAL), "hit_upper_circuit_3d_lag1")
        is False
    )
    bare = frame(bars_of("A")).drop("band_pct")
    out = forward_returns(bare, sig, horizon=3, lag=1, calendar=CAL)
    assert one(out, "hit_upper_circuit_3d_lag1") is None
    assert one(out, "entry_blocked_3d_lag1") is None
    assert one(out, "fwd_ret_3d_lag1") == pytest.approx(106.0 / 103.5 - 1)


def test_entry_blocked_when_the_entry_auction_prints_at_the_upper_circuit() -> None:
    # Fri 5: prev close 103, band 5 % -> limit 108.15; opening at it means no seller.
    rows = bars_of("B", open={4: 108.15}, high={4: 108.15})
    sig = signals(("B", ist(3, 19, 15)))
    out = forward_returns(frame(rows), sig, horizon=3, lag=1, calendar=CAL)
    assert one(out, "entry_blocked_3d_lag1") is True
    assert one(out, "fwd_ret_3d_lag1") == pytest.approx(106.0 / 108.15 - 1)  # the label is still reported
    closed = forward_returns(frame(rows), sig, horizon=3, lag=1, fill="close", calendar=CAL)
    assert one(closed, "entry_blocked_3d_lag1_close") is False  # it closed at 104, below the limit


def test_missing_bars_give_null_labels_and_rows_keep_their_order() -> None:
    rows = [r for r in bars_of("C") if r["date"] != JAN[9]] + bars_of("A")
    sig = signals(("C", ist(3, 19, 15)), ("A", ist(3, 19, 15)), ("C", ist(20, 10)), ("Z", ist(3, 19)))
    out = forward_returns(frame(rows), sig, horizon=3, lag=1, calendar=CAL)
    assert out["instrument_id"].to_list() == ["C", "A", "C", "Z"]
    assert out["fwd_ret_3d_lag1"].to_list()[0] is None  # exit bar (Jan 9) missing
    assert out["hit_upper_circuit_3d_lag1"].to_list()[0] is None
    assert out["label_known_at_3d_lag1"].to_list()[0] is None
    assert out["fwd_ret_3d_lag1"].to_list()[1] == pytest.approx(106.0 / 103.5 - 1)
    assert out["fwd_ret_3d_lag1"].to_list()[2] is None  # after the data ends
    assert out["fwd_ret_3d_lag1"].to_list()[3] is None  # unknown instrument


def test_daily_variant_signals_at_each_close() -> None:
    out = daily_forward_returns(frame(bars_of("A")), horizon=3, lag=1, calendar=CAL, index=INDEX)
    assert out.columns[:3] == ["instrument_id", "date", "known_at"]
    row = out.filter(pl.col("date") == JAN[3])
    assert row.item(0, "known_at") == eod_known_utc(JAN[3])
    assert row.item(0, "entry_date_3d_lag1") == JAN[5]
    assert row.item(0, "fwd_ret_3d_lag1") == pytest.approx(106.0 / 103.5 - 1)
    # the last rows cannot be labelled yet: null, never a shorter window
    assert out["fwd_ret_3d_lag1"].tail(4).null_count() == 4
    assert out.height == 12


def test_symbol_keyed_signals_such_as_events() -> None:
    sig = pl.DataFrame({"symbol": ["A"], "knowledge_time": [ist(3, 19, 15)]})
    out = forward_returns(frame(bars_of("A")).drop("instrument_id"), sig, horizon=3, lag=1, calendar=CAL)
    assert one(out, "fwd_ret_3d_lag1") == pytest.approx(106.0 / 103.5 - 1)


def test_bad_inputs_fail_with_clear_errors() -> None:
    bars = frame(bars_of("A"))
    sig = signals(("A", ist(3, 19, 15)))
    with pytest.raises(ConfigError, match="horizon"):
        forward_returns(bars, sig, horizon=0, lag=1, calendar=CAL)
    with pytest.raises(ConfigError, match="lag"):
        forward_returns(bars, sig, horizon=1, lag=-1, calendar=CAL)
    with pytest.raises(ConfigError, match="fill"):
        forward_returns(bars, sig, horizon=1, lag=1, fill="vwap", calendar=CAL)
    with pytest.raises(DataError, match="more than one bar"):
        forward_returns(pl.concat([bars, bars.head(1)]), sig, horizon=1, lag=1, calendar=CAL)
    weekend = bars.with_columns(
        pl.when(pl.col("date") == JAN[5]).then(dt.date(2024, 1, 6)).otherwise("date").alias("date")
    )
    with pytest.raises(DataError, match="not a session") as err:
        forward_returns(weekend, sig, horizon=1, lag=1, calendar=CAL)
    assert err.value.field == "date"
    naive = sig.with_columns(pl.col("knowledge_time").dt.replace_time_zone(None))
    with pytest.raises(DataError, match="timezone"):
        forward_returns(bars, naive, horizon=1, lag=1, calendar=CAL)
    two = pl.concat([INDEX, INDEX.with_columns(pl.lit("NIFTY BANK").alias("index_name"))])
    with pytest.raises(ConfigError, match="several indices"):
        forward_returns(bars, sig, horizon=1, lag=1, calendar=CAL, index=two)


def test_attach_bands_takes_the_latest_band_in_force() -> None:
    bars = frame(bars_of("A", n=6)).drop("band_pct").with_columns(pl.lit("EQ").alias("series"))
    bands = pl.DataFrame(
        {
            "symbol": ["A", "A", "B"],
            "series": ["EQ", "EQ", "EQ"],
            "effective_date": [JAN[2], JAN[5], JAN[1]],
            "band_pct": [20.0, None, 5.0],
        }
    )
    out = attach_bands(bars, bands)
    assert out["band_pct"].to_list() == [None, 20.0, 20.0, 20.0, None, None]
    assert out["date"].to_list() == bars["date"].to_list()
