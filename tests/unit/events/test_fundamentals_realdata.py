"""Every real XBRL results filing ends up in the figures or in quarantine with a reason."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from earnest.events.derived import derive_quarterly
from earnest.events.filing_checks import RULES, checked_figures
from earnest.events.fundamentals import with_listing_times
from earnest.sources.base import ParsedFile
from earnest.sources.registry import read_bytes


def _parse_all(folder: Path, pattern: str) -> list[ParsedFile]:
    return [p for path in sorted(folder.glob(pattern)) for p in read_bytes(path.name, path.read_bytes())]


@pytest.fixture(scope="module")
def filings(shared_data: Path) -> list[ParsedFile]:
    parsed = _parse_all(shared_data / "nse_xbrl_financial_results", "*/*.xml")
    assert len(parsed) > 700
    return parsed


@pytest.fixture(scope="module")
def listings(shared_data: Path, filings: list[ParsedFile]) -> pl.DataFrame:
    symbols = {p.frame.item(0, "symbol").lower() for p in filings if p.frame.height}
    folder = shared_data / "nse_financial_results_calendar"
    parsed = [p for s in sorted(symbols) for p in _parse_all(folder, f"{s}.json")]
    return pl.concat([p.frame for p in parsed])


def test_every_filing_is_in_figures_or_quarantined(
    filings: list[ParsedFile], listings: pl.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    # a file the reader rejected whole has one quarantine record and no facts
    for p in filings:
        assert p.frame.height or p.rejects.filter(pl.col("source_row").is_null()).height == 1, p.name
    facts = with_listing_times(pl.concat([p.frame for p in filings]), listings)
    figures, quarantine = checked_figures(facts)

    in_figures = set(figures["xbrl_sha256"])
    quarantined = set(quarantine["source_sha256"])
    assert not in_figures & quarantined
    assert in_figures | quarantined == set(facts["xbrl_sha256"])
    assert quarantine.filter(pl.col("reason").is_null() | (pl.col("reason") == "")).height == 0
    assert set(quarantine["rule"]) <= set(RULES)
    assert set(quarantine["source_file"]) <= {p.name for p in filings}
    # the listing dates every filing whose file name has no time
    assert "no_knowledge_time" not in set(quarantine["rule"])
    assert len(in_figures) > 0.95 * len(set(facts["xbrl_sha256"]))

    derived = derive_quarterly(figures)
    assert derived.height == figures.filter(pl.col("period_kind") == "quarter").height
    assert derived["knowledge_time"].null_count() == 0
    assert derived["sue"].drop_nulls().len() > 0
    assert derived["revenue_from_operations_yoy"].drop_nulls().len() > 0
    assert capsys.readouterr() == ("", "")


def test_without_the_listing_undated_filings_are_quarantined(filings: list[ParsedFile]) -> None:
    facts = pl.concat([p.frame for p in filings])
    undated = set(facts.filter(pl.col("knowledge_time").is_null())["xbrl_sha256"])
    figures, quarantine = checked_figures(facts)
    flagged = set(quarantine.filter(pl.col("rule") == "no_knowledge_time")["source_sha256"])
    assert flagged == undated
    assert not undated & set(figures["xbrl_sha256"])
