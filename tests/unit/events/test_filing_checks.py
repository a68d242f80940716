"""Filing checks: each rule on a hand-made XBRL filing that trips exactly that rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from earnest.core import schemas
from earnest.events import filing_checks as C
from earnest.events.fundamentals import filing_figures
from earnest.sources.registry import read_bytes

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def load(folder: Path) -> pl.DataFrame:
    frames = []
    for path in sorted(folder.glob("*.xml")):
        [parsed] = read_bytes(path.name, path.read_bytes())
        assert parsed.rejects.height == 0, parsed.rejects
        frames.append(parsed.frame)
    return pl.concat(frames)


@pytest.fixture
def here(fixtures_dir: Path) -> Path:
    return fixtures_dir / "events_fundamentals"


def test_a_clean_filing_passes_every_rule(here: Path) -> None:
    facts = load(here / "good")
    quarantine = C.check_filings(facts, now=NOW)
    assert quarantine.height == 0
    assert dict(quarantine.schema) == dict(schemas.QUARANTINE)
    figures, q = C.checked_figures(facts, now=NOW)
    assert figures.equals(filing_figures(facts))
    assert q.height == 0


# rule -> (file stem that is to blame, [(field, source_row)], words the reason must contain)
EXPECTED: dict[str, tuple[str, list[tuple[str | None, int | None]], list[str]]] = {
    "unit_mismatch": ("910003", [("eps_basic", 17)], ["unit INR", "expected INR/shares", "15.00"]),
    "scale_slip": (
        "910023",
        [("revenue_from_operations", 6)],
        ["10000000000000.0", "9500000000.0", "1052.6"],
    ),
    "quarter_length": ("910005", [("period_start", None)], ["2023-11-01", "60 days"]),
    "quarter_equals_ytd": (
        "910007",
        [("net_profit", 14), ("revenue_from_operations", 6), ("total_income", 8)],
        ["the same as for the year to date 2023-04-01..2023-12-31"],
    ),
    "total_income_mismatch": ("910009", [("total_income", 8)], ["10200000000.0", "10210000000.0"]),
    "net_profit_mismatch": (
        "910011",
        [("net_profit", 14)],
        ["560000000.0", "= 1440000000.0", "1500000000.0"],
    ),
    "missing_quarter": ("910013", [(None, None)], ["no quarter figures", "ytd ending 2023-12-31"]),
    "missing_field": ("910015", [("eps_basic", None)], ["reports no eps_basic"]),
    "no_knowledge_time": ("910017", [("knowledge_time", None)], ["0000", "results listing"]),
}


def test_every_rule_has_a_fixture() -> None:
    assert set(EXPECTED) == set(C.RULES)


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_each_fixture_trips_exactly_its_rule(here: Path, rule: str) -> None:
    facts = load(here / rule)
    stem, blamed, words = EXPECTED[rule]
    quarantine = C.check_filings(facts, now=NOW)
    assert set(quarantine["rule"]) == {rule}
    assert quarantine["source_file"].str.contains(f"_{stem}_").all()
    assert quarantine.select("field", "source_row").rows() == blamed
    assert (quarantine["target"] == C.TARGET).all()
    assert (quarantine["quarantined_at"] == NOW).all()
    bad_sha = facts.filter(pl.col("source_file").str.contains(f"_{stem}_")).item(0, "xbrl_sha256")
    assert set(quarantine["source_sha256"]) == {bad_sha}
    for word in words:
        assert quarantine["reason"].str.contains(word, literal=True).any(), (
            word,
            quarantine["reason"].to_list(),
        )
    assert quarantine["raw"].str.starts_with("FIXCO consolidated").all()
    figures, again = C.checked_figures(facts, now=NOW)
    assert again.equals(quarantine)
    assert bad_sha not in set(figures["xbrl_sha256"])
    # nothing silently dropped: every filing is in exactly one of figures and quarantine
    assert set(figures["xbrl_sha256"]) | {bad_sha} == set(facts["xbrl_sha256"])


def test_source_row_points_at_the_blamed_fact(here: Path) -> None:
    facts = load(here / "unit_mismatch")
    row = C.check_filings(facts).row(0, named=True)
    blamed = facts.filter(pl.col("source_row") == row["source_row"]).row(0, named=True)
    assert (blamed["field"], blamed["unit"], blamed["period_kind"]) == ("eps_basic", "INR", "quarter")


def fact(field: str, value: float, decimals: int | None = -5, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "symbol": "FIXCO",
        "consolidation": "standalone",
        "period_kind": "quarter",
        "period_start": dt.date(2024, 1, 1),
        "period_end": dt.date(2024, 3, 31),
        "concept": field,
        "field": field,
        "dimension": "",
        "value": value,
        "value_text": str(value),
        "unit": "pure" if field.endswith("_ratio") else "INR/shares" if field.startswith("eps") else "INR",
        "decimals": decimals,
        "xbrl_name": "F.xml",
        "xbrl_sha256": "s",
        "knowledge_time": dt.datetime(2024, 4, 20, tzinfo=dt.UTC),
        "source_file": "F.xml",
        "source_row": len(field),
    }
    return {**row, **over}


def quarter(**values: float) -> list[dict[str, Any]]:
    base = {"net_profit": 70e7, "eps_basic": 7.0}
    return [fact(f, v) for f, v in {**base, **values}.items()]


def rules(rows: list[dict[str, Any]], **opts: Any) -> list[str]:
    facts = schemas.conform(pl.DataFrame(rows, infer_schema_length=None), schemas.FINANCIAL_FACTS)
    return C.check_filings(facts, options=C.CheckOptions(**opts)).get_column("rule").to_list()


def test_sums_allow_rounding_to_the_filed_precision() -> None:
    # decimals -5: each term may be off by 0.5 lakh = 50,000 rupees; three terms: 150,000
    ok = quarter(revenue_from_operations=100e7, other_income=5e7, total_income=105e7 + 150_000)
    assert rules(ok, rel_tol=0.0) == []
    off = quarter(revenue_from_operations=100e7, other_income=5e7, total_income=105e7 + 150_001)
    assert rules(off, rel_tol=0.0) == ["total_income_mismatch"]
    # the relative part: 1e-4 of the largest term (total income, 1,050,260,000) = 105,026 more
    assert rules(off, rel_tol=1e-4) == []
    assert rules(quarter(revenue_from_operations=100e7, other_income=5e7, total_income=105e7 + 255_000)) == []
    assert rules(quarter(revenue_from_operations=100e7, other_income=5e7, total_income=105e7 + 260_000)) == [
        "total_income_mismatch"
    ]


def test_banks_add_up_interest_earned() -> None:
    assert rules(quarter(interest_earned=80e7, other_income=20e7, total_income=100e7)) == []
    assert rules(quarter(interest_earned=80e7, other_income=20e7, total_income=110e7)) == [
        "total_income_mismatch"
    ]


def test_sums_with_a_missing_term_are_not_checked() -> None:
    assert rules(quarter(revenue_from_operations=100e7, total_income=300e7)) == []
    assert rules(quarter(profit_before_tax=100e7)) == []


def test_net_profit_may_match_either_profit_line() -> None:
    # continuing operations match; total profit carries a discontinued loss
    rows = quarter(
        profit_before_tax=100e7, tax_expense=30e7, profit_continuing_operations=70e7, net_profit=60e7
    )
    assert rules(rows) == []
    rows = quarter(profit_before_tax=100e7, tax_expense=30e7, net_profit=70e7)
    assert rules(rows) == []
    rows = quarter(profit_before_tax=100e7, tax_expense=30e7, net_profit=60e7)
    assert rules(rows) == ["net_profit_mismatch"]


def test_decimals_inf_gives_no_rounding_slack() -> None:
    rows = [fact(f, v, decimals=None) for f, v in {"net_profit": 7.0, "eps_basic": 1.0}.items()]
    rows += [fact("revenue_from_operations", 100.0, None), fact("other_income", 5.0, None)]
    rows += [fact("total_income", 105.5, None)]
    assert rules(rows, rel_tol=0.0) == ["total_income_mismatch"]


@pytest.mark.parametrize(
    ("field", "unit", "flagged"),
    [
        ("net_profit", "INR/shares", True),
        ("revenue_from_operations", None, True),
        ("eps_basic", "INR", True),
        ("face_value", "INR/shares", False),
        ("net_npa_ratio", None, False),
        ("net_npa_ratio", "pure", False),
        ("gross_npa_ratio", "INR", True),
    ],
)
def test_unit_expectations(field: str, unit: str | None, flagged: bool) -> None:
    rows = [r for r in quarter() if r["field"] != field] + [fact(field, 7.0, unit=unit)]
    assert rules(rows) == (["unit_mismatch"] if flagged else [])


_ENDS = [dt.date(2022, 3, 31), dt.date(2022, 6, 30), dt.date(2022, 9, 30), dt.date(2022, 12, 31),
         dt.date(2023, 3, 31), dt.date(2023, 6, 30)]  # fmt: skip


def _series(filings: list[tuple[int, float, int]]) -> list[dict[str, Any]]:
    """Quarter filings of one company: (quarter 0..5 from Q1 2022, revenue, known this many days in)."""
    rows = []
    for n, (i, rev, day) in enumerate(filings):
        end = _ENDS[i]
        start = (pl.Series([end]).dt.offset_by("-3mo").dt.month_end() + dt.timedelta(days=1)).item()
        known = dt.datetime(2022, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)
        over = {"xbrl_sha256": f"s{n}", "xbrl_name": f"F{n}.xml", "source_file": f"F{n}.xml",
                "period_start": start, "period_end": end, "knowledge_time": known}  # fmt: skip
        rows += [fact(f, v, **over) for f, v in {"net_profit": 1.0, "eps_basic": 1.0}.items()]
        rows.append(fact("revenue_from_operations", rev, **over))
    return rows


def _slips(revenues: list[float]) -> list[str]:
    return rules(_series([(i, rev, 100 * (i + 1)) for i, rev in enumerate(revenues)]))


def test_scale_slip_against_the_median_of_earlier_quarters() -> None:
    assert _slips([10e7, 11e7, 12e7, 13e7, 14e7]) == []
    assert _slips([10e7, 11e7, 12e7, 12e10, 14e7]) == ["scale_slip"]
    assert _slips([10e7, 11e7, 12e7, 12e4, 14e7]) == ["scale_slip"]
    assert _slips([10e7, 10e7, 10e7, 990e7, 10e7]) == []  # 99 times: below the factor of 100
    # the second filing has one earlier quarter only: not enough to judge, and the median of the
    # later ones' four previous quarters absorbs it
    assert _slips([10e7, 11e9, 12e7, 13e7, 14e7]) == []


def test_scale_slip_verdicts_do_not_depend_on_later_filings() -> None:
    plain = [(0, 10e7, 100), (1, 10e7, 200), (2, 10e7, 300), (3, 10e10, 400), (4, 10e7, 500)]
    facts = schemas.conform(pl.DataFrame(_series(plain), infer_schema_length=None), schemas.FINANCIAL_FACTS)
    assert C.check_filings(facts)["source_sha256"].to_list() == ["s3"]
    # later restatements of quarters 1 and 2 at the slipped scale would hide the slip if they leaked
    restated = [*plain, (1, 10e10, 600), (2, 10e10, 700)]
    facts = schemas.conform(
        pl.DataFrame(_series(restated), infer_schema_length=None), schemas.FINANCIAL_FACTS
    )
    assert C.check_filings(facts)["source_sha256"].to_list() == ["s3"]
