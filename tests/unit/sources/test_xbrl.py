"""NSE results XBRL reader on hand-made instances (tests/fixtures/results/*.xml) in NSE's real shapes."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.errors import SchemaDriftError
from earnest.sources import xbrl
from earnest.sources.base import ParsedFile
from earnest.sources.xbrl import CANONICAL, NseXbrlResultsReader, broadcast_from_name, nse_xbrl_name

INDAS = "11Jan2024_1819_INDAS_900001_900002_11012024061922.xml"
BANK = "16Jan2024_1711_BANKING_900003_900004_16012024051131.xml"
READER = NseXbrlResultsReader()


def _parse(fixtures_dir: Path, name: str) -> ParsedFile:
    data = (fixtures_dir / "results" / name).read_bytes()
    assert READER.sniff(name, data[:4096].decode())
    return READER.parse(name, data, sha256="f" * 64)


def _facts(p: ParsedFile, kind: str = "quarter") -> dict[str, Any]:
    """field -> value of the non-dimensional facts of one period kind."""
    rows = p.frame.filter(pl.col("field").is_not_null() & (pl.col("period_kind") == kind))
    return dict(zip(rows.get_column("field").to_list(), rows.get_column("value").to_list(), strict=True))


def test_indas_quarter_fields_are_rupees_as_filed(fixtures_dir: Path) -> None:
    p = _parse(fixtures_dir, INDAS)
    assert p.frame.columns == list(schemas.FINANCIAL_FACTS)
    q = _facts(p)
    # decimals="-5" is precision (to the lakh), not a scale: 12345600000.00 stays 12,345,600,000 rupees
    assert q["revenue_from_operations"] == 12_345_600_000.0
    assert q["other_income"] == 100_000_000.0
    assert q["total_income"] == 12_445_600_000.0
    assert q["total_expenses"] == 10_000_000_000.0
    assert q["finance_costs"] == 50_000_000.0
    assert q["depreciation"] == 200_000_000.0
    assert q["profit_before_tax"] == 2_445_600_000.0
    assert q["tax_expense"] == 645_600_000.0
    assert q["net_profit"] == 1_900_000_000.0
    assert q["net_profit_owners"] == 1_850_000_000.0
    assert q["profit_continuing_operations"] == 1_800_000_000.0
    assert (q["eps_basic"], q["eps_diluted"], q["eps_basic_continuing"]) == (18.5, 18.4, 18.0)
    assert (q["face_value"], q["paid_up_share_capital"]) == (10.0, 1_000_000_000.0)
    assert q["exceptional_items"] is None  # xsi:nil="true": kept, no value
    rev = p.frame.filter(
        pl.col("field") == "revenue_from_operations", pl.col("period_kind") == "quarter"
    ).row(0, named=True)
    assert (rev["unit"], rev["decimals"], rev["symbol"], rev["consolidation"]) == (
        "INR",
        -5,
        "DEMOCO",
        "consolidated",
    )
    assert (rev["period_start"], rev["period_end"], rev["period_source"]) == (
        dt.date(2023, 10, 1),
        dt.date(2023, 12, 31),
        "reporting_period_facts",
    )
    eps = p.frame.filter(pl.col("field") == "eps_basic", pl.col("period_kind") == "quarter").row(
        0, named=True
    )
    assert (eps["unit"], eps["decimals"]) == ("INR/shares", None)
    shares = p.frame.filter(pl.col("concept") == "NumberOfSharesOutstanding").row(0, named=True)
    assert (shares["unit"], shares["value"], shares["field"]) == ("shares", 100_000_000.0, None)


def test_ytd_period_comes_from_the_filing_not_the_mislabelled_context(fixtures_dir: Path) -> None:
    # FourD's xbrli:period says Oct-Dec (NSE's utility bug); the filing's own facts say Apr-Dec
    p = _parse(fixtures_dir, INDAS)
    ytd = p.frame.filter(pl.col("period_kind") == "ytd", pl.col("dimension") == "")
    assert set(ytd.get_column("period_start").to_list()) == {dt.date(2023, 4, 1)}
    assert _facts(p, "ytd") == {"revenue_from_operations": 36e9, "net_profit": 5.5e9, "eps_basic": 54.0}
    # the dimensional YTD context takes its column's period (Four = year to date)
    dims = p.frame.filter(pl.col("dimension") != "").sort("period_kind")
    assert dims.select("period_kind", "period_start", "period_source", "dimension", "value").rows() == [
        ("quarter", dt.date(2023, 10, 1), "column_period",
         "DetailsOfOtherExpensesAxis=OneOperatingExpenses01Member", 3e8),
        ("ytd", dt.date(2023, 4, 1), "column_period",
         "DetailsOfOtherExpensesAxis=FourOperatingExpenses01Member", 9e8),
    ]  # fmt: skip
    assert dims.get_column("field").null_count() == 2  # dimensional facts carry no canonical field


def test_every_fact_is_a_row_or_a_quarantine_record_with_a_reason(fixtures_dir: Path) -> None:
    p = _parse(fixtures_dir, INDAS)
    # 38 facts: one identical repeat (ProfitLossForPeriod FourD) is one row -> 37 rows accounted for
    assert (p.rows_total, p.frame.height, p.rejects.height) == (37, 33, 4)
    assert p.meta["identical_repeats_merged"] == "1"
    assert p.rejects.columns == list(schemas.QUARANTINE)
    got = p.rejects.select("source_row", "field", "rule").rows()
    assert got == [
        (34, "CashAndCashEquivalentsCashFlowStatement", "conflicting_facts"),
        (35, "CashAndCashEquivalentsCashFlowStatement", "conflicting_facts"),
        (37, "unitRef", "unknown_unit"),
        (38, "contextRef", "missing_context"),
    ]
    reasons = p.rejects.get_column("reason").to_list()
    assert "['400000000', '650000000']" in reasons[0]
    assert "USD" in reasons[2]
    assert "'NoSuchD' is not defined" in reasons[3]
    assert p.rejects.get_column("target").unique().to_list() == ["financial_facts"]
    assert p.frame.select(pl.struct(schemas.FINANCIAL_FACT_KEY).is_unique().all()).item()


def test_text_facts_are_kept_as_text(fixtures_dir: Path) -> None:
    p = _parse(fixtures_dir, INDAS)
    name = p.frame.filter(pl.col("concept") == "NameOfTheCompany").row(0, named=True)
    assert (name["value"], name["value_text"], name["unit"]) == (None, "Demo Company Limited", None)


def test_instant_context(fixtures_dir: Path) -> None:
    p = _parse(fixtures_dir, INDAS)
    inst = p.frame.filter(pl.col("period_kind") == "instant").row(0, named=True)
    assert (inst["concept"], inst["period_start"], inst["period_end"], inst["value"]) == (
        "SegmentLiabilities", None, dt.date(2023, 12, 31), 7e8,
    )  # fmt: skip


def test_bank_with_undefined_base_contexts(fixtures_dir: Path) -> None:
    p = _parse(fixtures_dir, BANK)
    q = _facts(p)
    assert q == {
        "interest_earned": 70e9, "other_income": 10e9, "total_income": 80e9, "interest_expended": 40e9,
        "operating_expenses": 15e9, "total_expenses": 55e9, "operating_profit": 25e9, "provisions": 5e9,
        "profit_before_tax": 20e9, "tax_expense": 5e9, "net_profit": 15e9, "eps_basic": 20.0,
        "gross_npa": 30e9, "net_npa": 8e9, "gross_npa_ratio": 0.0126, "net_npa_ratio": 0.0031,
    }  # fmt: skip
    row = p.frame.filter(pl.col("field") == "net_profit", pl.col("period_kind") == "quarter").row(
        0, named=True
    )
    # OneD is never defined: the filing states its end; the quarter column starts 3 months back
    assert (row["period_start"], row["period_end"], row["period_source"]) == (
        dt.date(2023, 10, 1), dt.date(2023, 12, 31), "reporting_period_end_and_quarter",
    )  # fmt: skip
    ytd = p.frame.filter(pl.col("field") == "net_profit", pl.col("period_kind") == "ytd").row(0, named=True)
    assert (ytd["period_start"], ytd["value"], ytd["period_source"]) == (
        dt.date(2023, 4, 1), 44e9, "reporting_period_end_and_fy_start",
    )  # fmt: skip
    npa = p.frame.filter(pl.col("field") == "net_npa_ratio").row(0, named=True)
    assert npa["unit"] is None  # filed without a unitRef: the number is kept, the unit is not invented
    assert p.rejects.select("source_row", "rule").rows() == [(21, "parse"), (26, "missing_context")]
    assert "Treasury" in p.rejects.get_column("reason")[0]  # a label filed with unit INR
    assert "'OneI'" in p.rejects.get_column("reason")[1]  # undefined instant: no date is guessed


def test_whole_file_quarantine_for_malformed_xml_and_missing_flags(fixtures_dir: Path) -> None:
    for name, rule in (("truncated.xml", "malformed_xml"), ("no_nature.xml", "no_consolidation_flag")):
        p = _parse(fixtures_dir, name)
        assert (p.rows_total, p.frame.height, p.rejects.height) == (1, 0, 1)
        assert p.rejects.get_column("rule").to_list() == [rule]
        assert p.rejects.get_column("source_row").to_list() == [None]
        assert p.frame.columns == list(schemas.FINANCIAL_FACTS)


def test_missing_entity_quarantines_the_file() -> None:
    data = (
        b'<xbrli:xbrl xmlns:xbrli="http://www.xbrl.org/2003/instance" '
        b'xmlns:f="http://www.bseindia.com/xbrl/fin/2020-03-31/in-bse-fin">'
        b'<f:NatureOfReportStandaloneConsolidated contextRef="OneD">Standalone'
        b"</f:NatureOfReportStandaloneConsolidated></xbrli:xbrl>"
    )
    p = READER.parse("x.xml", data, sha256="0" * 64)
    assert p.rejects.get_column("rule").to_list() == ["missing_entity"]


def test_not_xbrl_raises_schema_drift() -> None:
    with pytest.raises(SchemaDriftError, match="root element"):
        READER.parse("x.xml", b"<html><body>Service unavailable</body></html>", sha256="0" * 64)
    assert not READER.sniff("x.xml", "<html><body>")


def test_stdlib_parser_gives_the_same_frame(fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _parse(fixtures_dir, INDAS)
    monkeypatch.setattr(xbrl, "_xml_parser", lambda: ("xml.etree.ElementTree", ET.fromstring))
    plain = _parse(fixtures_dir, INDAS)
    assert plain.frame.equals(fast.frame)
    assert plain.rejects.drop("quarantined_at").equals(fast.rejects.drop("quarantined_at"))


def test_file_name_conventions() -> None:
    assert broadcast_from_name("infy/31Jan2025_1845_INDAS_1_2_31012025064516.xml") == dt.datetime(
        2025, 1, 31, 13, 15, tzinfo=dt.UTC
    )
    assert broadcast_from_name("02Aug2018_0000_INDAS_1_2_25072018032005_WEB.xml") is None  # placeholder
    assert broadcast_from_name("INDAS_1_2_31012025064516.xml") is None
    assert nse_xbrl_name("hdfcbank/09Sep2019_1231_BANKING_46085_123671_22072019025254_WEB_2.xml") == (
        "BANKING_46085_123671_22072019025254_WEB_2.xml"  # NSE's own name for a second file
    )
    assert nse_xbrl_name("17Oct2023_1950_NBFC_INDAS_97623_956691_17102023074954.xml") == (
        "NBFC_INDAS_97623_956691_17102023074954.xml"
    )


def test_canonical_table_maps_each_concept_once() -> None:
    concepts = [c for cs in CANONICAL.values() for c in cs]
    assert len(concepts) == len(set(concepts))
    assert {"net_profit", "net_profit_owners", "eps_basic", "eps_diluted", "face_value"} <= set(CANONICAL)


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 1)))
def test_quarter_start_spans_three_calendar_months(day: dt.date) -> None:
    month_end = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    start = xbrl._quarter_start(month_end)
    assert start is not None
    assert start.day == 1
    assert (month_end.year * 12 + month_end.month) - (start.year * 12 + start.month) == 2
    if day != month_end:
        assert xbrl._quarter_start(day) is None


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
def test_name_time_is_never_after_the_true_time_plus_a_minute(local: dt.datetime) -> None:
    name = local.strftime("%d%b%Y_%H%M") + "_INDAS_1_2_3.xml"
    got = broadcast_from_name(name)
    if local.strftime("%H%M") == "0000":
        assert got is None
        return
    assert got is not None
    true_utc = local.replace(tzinfo=xbrl.IST).astimezone(dt.UTC)
    assert got <= true_utc < got + dt.timedelta(minutes=1)
