"""Filing figures: long XBRL facts to one wide row per filing and period, point-in-time history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.errors import DataError
from earnest.events import fundamentals as F
from earnest.sources import xbrl
from earnest.sources.registry import read_bytes
from earnest.store.base import IngestBatch

UTC = dt.UTC
GOOD = "good/15Jan2024_1605_INDAS_910001_910002_15012024043001.xml"


def parse(path: Path) -> pl.DataFrame:
    [parsed] = read_bytes(path.name, path.read_bytes())
    assert parsed.rejects.height == 0
    return parsed.frame


def fact(sha: str, field: str | None, value: float | None, **over: Any) -> dict[str, Any]:
    """One financial_facts row with sensible defaults (quarter Oct-Dec 2023, consolidated FIXCO)."""
    row: dict[str, Any] = {
        "symbol": "FIXCO",
        "entity_id": "FIXCO",
        "consolidation": "consolidated",
        "period_kind": "quarter",
        "period_start": dt.date(2023, 10, 1),
        "period_end": dt.date(2023, 12, 31),
        "period_source": "context",
        "concept": field or "SomethingElse",
        "field": field,
        "dimension": "",
        "value": value,
        "value_text": None if value is None else str(value),
        "unit": "INR",
        "decimals": -5,
        "context_id": "OneD",
        "xbrl_name": f"INDAS_{sha}.xml",
        "xbrl_sha256": sha,
        "broadcast_time": dt.datetime(2024, 1, 15, 10, 35, tzinfo=UTC),
        "knowledge_time": dt.datetime(2024, 1, 15, 10, 36, tzinfo=UTC),
        "source_file": f"15Jan2024_1605_INDAS_{sha}.xml",
        "source_row": 1,
    }
    row.update(over)
    return row


def facts_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return schemas.conform(pl.DataFrame(rows, infer_schema_length=None), schemas.FINANCIAL_FACTS)


def test_fields_are_the_readers_canonical_fields() -> None:
    assert tuple(xbrl.CANONICAL) == F.FIELDS
    assert set(xbrl.CANONICAL) == F.MONEY_FIELDS | F.PER_SHARE_FIELDS | F.RATIO_FIELDS
    assert not (F.MONEY_FIELDS & F.PER_SHARE_FIELDS)
    assert not (F.MONEY_FIELDS & F.RATIO_FIELDS)


def test_filing_figures_of_a_hand_made_filing(fixtures_dir: Path) -> None:
    figures = F.filing_figures(parse(fixtures_dir / "events_fundamentals" / GOOD))
    assert list(figures.schema.items()) == list(F.FIGURES.items())
    assert figures.get_column("period_kind").to_list() == ["quarter", "ytd"]
    q, ytd = figures.row(0, named=True), figures.row(1, named=True)
    assert (q["symbol"], q["consolidation"]) == ("FIXCO", "consolidated")
    assert (q["period_start"], q["period_end"]) == (dt.date(2023, 10, 1), dt.date(2023, 12, 31))
    assert (ytd["period_start"], ytd["period_end"]) == (dt.date(2023, 4, 1), dt.date(2023, 12, 31))
    assert q["revenue_from_operations"] == 10_000_000_000.0
    assert q["total_income"] == 10_200_000_000.0
    assert q["eps_basic"] == 15.0
    assert ytd["eps_basic"] == 43.5
    assert ytd["net_profit"] == 4_350_000_000.0
    # not filed: null, never zero
    assert q["interest_earned"] is None
    assert q["net_profit_owners"] is None
    assert q["exceptional_items"] is None
    # file name 15Jan2024_1605 IST = 10:35 UTC; known one minute later
    assert q["broadcast_time"] == dt.datetime(2024, 1, 15, 10, 35, tzinfo=UTC)
    assert q["knowledge_time"] == dt.datetime(2024, 1, 15, 10, 36, tzinfo=UTC)
    assert q["xbrl_name"] == "INDAS_910001_910002_15012024043001.xml"


def test_dimensional_and_fieldless_facts_are_not_figures() -> None:
    facts = facts_frame(
        [
            fact("a", "net_profit", 5.0),
            fact("a", "net_profit", 999.0, dimension="SegmentAxis=Retail"),
            fact("a", None, 123.0),
            fact("a", "eps_basic", None),  # nil fact: no value
        ]
    )
    figures = F.filing_figures(facts)
    assert figures.height == 1
    assert figures.item(0, "net_profit") == 5.0
    assert figures.item(0, "eps_basic") is None
    assert figures.item(0, "revenue_from_operations") is None


def test_one_row_per_filing_and_period_sorted_by_time() -> None:
    later = dt.datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    facts = facts_frame(
        [
            fact("b", "net_profit", 7.0, knowledge_time=later, broadcast_time=later),
            fact("a", "net_profit", 5.0),
            fact("a", "net_profit", 20.0, period_kind="ytd", period_start=dt.date(2023, 4, 1)),
        ]
    )
    figures = F.filing_figures(facts)
    assert figures.select("xbrl_sha256", "period_kind", "net_profit").rows() == [
        ("a", "quarter", 5.0),
        ("b", "quarter", 7.0),
        ("a", "ytd", 20.0),
    ]


def test_the_same_field_twice_in_a_filing_period_is_an_error() -> None:
    facts = facts_frame([fact("a", "net_profit", 5.0), fact("a", "net_profit", 6.0, concept="Other")])
    with pytest.raises(DataError, match="reports net_profit 2 times"):
        F.filing_figures(facts)


def test_a_frame_that_is_not_facts_is_an_error() -> None:
    with pytest.raises(DataError, match="lacks column"):
        F.filing_figures(pl.DataFrame({"symbol": ["X"]}))


def test_listing_times_override_the_file_name_time() -> None:
    facts = facts_frame(
        [
            fact("a", "net_profit", 5.0, broadcast_time=None, knowledge_time=None),
            fact("b", "net_profit", 6.0),
        ]
    )
    t1 = dt.datetime(2024, 1, 15, 10, 35, 42, tzinfo=UTC)
    t0 = dt.datetime(2024, 1, 15, 10, 30, 1, tzinfo=UTC)
    listings = schemas.conform(
        pl.DataFrame(
            {
                "xbrl_name": ["INDAS_a.xml", "INDAS_a.xml", "INDAS_zzz.xml"],
                "broadcast_time": [t1, t0, t1],
                "knowledge_time": [t1, t0, t1],
            }
        ),
        schemas.RESULTS_LISTINGS,
    )
    out = F.filing_figures(F.with_listing_times(facts, listings))
    times = dict(zip(out["xbrl_sha256"], out["knowledge_time"], strict=True))
    assert times["a"] == t0  # the earliest listing time of the file
    assert times["b"] == dt.datetime(2024, 1, 15, 10, 36, tzinfo=UTC)  # not listed: keeps its own


def test_load_figures_reads_the_store(duckdb_store: Any, fixtures_dir: Path) -> None:
    facts = parse(fixtures_dir / "events_fundamentals" / GOOD)
    other = facts.with_columns(
        pl.lit("OTHERCO").alias("symbol"),
        pl.lit("f" * 64).alias("xbrl_sha256"),
        pl.lit("X.xml").alias("xbrl_name"),
    )
    for frame in (facts, other):
        sha = frame.item(0, "xbrl_sha256")
        duckdb_store.ingest(
            IngestBatch(sha256=sha, file_name="x.xml", kind="nse_xbrl_results", rows_total=frame.height,
                        tables={"financial_facts": frame})
        )  # fmt: skip
    t = dt.datetime(2024, 1, 15, 10, 34, 5, tzinfo=UTC)
    listing = schemas.conform(
        pl.DataFrame(
            {
                "filing_key": ["NSE:1"],
                "exchange": ["NSE"],
                "symbol": ["FIXCO"],
                "period_from": [dt.date(2023, 10, 1)],
                "period_to": [dt.date(2023, 12, 31)],
                "broadcast_source": ["broadCastDate"],
                "source_file": ["fixco.json"],
                "xbrl_name": ["INDAS_910001_910002_15012024043001.xml"],
                "broadcast_time": [t],
                "knowledge_time": [t],
            }
        ),
        schemas.RESULTS_LISTINGS,
    )
    duckdb_store.ingest(
        IngestBatch(sha256="1" * 64, file_name="l.json", kind="nse_results", rows_total=1,
                    tables={"results_listings": listing})
    )  # fmt: skip
    figures = F.load_figures(duckdb_store, symbols=["fixco"])
    assert figures.height == 2
    assert set(figures["symbol"]) == {"FIXCO"}
    assert figures["knowledge_time"].to_list() == [t, t]
    assert figures.equals(F.filing_figures(F.with_listing_times(facts, listing)).select(figures.columns))
    own = F.load_figures(duckdb_store, symbols=["FIXCO"], listing_times=False)
    assert own["knowledge_time"].to_list() == [dt.datetime(2024, 1, 15, 10, 36, tzinfo=UTC)] * 2
    assert F.load_figures(duckdb_store).height == 4


def test_quarter_index_counts_calendar_quarters() -> None:
    ends = pl.Series(
        [dt.date(2023, 3, 31), dt.date(2023, 6, 30), dt.date(2023, 12, 31), dt.date(2024, 3, 31)]
    )
    q = pl.select(F.quarter_index(pl.lit(ends))).to_series().to_list()
    assert q == [2023 * 4, 2023 * 4 + 1, 2023 * 4 + 3, 2024 * 4]


def _figs(rows: list[tuple[str, dt.date, int, float]]) -> pl.DataFrame:
    """(sha, period_end, knowledge day in Jan..., net_profit) quarter rows of one company."""
    frame = pl.DataFrame(
        {
            "xbrl_name": [r[0] for r in rows],
            "xbrl_sha256": [r[0] for r in rows],
            "symbol": "FIXCO",
            "consolidation": "consolidated",
            "period_kind": "quarter",
            "period_end": [r[1] for r in rows],
            "knowledge_time": [dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(days=r[2]) for r in rows],
            "net_profit": [r[3] for r in rows],
        }
    )
    return schemas.conform(frame, F.FIGURES)


def test_latest_known_sees_only_versions_known_by_then() -> None:
    q3, q2, q1 = dt.date(2023, 12, 31), dt.date(2023, 9, 30), dt.date(2023, 6, 30)
    figures = _figs(
        [
            ("q1", q1, 0, 1.0),
            ("q2", q2, 1, 2.0),
            ("q2_restated", q2, 5, 2.5),  # filed after q3 was known
            ("q3", q3, 3, 3.0),
            ("q3_late", q3, 9, 3.3),
        ]
    )
    quarters = F.quarter_rows(figures)
    hist = F.latest_known(quarters, ["net_profit"])
    by_row = {
        quarters.item(i, "xbrl_sha256"): hist.filter(pl.col("row_id") == i).select("lag", "net_profit").rows()
        for i in range(quarters.height)
    }
    assert by_row["q3"] == [(0, 3.0), (1, 2.0), (2, 1.0)]  # the restatement came later
    assert by_row["q3_late"] == [(0, 3.3), (1, 2.5), (2, 1.0)]
    assert by_row["q2_restated"] == [(0, 2.5), (1, 1.0)]
    assert F.latest_known(quarters, ["net_profit"], max_lag=1).filter(pl.col("lag") > 1).height == 0


def test_latest_known_breaks_time_ties_by_file_name() -> None:
    q3, q2 = dt.date(2023, 12, 31), dt.date(2023, 9, 30)
    figures = _figs([("x_WEB", q2, 1, 2.0), ("x_WEB_2", q2, 1, 2.2), ("y", q3, 3, 3.0)])
    quarters = F.quarter_rows(figures)
    hist = F.latest_known(quarters, ["net_profit"])
    row = quarters.filter(pl.col("xbrl_sha256") == "y").item(0, "row_id")
    assert hist.filter(pl.col("row_id") == row).rows() == [(row, 0, 3.0), (row, 1, 2.2)]
