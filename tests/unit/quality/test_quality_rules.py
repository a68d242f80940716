"""Each rule of the quality gate on a hand-made file: which rows, which rule, which reason."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from quality_builders import DAY, bar, parsed_file, quarantined

from earnest.core import schemas
from earnest.core.errors import DataError


def test_a_clean_file_passes_whole(run_gate) -> None:
    batch = run_gate(parsed_file([bar(), bar(symbol="TCS", isin="INE467B01029")]))
    assert batch.tables["bars"].height == 2
    assert batch.quarantine.is_empty()
    assert batch.rows_total == 2
    assert batch.tables["bars"]["instrument_id"].to_list() == ["INE009A01021", "INE467B01029"]


@pytest.mark.parametrize(
    ("row", "field", "rule", "reason"),
    [
        (bar(high=101.2, low=104.0), "high", "ohlc_inconsistent", "HIGH 101.2 < LOW 104.0 for INFY (EQ)"),
        (bar(high=103.0), "high", "ohlc_inconsistent", "HIGH 103.0 < CLOSE 104.0 for INFY (EQ)"),
        (bar(open=106.0, high=105.0), "high", "ohlc_inconsistent", "HIGH 105.0 < OPEN 106.0 for INFY (EQ)"),
        (bar(low=100.5), "low", "ohlc_inconsistent", "LOW 100.5 > OPEN 100.0 for INFY (EQ)"),
        (bar(open=0.0, low=0.0), "open", "non_positive_price", "OPEN 0.0 is not positive for INFY (EQ)"),
        (bar(close=-1.0), "close", "non_positive_price", "CLOSE -1.0 is not positive for INFY (EQ)"),
        (bar(open=None), "open", "missing_field", "required field OPEN is empty for INFY (EQ)"),
        (bar(volume=-5), "volume", "negative_value", "VOLUME -5 is negative for INFY (EQ)"),
        (bar(turnover=-1.5), "turnover", "negative_value", "TURNOVER -1.5 is negative for INFY (EQ)"),
        (bar(trades=-1), "trades", "negative_value", "TRADES -1 is negative for INFY (EQ)"),
        (
            bar(delivery_qty=1001),
            "delivery_qty",
            "delivery_exceeds_volume",
            "DELIVERY_QTY 1001 > VOLUME 1000 for INFY (EQ)",
        ),
    ],
)
def test_single_row_rules(run_gate, row, field, rule, reason) -> None:
    batch = run_gate(parsed_file([bar(symbol="TCS", isin="INE467B01029"), row]))
    assert quarantined(batch) == [(3, field, rule, reason)]
    assert batch.tables["bars"]["symbol"].to_list() == ["TCS"]


def test_a_row_breaking_several_rules_is_quarantined_once_under_the_first(run_gate) -> None:
    batch = run_gate(parsed_file([bar(open=-1.0, high=1.0, volume=-3)]))
    assert quarantined(batch) == [
        (2, "open", "non_positive_price", "OPEN -1.0 is not positive for INFY (EQ)")
    ]


def test_future_dates_are_quarantined_against_todays_date(run_gate, context) -> None:
    later = dt.date(2024, 7, 11)
    batch = run_gate(parsed_file([bar(), bar(date=later)]), context(today=dt.date(2024, 7, 10)))
    assert quarantined(batch) == [
        (3, "date", "future_date", "DATE 2024-07-11 is after today 2024-07-10 for INFY (EQ)")
    ]
    # the future row does not stretch the instrument's last_seen
    assert batch.tables["instruments"]["last_seen"].to_list() == [DAY]


def test_duplicates_keep_the_first_and_name_its_line(run_gate) -> None:
    rows = [bar(), bar(symbol="TCS", isin="INE467B01029"), bar(close=104.5, high=106.0), bar()]
    batch = run_gate(parsed_file(rows))
    got = quarantined(batch)
    assert [(line, rule) for line, _, rule, _ in got] == [(4, "duplicate_key"), (5, "duplicate_key")]
    assert got[0][3].startswith("duplicate of line 2 (same exchange, instrument_id, series, date: ")
    assert "NSE INE009A01021 EQ 2024-07-05" in got[0][3]
    assert batch.tables["bars"]["source_row"].to_list() == [2, 3]


def test_a_bad_first_row_lets_the_good_duplicate_through(run_gate) -> None:
    batch = run_gate(parsed_file([bar(high=90.0), bar()]))
    assert [(line, rule) for line, _, rule, _ in quarantined(batch)] == [(2, "ohlc_inconsistent")]
    assert batch.tables["bars"]["source_row"].to_list() == [3]


def test_conflict_with_a_stored_row_names_its_file(run_gate, context) -> None:
    stored = {
        **bar(close=103.0),
        "instrument_id": "INE009A01021",
        "source_file": "sec_bhavdata_full_05072024.csv",
    }
    stored.update(source_row=812, knowledge_time=dt.datetime(2024, 7, 5, 10, 30, tzinfo=dt.UTC))
    batch = run_gate(parsed_file([bar()]), context(stored=[stored]))
    assert quarantined(batch) == [
        (
            2,
            "close",
            "conflicts_with_stored",
            "CLOSE 104.0 differs from 103.0 already stored from sec_bhavdata_full_05072024.csv line 812 "
            "for INFY (EQ)",
        )
    ]


def test_identical_stored_prices_pass_within_relative_tolerance(run_gate, context) -> None:
    stored = {**bar(close=104.0 * (1 + 1e-8)), "instrument_id": "INE009A01021", "source_file": "a.csv"}
    stored["knowledge_time"] = dt.datetime(2024, 7, 5, 10, 30, tzinfo=dt.UTC)
    batch = run_gate(parsed_file([bar()]), context(stored=[stored]))
    assert batch.quarantine.is_empty()
    assert batch.tables["bars"].height == 1


def band(band_pct: float | None, effective: dt.date, symbol: str = "INFY") -> dict[str, object]:
    return {
        "symbol": symbol,
        "series": "EQ",
        "band_pct": band_pct,
        "effective_date": effective,
        "source_file": "sec_list.csv",
    }


def test_a_move_beyond_a_known_band_is_quarantined(run_gate, context) -> None:
    rows = [
        bar(prev_close=100.0, close=104.0),
        bar(symbol="X", isin="INE000X01011", prev_close=100.0, close=104.0),
    ]
    ctx = context(price_bands=[band(2.0, dt.date(2024, 7, 1)), band(5.0, dt.date(2024, 7, 1), "X")])
    batch = run_gate(parsed_file(rows), ctx)
    assert quarantined(batch) == [
        (
            2,
            "close",
            "beyond_price_band",
            "CLOSE 104.0 moved 4.0% from PREV_CLOSE 100.0, beyond the 2.0% price band "
            "(effective 2024-07-01, tolerance 0.5%) for INFY (EQ)",
        )
    ]


def test_the_band_tolerance_is_a_setting(run_gate, context) -> None:
    ctx = context(price_bands=[band(2.0, dt.date(2024, 7, 1))])
    assert run_gate(parsed_file([bar(close=104.0)]), ctx, band_tolerance_pct=2.5).quarantine.is_empty()


def test_without_a_band_no_band_or_a_stale_band_the_rule_does_not_apply(run_gate, context) -> None:
    file = parsed_file([bar(prev_close=100.0, close=104.0)])
    assert run_gate(file, context()).quarantine.is_empty()
    assert run_gate(file, context(price_bands=[band(None, dt.date(2024, 7, 1))])).quarantine.is_empty()
    # 2024-06-12 is 16 sessions before 2024-07-05 (2024-06-17 was a holiday): too old to trust
    assert run_gate(file, context(price_bands=[band(2.0, dt.date(2024, 6, 12))])).quarantine.is_empty()
    # 2024-06-13 is 15 sessions before: still applies
    hit = run_gate(file, context(price_bands=[band(2.0, dt.date(2024, 6, 13))]))
    assert hit.quarantine["rule"].to_list() == ["beyond_price_band"]
    # a band that takes effect after the row's date does not apply to it
    assert run_gate(file, context(price_bands=[band(2.0, dt.date(2024, 7, 8))])).quarantine.is_empty()


def test_a_newer_no_band_supersedes_an_older_band(run_gate, context) -> None:
    ctx = context(price_bands=[band(2.0, dt.date(2024, 7, 1)), band(None, dt.date(2024, 7, 3))])
    assert run_gate(parsed_file([bar(close=104.0)]), ctx).quarantine.is_empty()


def test_band_rule_on_a_multi_day_file_uses_each_rows_band(run_gate, context) -> None:
    rows = [bar(date=dt.date(2024, 7, 4), close=104.0), bar(date=dt.date(2024, 7, 5), close=104.0)]
    ctx = context(price_bands=[band(5.0, dt.date(2024, 7, 1)), band(2.0, dt.date(2024, 7, 5))])
    assert [line for line, *_ in quarantined(run_gate(parsed_file(rows), ctx))] == [3]


def test_rows_on_a_day_without_a_session_are_kept_with_one_warning_per_date(run_gate) -> None:
    saturday = dt.date(2024, 7, 6)
    rows = [bar(date=saturday), bar(date=saturday, symbol="TCS", isin="INE467B01029"), bar()]
    batch = run_gate(parsed_file(rows))
    assert batch.tables["bars"].height == 3
    f = batch.findings.filter(pl.col("rule") == "not_a_session")
    assert f.select("severity", "date", "source_file").rows() == [
        ("warning", saturday, "cm05JUL2024bhav.csv")
    ]


def test_reader_rejects_are_carried_unchanged(run_gate) -> None:
    rej = pl.DataFrame(
        {
            "source_file": ["cm05JUL2024bhav.csv"],
            "source_sha256": ["abc"],
            "source_row": [7],
            "target": ["bars"],
            "field": ["CLOSE"],
            "rule": ["parse"],
            "reason": ["cannot read 'CLOSE' value 'x'"],
            "raw": ["INFY,EQ,x"],
            "quarantined_at": [dt.datetime(2024, 7, 5, tzinfo=dt.UTC)],
        },
        schema=dict(schemas.QUARANTINE),
    )
    batch = run_gate(parsed_file([bar(), bar(high=1.0)], rejects=rej))
    assert batch.rows_total == 3
    assert batch.quarantine.height == 2
    assert batch.quarantine.filter(pl.col("rule") == "parse").rows() == rej.rows()
    assert batch.tables["bars"].height + batch.quarantine.height == batch.rows_total


def test_gate_quarantine_records_carry_file_hash_target_and_raw(run_gate) -> None:
    file = parsed_file([bar(high=1.0)])
    q = run_gate(file).quarantine
    assert q.row(0, named=True)["source_file"] == "cm05JUL2024bhav.csv"
    assert q.row(0, named=True)["source_sha256"] == file.sha256
    assert q.row(0, named=True)["target"] == "bars"
    assert "symbol=INFY" in q.row(0, named=True)["raw"]
    assert "high=1.0" in q.row(0, named=True)["raw"]


def test_an_unknown_target_is_a_clear_error(run_gate) -> None:
    file = parsed_file([bar()])
    odd = type(file)(**{**file.__dict__, "target": "quarantine"})
    with pytest.raises(DataError, match="no quality rules for target 'quarantine'"):
        run_gate(odd)


# ---- other targets ----------------------------------------------------------------------------


def contract(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "exchange": "NSE",
        "date": DAY,
        "instrument_type": "STO",
        "symbol": "INFY",
        "expiry": dt.date(2024, 7, 25),
        "strike": 1500.0,
        "option_type": "CE",
        "open": 10.0,
        "high": 12.0,
        "low": 9.0,
        "close": 11.0,
        "settle": 11.0,
        "volume": 5,
        "turnover": 100.0,
        "trades": 3,
        "open_interest": 100,
        "oi_change": -20,
    }
    row.update(over)
    return row


def test_derivatives_check_only_traded_contracts(run_gate) -> None:
    untraded = contract(
        strike=1600.0, open=0.0, high=0.0, low=0.0, close=0.0, volume=0, trades=0, turnover=0.0
    )
    untraded_odd = contract(strike=1700.0, high=0.0, volume=0)  # inconsistent but untraded: passes
    traded_bad = contract(strike=1800.0, high=8.0)
    negative = contract(strike=1900.0, volume=0, open=-1.0)  # untraded: prices not checked
    rows = [contract(), untraded, untraded_odd, traded_bad, negative, contract(volume=-1, strike=2000.0)]
    batch = run_gate(parsed_file(rows, target="derivative_bars", kind="nse_udiff_fo"))
    assert [(line, field, rule) for line, field, rule, _ in quarantined(batch)] == [
        (5, "high", "ohlc_inconsistent"),
        (7, "volume", "negative_value"),
    ]
    assert quarantined(batch)[0][3] == "HIGH 8.0 < LOW 9.0 for INFY STO 2024-07-25 1800.0 CE"
    assert batch.tables["derivative_bars"].height == 4
    assert "instruments" not in batch.tables


def test_derivative_duplicates_are_quarantined(run_gate) -> None:
    batch = run_gate(parsed_file([contract(), contract()], target="derivative_bars"))
    assert [(line, rule) for line, _, rule, _ in quarantined(batch)] == [(3, "duplicate_key")]


def index_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "index_name": "NIFTY 50",
        "date": DAY,
        "open": 100.0,
        "high": 110.0,
        "low": 95.0,
    }
    row["close"] = 105.0
    row.update(over)
    return row


def test_index_bars_need_a_positive_close_and_consistent_complete_ohlc(run_gate) -> None:
    rows = [
        index_row(),
        index_row(date=dt.date(2024, 7, 4), close=0.0),
        index_row(date=dt.date(2024, 7, 3), high=90.0),
        index_row(date=dt.date(2024, 7, 2), open=None, high=90.0),  # incomplete: OHLC not checked
    ]
    batch = run_gate(parsed_file(rows, target="index_bars", kind="index_daily"))
    assert quarantined(batch) == [
        (3, "close", "non_positive_price", "CLOSE 0.0 is not positive for NIFTY 50"),
        (4, "high", "ohlc_inconsistent", "HIGH 90.0 < LOW 95.0 for NIFTY 50"),
    ]


def test_price_bands_must_be_an_nse_band_or_no_band(run_gate) -> None:
    rows = [band(2.0, DAY), band(None, DAY, "B"), band(15.0, DAY, "C"), band(40.0, DAY, "D")]
    batch = run_gate(parsed_file(rows, target="price_bands", kind="nse_price_band"))
    assert quarantined(batch) == [
        (
            4,
            "band_pct",
            "invalid_band",
            "BAND_PCT 15.0 is not one of 2, 5, 10, 20, 40 (or No Band) for C (EQ)",
        )
    ]


def action(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "action_id": "a1",
        "exchange": "NSE",
        "symbol": "INFY",
        "series": "EQ",
        "ex_date": DAY,
        "action_type": "split",
        "price_factor": 0.5,
        "source": "nse_bc",
        "status": "confirmed",
    }
    row.update(over)
    return row


def test_corporate_actions_price_factor_and_ex_date(run_gate) -> None:
    rows = [
        action(),
        action(action_id="a2", action_type="bonus", price_factor=1.5),
        action(action_id="a3", action_type="dividend", price_factor=1.0, amount=20.0),
        action(action_id="a4", action_type="dividend", price_factor=0.9),
        action(action_id="a5", ex_date=None),
        action(action_id="a6", action_type="split", price_factor=0.0),
    ]
    batch = run_gate(parsed_file(rows, target="corporate_actions", kind="nse_bc"))
    assert quarantined(batch) == [
        (
            3,
            "price_factor",
            "invalid_price_factor",
            "PRICE_FACTOR 1.5 of a bonus is not in (0, 1] for INFY (EQ)",
        ),
        (
            5,
            "price_factor",
            "invalid_price_factor",
            "PRICE_FACTOR 0.9 of a dividend is not 1.0 (only splits and bonuses scale prices) for INFY (EQ)",
        ),
        (6, "ex_date", "missing_field", "required field EX_DATE is empty for INFY (EQ)"),
        (
            7,
            "price_factor",
            "invalid_price_factor",
            "PRICE_FACTOR 0.0 of a split is not in (0, 1] for INFY (EQ)",
        ),
    ]
    assert batch.tables["corporate_actions"]["action_id"].to_list() == ["a1", "a3"]


def test_corporate_actions_get_the_instrument_of_their_symbol(run_gate, context) -> None:
    master = [{"instrument_id": "INE009A01021", "isin": "INE009A01021", "exchange": "NSE", "symbol": "INFY"}]
    master[0].update(status="listed", source="nse_equity_master")
    batch = run_gate(parsed_file([action()], target="corporate_actions"), context(instruments=master))
    assert batch.tables["corporate_actions"]["instrument_id"].to_list() == ["INE009A01021"]


def test_masters_pass_through_with_duplicates_quarantined(run_gate) -> None:
    inst = {
        "isin": "INE009A01021",
        "exchange": "NSE",
        "symbol": "INFY",
        "status": "listed",
        "source": "nse_equity_master",
    }
    batch = run_gate(parsed_file([inst, inst], target="instruments", kind="nse_equity_master"))
    assert batch.tables["instruments"]["instrument_id"].to_list() == ["INE009A01021"]
    assert [(line, rule) for line, _, rule, _ in quarantined(batch)] == [(3, "duplicate_key")]
    change = {
        "old_symbol": "INFOSYSTCH",
        "new_symbol": "INFY",
        "change_date": dt.date(2011, 6, 1),
        "source": "nse",
    }
    batch = run_gate(parsed_file([change, change, {**change, "change_date": None}], target="symbol_changes"))
    assert batch.tables["symbol_changes"].height == 1
    assert [(line, rule) for line, _, rule, _ in quarantined(batch)] == [
        (3, "duplicate_key"),
        (4, "missing_field"),
    ]


def test_targets_without_a_line_column_still_name_the_duplicate(run_gate) -> None:
    change = {"old_symbol": "A", "new_symbol": "B", "change_date": DAY, "source": "nse"}
    file = parsed_file([change, change], target="symbol_changes")
    lineless = type(file)(**{**file.__dict__, "frame": file.frame.drop("source_row")})
    batch = run_gate(lineless)
    assert batch.quarantine.select("source_row", "rule").rows() == [(None, "duplicate_key")]
    assert batch.quarantine["reason"][0].startswith("duplicate of an earlier row (same old_symbol, ")
