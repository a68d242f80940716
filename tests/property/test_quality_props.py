"""Property: the quality gate never loses or duplicates a row, and never lets a bad one through.

Random bars files with random corruptions (swapped high/low, negative or missing values,
delivery above volume, future dates, duplicated keys, a session-less Saturday), random stored rows
and random price bands. Every data row must end up exactly once in either the output table or
quarantine, and every output row must pass a plain-Python re-statement of the rules.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earnest.config import QualitySettings
from earnest.core import schemas
from earnest.core.calendar import TradingCalendar, eod_known_utc, nse_calendar
from earnest.quality.gate import GateContext, gate
from earnest.sources.base import ParsedFile

TODAY = dt.date(2024, 7, 8)
DATES = [dt.date(2024, 7, 4), dt.date(2024, 7, 5), dt.date(2024, 7, 6), dt.date(2024, 7, 9)]  # Sat, future
SYMBOLS = {"INFY": "INE009A01021", "TCS": "INE467B01029", "NOISIN": None}
SETTINGS = QualitySettings()
CALENDAR: TradingCalendar = nse_calendar()
PRICES = ("open", "high", "low", "close")

price = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def bar_rows(draw: st.DrawFn) -> dict[str, Any]:
    symbol = draw(st.sampled_from(sorted(SYMBOLS)))
    o, c = draw(price), draw(price)
    high = max(o, c) + draw(st.sampled_from([0.0, 1.5]))
    low = min(o, c) - draw(st.sampled_from([0.0, 0.5]))
    volume = draw(st.integers(0, 10_000))
    row: dict[str, Any] = {
        "exchange": "NSE",
        "isin": SYMBOLS[symbol],
        "symbol": symbol,
        "series": draw(st.sampled_from(["EQ", "BE"])),
        "date": draw(st.sampled_from(DATES)),
        "open": o,
        "high": high,
        "low": low,
        "close": c,
        "prev_close": draw(st.one_of(st.none(), price)),
        "volume": volume,
        "turnover": float(volume) * c,
        "trades": draw(st.integers(0, 100)),
        "delivery_qty": draw(st.integers(0, volume)),
    }
    corruption = draw(st.sampled_from(["none", "none", "swap", "neg", "null", "zero", "delivery", "low_up"]))
    if corruption == "swap":
        row["high"], row["low"] = row["low"], row["high"]
    elif corruption == "neg":
        row[draw(st.sampled_from(["volume", "trades", "turnover"]))] *= -1
        row["volume"] = row["volume"] or -1
    elif corruption == "null":
        row[draw(st.sampled_from(["open", "high", "low", "symbol", "series"]))] = None
    elif corruption == "zero":
        row[draw(st.sampled_from(PRICES))] = 0.0
    elif corruption == "delivery":
        row["delivery_qty"] = volume + 1
    elif corruption == "low_up":
        row["low"] = max(o, c) + 1.0
    return row


def _frame(schema: schemas.Schema, rows: list[dict[str, Any]]) -> pl.DataFrame:
    return (
        schemas.conform(pl.DataFrame(rows, infer_schema_length=None), schema)
        if rows
        else schemas.empty(schema)
    )


def _sessions_since(eff: dt.date, day: dt.date) -> int:
    return len(CALENDAR.sessions_between(eff + dt.timedelta(days=1), day))


def violations(row: dict[str, Any], ctx: GateContext) -> list[str]:
    """The rules, restated one row at a time (the gate itself is vectorised)."""
    out = []
    need = ("exchange", "instrument_id", "symbol", "series", "date", *PRICES, "knowledge_time", "source_file")
    if any(row[k] is None for k in need):
        return ["missing"]
    o, h, lo, c = (row[p] for p in PRICES)
    if min(o, h, lo, c) <= 0:
        out.append("non_positive")
    if h < max(o, c, lo) or lo > min(o, c):
        out.append("ohlc")
    if any(row[k] is not None and row[k] < 0 for k in ("volume", "turnover", "trades", "delivery_qty")):
        out.append("negative")
    if row["delivery_qty"] is not None and row["volume"] is not None and row["delivery_qty"] > row["volume"]:
        out.append("delivery")
    if row["date"] > ctx.today:
        out.append("future")
    for s in ctx.stored.iter_rows(named=True):
        same_key = all(s[k] == row[k] for k in schemas.BAR_KEY)
        if same_key and any(abs(s[p] - row[p]) > 1e-6 * max(abs(s[p]), abs(row[p])) for p in PRICES):
            out.append("conflict")
    bands = [
        b
        for b in ctx.price_bands.iter_rows(named=True)
        if (b["symbol"], b["series"]) == (row["symbol"], row["series"]) and b["effective_date"] <= row["date"]
    ]
    if bands:
        latest = max(bands, key=lambda b: b["effective_date"])
        pc = row["prev_close"]
        fresh = _sessions_since(latest["effective_date"], row["date"]) <= SETTINGS.band_max_age_sessions
        limit = None if latest["band_pct"] is None else latest["band_pct"] + SETTINGS.band_tolerance_pct
        if limit is not None and fresh and pc is not None and pc > 0 and abs(c / pc - 1) * 100 > limit:
            out.append("band")
    return out


@st.composite
def contexts(draw: st.DrawFn) -> GateContext:
    stored = []
    for _ in range(draw(st.integers(0, 3))):
        symbol = draw(st.sampled_from(["INFY", "TCS"]))
        o = draw(price)
        stored.append(
            {
                "exchange": "NSE",
                "instrument_id": SYMBOLS[symbol],
                "symbol": symbol,
                "series": "EQ",
                "date": draw(st.sampled_from(DATES[:2])),
                "open": o,
                "high": o,
                "low": o,
                "close": o,
                "knowledge_time": eod_known_utc(DATES[0]),
                "source_file": "earlier.csv",
                "source_row": 9,
            }
        )
    bands = [
        {
            "symbol": draw(st.sampled_from(sorted(SYMBOLS))),
            "series": "EQ",
            "band_pct": draw(st.sampled_from([None, 2.0, 5.0, 20.0])),
            "effective_date": draw(
                st.sampled_from([dt.date(2024, 6, 3), dt.date(2024, 7, 1), dt.date(2024, 7, 5)])
            ),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    return GateContext(
        calendar=CALENDAR,
        instruments=schemas.empty(schemas.INSTRUMENTS),
        symbol_changes=schemas.empty(schemas.SYMBOL_CHANGES),
        price_bands=_frame(schemas.PRICE_BANDS, bands).unique(["symbol", "series", "effective_date"]),
        stored=_frame(schemas.BARS, stored).unique(list(schemas.BAR_KEY), keep="first"),
        today=TODAY,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(bar_rows(), min_size=0, max_size=25), ctx=contexts(), dup=st.booleans())
def test_every_row_is_kept_or_quarantined_once_and_kept_rows_pass_every_rule(
    rows: list[dict[str, Any]], ctx: GateContext, dup: bool
) -> None:
    if dup and rows:
        rows = [*rows, dict(rows[0])]
    for i, r in enumerate(rows):
        r.update(source_row=i + 2, source_file="f.csv", knowledge_time=eod_known_utc(r["date"]))
    frame = _frame(schemas.BARS, rows)
    parsed = ParsedFile(
        "f.csv", "sha", "nse_bhavcopy_legacy", "bars", len(rows), frame, schemas.empty(schemas.QUARANTINE)
    )
    batch = gate(parsed, ctx, settings=SETTINGS, code_version="prop")

    kept = batch.tables["bars"]
    lines = sorted(kept["source_row"].to_list() + batch.quarantine["source_row"].to_list())
    assert lines == list(range(2, len(rows) + 2))
    assert batch.quarantine.filter(pl.col("reason").is_null() | pl.col("rule").is_null()).is_empty()
    assert kept.select(schemas.BAR_KEY).is_duplicated().sum() == 0
    for row in kept.iter_rows(named=True):
        assert violations(row, ctx) == [], row
    # and what it quarantines under any rule but duplicate_key really breaks one
    by_line = {r["source_row"]: r for r in rows}
    for q in batch.quarantine.iter_rows(named=True):
        if q["rule"] != "duplicate_key":
            r = by_line[q["source_row"]]
            resolved = {**r, "instrument_id": r["isin"] or (r["symbol"] and f"NSE:{r['symbol']}")}
            assert violations(resolved, ctx) != [], (q, r)
