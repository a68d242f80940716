"""India transaction costs (issue 7): published examples, dated rates, schedule validation.

Hand-checked figures (REFERENCES.md §1; rates after 1 Oct 2024):

- intraday 100 @ 1500 -> 1510, Zerodha: brokerage 20 + 20, STT 0.025 % x 151,000 = 37.75,
  exchange 0.00307 % x 301,000 = 9.2407, SEBI 0.301, stamp 0.003 % x 150,000 = 4.50,
  GST 18 % x 49.5417 = 8.9175: total 100.7092 (the published 100.71 is this exact sum; a contract
  note rounds STT to 38, giving 100.9592).
- delivery 50 @ 2400 -> 2500: STT 120 + 125 = 245, exchange 7.5215, SEBI 0.245, stamp 18,
  GST 18 % x 7.7665 = 1.39797, DP 15.34: total 287.50447. On BSE the exchange line is
  0.00375 % x 245,000 = 9.1875 and GST 1.69785: total 289.47035.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from earnest.backtest import costs
from earnest.backtest.cost_schedule import parse_schedule
from earnest.backtest.costs import (
    COMPONENTS,
    Brokerage,
    CostAssumptionWarning,
    CostModel,
    CostScheduleError,
    cell_costs,
    cost_breakdown,
    default_schedule,
    load_schedule,
    round_trip,
)
from earnest.core.errors import DataError

DAY = "2025-06-02"
TOL = 0.02


def _days(*values: str) -> np.ndarray:
    return np.array(values, dtype="datetime64[D]")


def _rates(model: CostModel, *values: str) -> costs.DailyRates:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostAssumptionWarning)
        return model.daily_rates(_days(*values))


def test_public_api_is_exported() -> None:
    for name in costs.__all__:
        assert hasattr(costs, name), name


# ---------------------------------------------------------------- published examples


def test_intraday_published_example_exact_sum() -> None:
    got = round_trip(CostModel(round_stt=False), 100, 1500, 1510, date=DAY, intraday=True)
    assert got.total == pytest.approx(100.71, abs=TOL)
    assert got.brokerage == pytest.approx(40.0)
    assert got.stt == pytest.approx(37.75)
    assert got.exchange == pytest.approx(9.2407)
    assert got.sebi == pytest.approx(0.301)
    assert got.stamp == pytest.approx(4.5)
    assert got.gst == pytest.approx(8.917506)
    assert got.dp == 0.0


def test_intraday_example_with_contract_note_stt_rounding() -> None:
    got = round_trip(CostModel(), 100, 1500, 1510, date=DAY, intraday=True)
    assert got.stt == 38.0
    assert got.total == pytest.approx(100.959206, abs=1e-6)


def test_delivery_published_example_with_dp() -> None:
    got = round_trip(CostModel(), 50, 2400, 2500, date=DAY)
    assert got.total == pytest.approx(287.50, abs=TOL)
    assert got.dp == pytest.approx(15.34)
    assert got.stt == pytest.approx(245.0)
    assert got.brokerage == 0.0
    assert got.as_dict()["total"] == pytest.approx(got.total)


def test_delivery_on_bse_uses_bse_charge() -> None:
    got = round_trip(CostModel(exchange="BSE"), 50, 2400, 2500, date=DAY)
    assert got.exchange == pytest.approx(9.1875)
    assert got.gst == pytest.approx(1.69785)
    assert got.total == pytest.approx(289.47035, abs=1e-6)


def test_dp_charge_off() -> None:
    got = round_trip(CostModel(dp_charge=False), 50, 2400, 2500, date=DAY)
    assert got.total == pytest.approx(287.50447 - 15.34, abs=1e-6)


# ---------------------------------------------------------------- STT rounding and pooling


def test_stt_rounding_intraday_12_969_to_13() -> None:
    # 500 x 103.75 = 51,875 sold intraday: 0.025 % = 12.96875 -> 13
    parts = cost_breakdown(CostModel(segment="intraday"), _days(DAY), [[51875.0]], [[51875.0]])
    assert parts["stt"][0, 0] == 13.0
    unrounded = cost_breakdown(
        CostModel(segment="intraday", round_stt=False), _days(DAY), [[51875.0]], [[51875.0]]
    )
    assert unrounded["stt"][0, 0] == pytest.approx(12.96875)


def test_stt_rounding_delivery_pools_buys_and_sells() -> None:
    # 100 bought and 100 sold at 103.75 the same day: 200 x 103.75 x 0.1 % = 20.75 -> 21 (not 10 + 10)
    parts = cost_breakdown(CostModel(), _days(DAY), [[10375.0]], [[10375.0]])
    assert parts["stt"][0, 0] == 21.0
    # a paise amount below 50 rounds down: 0.1 % of 10,374 = 10.374 -> 10
    assert cost_breakdown(CostModel(), _days(DAY), [[10374.0]], [[0.0]])["stt"][0, 0] == 10.0


def test_gst_is_never_on_stt_or_stamp() -> None:
    parts = cost_breakdown(CostModel(segment="intraday"), _days(DAY), [[150000.0]], [[151000.0]])
    fees = parts["brokerage"] + parts["exchange"] + parts["sebi"]
    assert parts["gst"][0, 0] == pytest.approx(0.18 * fees[0, 0])


def test_dp_once_per_scrip_per_sell_day() -> None:
    buys = np.array([[0.0, 1000.0], [0.0, 0.0]])
    sells = np.array([[500.0, 0.0], [1e7, 2000.0]])
    parts = cost_breakdown(CostModel(), _days(DAY, "2025-06-03"), buys, sells)
    assert parts["dp"].tolist() == [[15.34, 0.0], [15.34, 15.34]]


# ---------------------------------------------------------------- dated rates


@pytest.mark.parametrize(
    ("day", "rate"),
    [
        ("2021-01-04", 0.0000345),
        ("2023-03-31", 0.0000345),
        ("2023-04-01", 0.0000325),
        ("2024-03-31", 0.0000325),
        ("2024-04-01", 0.0000322),
        ("2024-09-30", 0.0000322),
        ("2024-10-01", 0.0000307),
        ("2026-03-02", 0.0000307),
    ],
)
def test_nse_exchange_charge_by_date(day: str, rate: float) -> None:
    assert _rates(CostModel(), day).exchange[0] == pytest.approx(rate)


def test_bse_charge_from_dec_2022_and_assumption_before() -> None:
    model = CostModel(exchange="BSE")
    assert _rates(model, "2022-12-01").exchange[0] == pytest.approx(0.0000375)
    assert [e.label() for e in model.assumptions(_days("2022-12-01")) if e.component == "exchange"] == []
    before = [e for e in model.assumptions(_days("2022-11-30")) if e.component == "exchange"]
    assert [(e.exchange, e.end) for e in before] == [("BSE", dt.date(2022, 11, 30))]


def test_stamp_duty_before_july_2020_warns() -> None:
    with pytest.warns(CostAssumptionWarning, match=r"stamp\[0\].*no single correct rate"):
        rates = CostModel().daily_rates(_days("2020-06-30"))
    assert rates.stamp_buy[0] == pytest.approx(0.00015)
    stamp_after = [e for e in CostModel().assumptions(_days("2020-07-01")) if e.component == "stamp"]
    assert stamp_after == []


def test_no_warning_for_current_dates() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CostAssumptionWarning)
        CostModel().daily_rates(_days("2024-10-01", DAY))


@pytest.mark.parametrize(
    ("segment", "before", "after"), [("futures", 0.0002, 0.0005), ("options", 0.001, 0.0015)]
)
def test_fno_stt_changes_on_1_april_2026(segment: str, before: float, after: float) -> None:
    rates = _rates(CostModel(segment=segment), "2026-03-31", "2026-04-01")  # type: ignore[arg-type]
    assert rates.stt_sell.tolist() == pytest.approx([before, after])
    assert rates.stt_buy.tolist() == [0.0, 0.0]


def test_segment_bases() -> None:
    delivery = _rates(CostModel(), DAY)
    intraday = _rates(CostModel(segment="intraday"), DAY)
    assert (delivery.stt_buy[0], delivery.stt_sell[0], delivery.stamp_buy[0]) == (0.001, 0.001, 0.00015)
    assert (intraday.stt_buy[0], intraday.stt_sell[0], intraday.stamp_buy[0]) == (0.0, 0.00025, 0.00003)
    assert intraday.dp_per_sell_scrip[0] == 0.0
    assert delivery.gst[0] == 0.18
    assert delivery.sebi[0] == pytest.approx(1e-6)


def test_dates_before_schedule_start_raise() -> None:
    with pytest.raises(CostScheduleError, match="no stt rate for 1999-12-31"):
        _rates(CostModel(), "1999-12-31")


def test_bse_futures_not_in_schedule_raises() -> None:
    with pytest.raises(CostScheduleError, match="no exchange rate for futures on BSE"):
        _rates(CostModel(segment="futures", exchange="BSE"), DAY)


# ---------------------------------------------------------------- brokers and models


def test_broker_presets() -> None:
    intraday = CostModel(segment="intraday")
    small = cost_breakdown(intraday, _days(DAY), [[10000.0]], [[0.0]])["brokerage"][0, 0]
    big = cost_breakdown(intraday, _days(DAY), [[1e6]], [[0.0]])["brokerage"][0, 0]
    assert (small, big) == (pytest.approx(3.0), 20.0)
    full = CostModel(broker="full_service")
    assert cost_breakdown(full, _days(DAY), [[1000.0]], [[0.0]])["brokerage"][0, 0] == 25.0
    assert cost_breakdown(full, _days(DAY), [[100000.0]], [[0.0]])["brokerage"][0, 0] == 500.0
    custom = CostModel(broker=Brokerage(rate=0.001, cap_inr=50.0, min_inr=5.0))
    got = cost_breakdown(custom, _days(DAY), [[0.0, 1000.0, 20000.0, 1e6]], [[0.0, 0.0, 0.0, 0.0]])
    assert got["brokerage"].tolist() == [[0.0, 5.0, 20.0, 50.0]]


def test_zero_model_costs_nothing() -> None:
    parts = cost_breakdown(CostModel.zero(), _days("1990-01-01", DAY), [[1e6], [5.0]], [[3e5], [1e9]])
    assert all((parts[c] == 0.0).all() for c in COMPONENTS)


def test_default_is_costs_on() -> None:
    model = CostModel.default()
    assert (model.broker, model.segment, model.exchange, model.dp_charge, model.round_stt) == (
        "zerodha",
        "delivery",
        "NSE",
        True,
        True,
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"segment": "swing"}, "segment"),
        ({"exchange": "MCX"}, "exchange"),
        ({"broker": "upstoxx"}, "broker"),
    ],
)
def test_bad_model_options(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(CostScheduleError) as info:
        CostModel(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_bad_brokerage() -> None:
    with pytest.raises(CostScheduleError, match="cap_inr >= min_inr"):
        Brokerage(rate=0.001, cap_inr=10.0, min_inr=20.0)


def test_bad_trade_values() -> None:
    with pytest.raises(DataError, match="finite and >= 0"):
        cost_breakdown(CostModel(), _days(DAY), [[-1.0]], [[0.0]])
    with pytest.raises(DataError, match="2-D"):
        cost_breakdown(CostModel(), _days(DAY), [1.0], [0.0])
    with pytest.raises(DataError, match="shapes differ"):
        cost_breakdown(CostModel(), _days(DAY, DAY), [[1.0]], [[0.0]])
    with pytest.raises(DataError, match="must all be > 0"):
        round_trip(CostModel(), 0, 10.0, 11.0, date=DAY)


def test_intraday_round_trip_needs_equity() -> None:
    with pytest.raises(CostScheduleError, match="intraday applies to equity"):
        round_trip(CostModel(segment="futures"), 1, 10.0, 11.0, date=DAY, intraday=True)


# ---------------------------------------------------------------- kernel parity


def test_cell_costs_matches_breakdown_on_examples() -> None:
    model = CostModel(segment="intraday")
    rates = _rates(model, DAY)
    parts = cost_breakdown(model, _days(DAY), [[150000.0]], [[151000.0]])
    total = sum(parts[c][0, 0] for c in COMPONENTS)
    assert cell_costs(rates, 0, 150000.0, 151000.0) == pytest.approx(total, abs=1e-9)
    assert total == pytest.approx(100.959206, abs=1e-6)
    assert cell_costs(rates, 0, 0.0, 0.0) == 0.0


# ---------------------------------------------------------------- schedule validation


def _packaged() -> dict[str, object]:
    path = Path(costs.__file__).parent / "schedules" / "india_equity.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_packaged_schedule_loads_and_names_sources() -> None:
    schedule = default_schedule()
    assert schedule.start == dt.date(2000, 1, 1)
    assert all(e.source and e.confidence for e in schedule.entries)
    assert all(e.note for e in schedule.entries if e.confidence == "assumption")


def test_load_schedule_from_file(tmp_path: Path) -> None:
    src = Path(costs.__file__).parent / "schedules" / "india_equity.toml"
    copy = tmp_path / "mine.toml"
    copy.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_schedule(copy).entries == default_schedule().entries
    with pytest.raises(CostScheduleError, match="cannot read"):
        load_schedule(tmp_path / "missing.toml")


def _edited(component: str, index: int, **changes: object) -> dict[str, object]:
    data = _packaged()
    entries = data[component]
    assert isinstance(entries, list)
    entries[index] = {**entries[index], **changes}
    return data


@pytest.mark.parametrize(
    ("component", "index", "changes", "message", "where"),
    [
        ("stt", 0, {"to": dt.date(2013, 6, 1)}, "overlaps stt\\[1\\]", "stt[0]"),
        ("stt", 0, {"to": dt.date(2013, 5, 30)}, "gap between 2013-05-30 and 2013-06-01", "stt[0]"),
        ("stt", 1, {"to": dt.date(2013, 1, 1)}, "'to' 2013-01-01 is before 'from'", "stt[1]"),
        ("stamp", 0, {"basis": "sell"}, "basis 'sell' is not one of \\['buy'\\]", "stamp[0]"),
        ("gst", 0, {"unit": "fraction"}, "unit 'fraction' must be 'fraction_of_fees'", "gst[0]"),
        ("sebi", 0, {"rate": -1.0}, "rate -1.0 must be >= 0", "sebi[0]"),
        ("sebi", 0, {"segment": "swing"}, "segment 'swing'", "sebi[0]"),
        ("sebi", 0, {"exchange": "MCX"}, "exchange 'MCX'", "sebi[0]"),
        ("sebi", 0, {"confidence": "sure"}, "confidence 'sure'", "sebi[0]"),
        ("sebi", 0, {"from": "2000-01-01"}, "must be a TOML date", "sebi[0]"),
        ("dp", 0, {"from": dt.date(2001, 1, 1)}, "not on the schedule start", "dp[0]"),
    ],
)
def test_validation_names_the_entry(
    component: str, index: int, changes: dict[str, object], message: str, where: str
) -> None:
    with pytest.raises(CostScheduleError, match=message) as info:
        parse_schedule(_edited(component, index, **changes), source="t.toml")
    assert info.value.field is not None
    assert info.value.field.startswith(where)
    assert info.value.file == "t.toml"


def test_validation_rejects_missing_keys_and_mixed_exchanges() -> None:
    data = _packaged()
    entry = dict(data["dp"][0])  # type: ignore[index]
    del entry["source"]
    data["dp"] = [entry]
    with pytest.raises(CostScheduleError, match=r"missing keys \['source'\]"):
        parse_schedule(data)
    mixed = _packaged()
    extra = {**mixed["exchange"][0], "exchange": "any"}  # type: ignore[index]
    mixed["exchange"].append(extra)  # type: ignore[attr-defined]
    with pytest.raises(CostScheduleError, match="mixes exchange 'any' with named exchanges"):
        parse_schedule(mixed)
    with pytest.raises(CostScheduleError, match="unknown components"):
        parse_schedule({**_packaged(), "ctt": []})
    with pytest.raises(CostScheduleError, match=r"\[meta\] table"):
        parse_schedule({"stt": []})


def test_rounding_is_half_up_not_bankers() -> None:
    # 0.1 % of 12,500 = 12.5 -> 13 and of 11,500 = 11.5 -> 12 (Python's round() would give 12 and 12)
    parts = cost_breakdown(CostModel(), _days(DAY, DAY), [[12500.0], [11500.0]], [[0.0], [0.0]])
    assert parts["stt"][:, 0].tolist() == [13.0, 12.0]
    assert math.isclose(parts["stamp"][0, 0], 1.875)
