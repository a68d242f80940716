"""The results readers on the real NSE files in ../shared/data (see the PROVENANCE.md files there).

* ``nse_xbrl_financial_results/<symbol>/*.xml``: 773 XBRL instances of 15 companies.
* ``nse_xbrl_financial_results/<symbol>/_extracted_<symbol>.csv``: the source repo's own extract,
  one row per quarter. Its units, worked out here: ``DateOfEndOfReportingPeriod`` is ``DDMonYYYY``,
  ``ProfitLossForThePeriod`` is rupees, ``BasicEarningsPerShareAfterExtraordinaryItems`` rupees per share,
  ``NumberOfSharesOutstanding`` a share count. It does not say standalone or consolidated (each row
  matches exactly one filing: 312 standalone, 89 consolidated). Its profit is the profit from
  continuing operations (``ProfitLossForPeriodFromContinuingOperations``; banks: from ordinary
  activities after tax), which equals the total profit in 340 of the 401 rows; its EPS is the total or
  the continuing-operations EPS of the same filing.
* ``nse_financial_results_calendar/*.json``: 66 listings, 7,968 records.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from earnest.core.hashing import sha256_bytes
from earnest.sources.base import ParsedFile
from earnest.sources.nse_results import NseResultsListingReader
from earnest.sources.xbrl import NseXbrlResultsReader


@pytest.fixture(scope="module")
def xbrl_files(shared_data: Path) -> list[ParsedFile]:
    reader = NseXbrlResultsReader()
    out = []
    for path in sorted((shared_data / "nse_xbrl_financial_results").glob("*/*.xml")):
        data = path.read_bytes()
        assert reader.sniff(path.name, data[:4096].decode("utf-8", "replace")), path
        out.append(reader.parse(f"{path.parent.name}/{path.name}", data, sha256=sha256_bytes(data)))
    return out


@pytest.fixture(scope="module")
def facts(xbrl_files: list[ParsedFile]) -> pl.DataFrame:
    return pl.concat([p.frame for p in xbrl_files])


@pytest.fixture(scope="module")
def listings(shared_data: Path) -> list[ParsedFile]:
    reader = NseResultsListingReader()
    out = []
    for path in sorted((shared_data / "nse_financial_results_calendar").glob("*.json")):
        data = path.read_bytes()
        assert reader.sniff(path.name, data[:4096].decode()), path
        out.append(reader.parse(path.name, data, sha256=sha256_bytes(data)))
    return out


def test_every_xbrl_file_is_read_or_quarantined_with_a_reason(xbrl_files: list[ParsedFile]) -> None:
    assert len(xbrl_files) == 773
    rejects = pl.concat([p.rejects for p in xbrl_files])
    whole = rejects.filter(pl.col("source_row").is_null())
    assert whole.height == 0  # every file is readable XBRL with an entity and a consolidation flag
    assert all(p.frame.height > 0 for p in xbrl_files)
    assert rejects.get_column("reason").str.len_chars().min() > 10
    # fact-level quarantine: undefined instant contexts, conflicting cash-flow facts, labels filed as INR
    assert set(rejects.get_column("rule").unique()) <= {"missing_context", "conflicting_facts", "parse"}
    assert rejects.filter(pl.col("rule") == "parse").get_column("field").unique().sort().to_list() == [
        "DescriptionOfOperatingExpenses",
        "DescriptionOfReportableSegment",
    ]


def test_every_filing_has_its_headline_numbers(facts: pl.DataFrame) -> None:
    q = facts.filter(pl.col("period_kind") == "quarter", pl.col("field").is_in(["net_profit", "eps_basic"]))
    per_file = q.group_by("source_file").agg(pl.col("field").n_unique())
    assert per_file.height == 772
    assert per_file.get_column("field").min() == 2
    # the one exception: BAJFINANCE's FY2018 Q4 file (old non-Ind-AS format) uses OneD/FourD without
    # defining them and states no reporting period, so those facts are quarantined, not guessed
    lone = facts.filter(~pl.col("source_file").is_in(per_file.get_column("source_file").implode()))
    assert lone.get_column("source_file").unique().to_list() == [
        "bajfinance/21Jun2018_1801_NONINDAS_35272_9888_17052018060424_WEB.xml"
    ]
    banks = facts.filter(
        pl.col("symbol").is_in(["HDFCBANK", "ICICIBANK", "SBIN"]), pl.col("period_kind") == "quarter"
    )
    bank_fields = set(banks.get_column("field").drop_nulls().unique())
    assert {"interest_earned", "interest_expended", "operating_profit", "provisions", "gross_npa", "net_npa",
            "gross_npa_ratio", "net_npa_ratio"} <= bank_fields  # fmt: skip
    kinds = facts.group_by("consolidation", "period_kind").len()
    assert kinds.height == 6  # standalone and consolidated x quarter, ytd, instant


def test_every_listing_record_is_a_row_or_quarantined(listings: list[ParsedFile]) -> None:
    assert len(listings) == 66
    assert sum(p.rows_total for p in listings) == 7968
    rows = pl.concat([p.frame for p in listings])
    rejects = pl.concat([p.rejects for p in listings])
    assert rows.height + rejects.height == 7968
    # 596 records have no broadCastDate; 72 of them still have a filingDate, 524 have no time at all
    assert rejects.get_column("rule").unique().to_list() == ["no_broadcast_time"]
    assert rejects.height == 524
    assert rows.get_column("broadcast_source").value_counts().sort("broadcast_source").rows() == [
        ("broadCastDate", 7372),
        ("filingDate", 72),
    ]
    assert rows.get_column("filing_key").is_unique().all()
    assert rows.get_column("knowledge_time").null_count() == 0


def test_every_xbrl_file_is_in_the_listing_and_its_name_time_is_conservative(
    facts: pl.DataFrame, listings: list[ParsedFile]
) -> None:
    rows = pl.concat([p.frame for p in listings]).select(
        "xbrl_name", "broadcast_time", "symbol", "consolidated"
    )
    files = facts.group_by("source_file").agg(
        pl.first("xbrl_name"),
        pl.first("knowledge_time").alias("name_known"),
        pl.first("symbol").alias("sym"),
        (pl.first("consolidation") == "consolidated").alias("cons"),
    )
    joined = files.join(rows, on="xbrl_name", how="left")
    assert joined.get_column("broadcast_time").null_count() == 0
    assert (joined.get_column("sym") == joined.get_column("symbol")).all()
    assert (joined.get_column("cons") == joined.get_column("consolidated")).all()
    timed = joined.filter(pl.col("name_known").is_not_null())
    assert timed.height == 770  # three names carry the 0000 placeholder and get no time
    # the name's minute + 1 min is never before NSE's broadcast (no look-ahead) and at most 60 s after
    lag = (timed.get_column("name_known") - timed.get_column("broadcast_time")).dt.total_seconds()
    assert lag.min() >= 0
    assert lag.max() <= 60


def _extracted(shared_data: Path) -> pl.DataFrame:
    parts = []
    for path in sorted((shared_data / "nse_xbrl_financial_results").glob("*/_extracted_*.csv")):
        frame = pl.read_csv(path).with_columns(
            pl.col("DateOfEndOfReportingPeriod").str.to_date("%d%b%Y").alias("period_end"),
            pl.lit(path.parent.name).alias("company"),
        )
        parts.append(frame)
    return pl.concat(parts)


def _close(a: str, b: str) -> pl.Expr:
    return ((pl.col(a) - pl.col(b)).abs() <= 1e-9 * pl.col(b).abs() + 1e-9).fill_null(False)


def test_net_profit_and_eps_agree_with_the_extracted_csv(shared_data: Path, facts: pl.DataFrame) -> None:
    fields = [
        "net_profit",
        "net_profit_owners",
        "profit_continuing_operations",
        "eps_basic",
        "eps_basic_continuing",
    ]
    per_filing = (
        facts.filter(pl.col("period_kind") == "quarter", pl.col("field").is_in(fields))
        .with_columns(pl.col("source_file").str.extract(r"^([^/]+)/").alias("company"))
        .pivot(on="field", index=["company", "source_file", "period_end"], values="value")
    )
    csv = _extracted(shared_data)
    assert csv.height == 401
    profit, eps = "ProfitLossForThePeriod", "BasicEarningsPerShareAfterExtraordinaryItems"
    joined = csv.join(per_filing, on=["company", "period_end"], how="left").with_columns(
        pl.any_horizontal(_close(f, profit) for f in fields[:3]).alias("profit_ok"),
        pl.any_horizontal(_close(f, eps) for f in fields[3:]).alias("eps_ok"),
    )
    # a CSV row agrees when one filing (standalone or consolidated) for that quarter has both numbers
    rate = (
        joined.group_by("company", "period_end")
        .agg(
            (pl.col("profit_ok") & pl.col("eps_ok")).any().alias("ok"),
            pl.col("source_file").count().alias("n"),
        )
        .group_by("company")
        .agg(pl.col("ok").mean().alias("rate"), (pl.col("n") > 0).all().alias("covered"))
    )
    assert rate.height == 15
    assert rate.get_column("covered").all()
    assert rate.get_column("rate").min() == 1.0, rate.filter(pl.col("rate") < 1).to_dicts()
