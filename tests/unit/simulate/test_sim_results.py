"""The simulated market's results listings and XBRL filings, read back through earnest's own readers.

The market is the shared ``SMALL`` config (60 companies over 2024; the simulator needs at least 40),
with four quarters of history before 2024 (the default is eight) to keep the files few.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from earnest.core.calendar import IST
from earnest.events import load_events
from earnest.events.filing_checks import check_filings
from earnest.simulate import SimMarket, write_market
from earnest.simulate.results import simulate_filings, write_results
from earnest.sources import read_bytes

HISTORY = 4


@dataclass(frozen=True)
class Written:
    folder: Path
    paths: list[Path]
    listings: pl.DataFrame
    facts: pl.DataFrame
    rejects: pl.DataFrame
    kinds: dict[str, str]
    truth: pl.DataFrame


@pytest.fixture(scope="module")
def written(small_market: SimMarket, tmp_path_factory: pytest.TempPathFactory) -> Written:
    folder = tmp_path_factory.mktemp("sim_results")
    write_market(small_market, folder)  # writes the results too, with the default history
    shutil.rmtree(folder / "results")  # this module checks a shorter history: write it afresh
    paths = write_results(small_market, folder, history_quarters=HISTORY)
    parsed = {path: read_bytes(path.name, path.read_bytes()) for path in paths}
    flat = [p for ps in parsed.values() for p in ps]
    return Written(
        folder=folder,
        paths=paths,
        listings=pl.concat([p.frame for p in flat if p.target == "results_listings"]),
        facts=pl.concat([p.frame for p in flat if p.target == "financial_facts"]),
        rejects=pl.concat([p.rejects for p in flat]),
        kinds={path.name: ",".join(p.kind for p in ps) for path, ps in parsed.items()},
        truth=simulate_filings(small_market, history_quarters=HISTORY),
    )


def _quarters(facts: pl.DataFrame, kind: str = "quarter") -> pl.DataFrame:
    """One row per XBRL file: its non-dimensional canonical fields of one period kind, wide."""
    keep = facts.filter(
        (pl.col("dimension") == "") & pl.col("field").is_not_null() & (pl.col("period_kind") == kind)
    )
    return keep.pivot(
        on="field",
        index=["xbrl_name", "symbol", "consolidation", "period_start", "period_end"],
        values="value",
    )


def test_every_file_reads_back_and_only_the_untimed_record_is_quarantined(written: Written) -> None:
    for path in written.paths:
        expected = "nse_results_listing" if path.suffix == ".json" else "nse_xbrl_results"
        assert written.kinds[path.name] == expected, path
    assert written.rejects.height == 1
    (reject,) = written.rejects.iter_rows(named=True)
    assert reject["rule"] == "no_broadcast_time"
    assert reject["target"] == "results_listings"
    assert written.listings.height + 1 == written.truth.height
    assert (
        written.facts.get_column("xbrl_name").n_unique()
        == written.truth.filter(pl.col("xbrl_name").is_not_null()).height
    )


def test_every_announcement_is_a_record_broadcast_at_the_planted_time_in_ist(
    written: Written, small_market: SimMarket
) -> None:
    records = [r for p in written.paths if p.suffix == ".json" for r in json.loads(p.read_text())]
    stamps = {(r["symbol"], r["toDate"], r["broadCastDate"]) for r in records}
    for row in small_market.results.iter_rows(named=True):
        local = row["announced_at"].astimezone(IST)
        key = (row["symbol"], f"{row['period_end']:%d-%b-%Y}", f"{local:%d-%b-%Y %H:%M:%S}")
        assert key in stamps, key
    # ... and it is the period's first filing: the other basis comes after, never before
    first = written.listings.group_by("symbol", "period_to").agg(pl.col("broadcast_time").min())
    joined = small_market.results.join(
        first, left_on=["symbol", "period_end"], right_on=["symbol", "period_to"], how="left"
    )
    assert (joined.get_column("broadcast_time") == joined.get_column("announced_at")).all()
    # first releases the market did not plant are the history before the simulated period
    history = written.truth.filter(pl.col("kind") == "new").join(
        small_market.results, on=["instrument_id", "period_end"], how="anti"
    )
    start = dt.datetime.combine(small_market.sessions[0], dt.time(0), IST).astimezone(dt.UTC)
    assert history.height > 0
    assert (history.get_column("broadcast_time") < start).all()


def test_xbrl_files_match_their_listing_records_and_the_planted_figures(written: Written) -> None:
    linked = written.listings.filter(pl.col("xbrl_name").is_not_null())
    files = written.facts.group_by("xbrl_name").agg(
        pl.col("symbol").first(),
        pl.col("consolidation").first(),
        pl.col("broadcast_time").first().alias("name_time"),
        pl.col("period_end").max(),
    )
    both = linked.join(files, on="xbrl_name", how="full", suffix="_xbrl")
    assert both.height == linked.height == files.height  # one XBRL per linked record and back
    assert (both.get_column("symbol") == both.get_column("symbol_xbrl")).all()
    assert (both.get_column("period_to") == both.get_column("period_end")).all()
    assert (both.get_column("consolidated") == (both.get_column("consolidation") == "consolidated")).all()
    minute = both.get_column("broadcast_time").dt.truncate("1m")
    assert (both.get_column("name_time") == minute).all()  # the file name's prefix is the broadcast
    quarter = _quarters(written.facts).join(written.truth, on="xbrl_name", how="left")
    assert quarter.height == files.height
    assert (quarter.get_column("net_profit") == quarter.get_column("net_profit_right")).all()
    assert (quarter.get_column("eps_basic") == quarter.get_column("eps_basic_right")).all()


def test_figures_add_up(written: Written) -> None:
    assert check_filings(written.facts).is_empty()  # earnest's own sums, lengths, fields, units
    q = _quarters(written.facts)
    top = pl.coalesce("revenue_from_operations", "interest_earned")
    assert q.filter(top + pl.col("other_income") != pl.col("total_income")).is_empty()
    assert q.filter(pl.col("profit_before_tax") - pl.col("tax_expense") != pl.col("net_profit")).is_empty()
    shares = pl.col("paid_up_share_capital") / pl.col("face_value")
    owners = pl.coalesce("net_profit_owners", "net_profit")
    assert q.filter((owners / shares - pl.col("eps_basic")).abs() > 0.005 + 1e-9).is_empty()
    ytd = _quarters(written.facts, "ytd")
    fy_start = pl.date(
        pl.col("period_end").dt.year() - (pl.col("period_end").dt.month() < 4).cast(pl.Int32), 4, 1
    )
    assert ytd.filter(pl.col("period_start") != fy_start).is_empty()
    first_quarter = q.filter(pl.col("period_end").dt.month() == 6).join(ytd, on="xbrl_name", suffix="_ytd")
    assert first_quarter.height > 0
    assert (first_quarter.get_column("net_profit") == first_quarter.get_column("net_profit_ytd")).all()
    later = q.filter(pl.col("period_end").dt.month() == 12).join(ytd, on="xbrl_name", suffix="_ytd")
    assert (later.get_column("total_income_ytd") > later.get_column("total_income")).all()


def test_revised_filings_come_later_with_changed_profit(written: Written) -> None:
    key = ["symbol", "period_to", "consolidated"]
    versions = written.listings.filter(pl.len().over(key) > 1).sort([*key, "broadcast_time"])
    assert versions.height >= 4  # at least two periods filed twice
    profit = _quarters(written.facts).select("xbrl_name", "net_profit", "total_income")
    for _, pair in versions.join(profit, on="xbrl_name").group_by(key):
        first, second = pair.sort("broadcast_time").iter_rows(named=True)
        assert second["broadcast_time"] - first["broadcast_time"] > dt.timedelta(days=3)
        assert second["seq_number"] > first["seq_number"]
        assert second["net_profit"] != first["net_profit"]
        assert second["total_income"] == first["total_income"]  # a tax revision


def test_one_old_format_record_without_xbrl(written: Written) -> None:
    old = written.listings.filter(pl.col("format") == "Old")
    assert old.height == 1
    (row,) = old.iter_rows(named=True)
    assert row["xbrl_name"] is None
    assert row["broadcast_source"] == "filingDate"
    assert row["period_to"] < dt.date(2008, 1, 1)


def test_simple_sue_sign_follows_the_planted_surprise(written: Written, small_market: SimMarket) -> None:
    """EPS minus the same quarter's EPS a year earlier (first releases; consolidated where filed)
    has the sign of ``surprise_z`` for at least 80% of announcements (about 90% expected: the
    drift of each company's seasonal random walk is up to 0.3 of its surprise scale). Pairs that
    straddle a split or bonus are left out: EPS as filed is not adjusted for them."""
    eps = _quarters(written.facts).join(
        written.listings.select("xbrl_name", "isin", "broadcast_time"), on="xbrl_name"
    )
    first = eps.sort("broadcast_time").group_by("isin", "consolidation", "period_end").first()
    basis = first.group_by("isin").agg((pl.col("consolidation") == "consolidated").any().alias("cons"))
    series = first.join(basis, on="isin").filter(
        (pl.col("consolidation") == "consolidated") == pl.col("cons")
    )
    ago = series.select("isin", (pl.col("period_end").dt.offset_by("1y").dt.month_end()).alias("period_end"),
                        pl.col("eps_basic").alias("eps_ago"), pl.col("broadcast_time").alias("then"))  # fmt: skip
    pairs = (
        series.join(ago, on=["isin", "period_end"])
        .join(small_market.results, left_on=["isin", "period_end"], right_on=["instrument_id", "period_end"])
        .with_columns((pl.col("eps_basic") - pl.col("eps_ago")).alias("surprise"))
    )
    moves = small_market.actions.filter(pl.col("action_type") != "dividend").select(
        "instrument_id", "ex_date"
    )
    straddle = pairs.join(moves, left_on="isin", right_on="instrument_id").filter(
        (pl.col("ex_date") > pl.col("then").dt.date())
        & (pl.col("ex_date") <= pl.col("broadcast_time").dt.date())
    )
    clean = pairs.join(straddle.select("isin", "period_end"), on=["isin", "period_end"], how="anti")
    assert clean.height >= 0.8 * small_market.results.height
    same_sign = clean.get_column("surprise").sign() == clean.get_column("surprise_z").sign()
    assert same_sign.sum() >= 0.8 * clean.height, same_sign.mean()


def test_same_market_same_files(written: Written, small_market: SimMarket, tmp_path: Path) -> None:
    again = write_results(small_market, tmp_path, history_quarters=HISTORY)
    ours = sorted(p for p in written.paths)
    assert [p.relative_to(tmp_path) for p in sorted(again)] == [p.relative_to(written.folder) for p in ours]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(sorted(again), ours, strict=True))


def test_ingested_results_give_events_at_the_planted_sessions(
    written: Written, small_market: SimMarket, duckdb_store: object
) -> None:
    """Masters, every listing and one company's XBRL files through ``earnest ingest``, then events:
    one per stored record, and every announcement's filings (both bases) first tradable at the
    session the market planted its reaction on. Prices are not needed by events and would make
    the test slow, so they are left out."""
    from earnest.store import SqlStore
    from earnest.workflows.ingest import ingest_paths

    assert isinstance(duckdb_store, SqlStore)
    results = written.folder / "results"
    some_xbrl = sorted((results / "xbrl").iterdir())[0]
    report = ingest_paths(
        duckdb_store, [written.folder / "masters", results / "listings", some_xbrl], run_reconcile=False
    )
    assert not report.failed, report.failed
    events = load_events(duckdb_store)
    assert events.height == written.listings.height
    assert events.get_column("event_id").n_unique() == events.height
    firsts = events.filter(pl.col("version") == 1).select("symbol", "period_end", "first_session")
    planted = small_market.results.join(firsts, on=["symbol", "period_end"], how="left")
    assert planted.get_column("first_session").null_count() == 0
    assert (planted.get_column("first_session") == planted.get_column("first_tradable_date")).all()
    revised = events.filter(pl.col("version") == 2)
    assert revised.height >= 2
    assert not revised.get_column("is_first_release").any()
    facts = duckdb_store.read("financial_facts")
    assert facts.height > 0
    joined = events.join(facts.select("xbrl_name").unique(), on="xbrl_name")
    assert joined.height == facts.get_column("xbrl_name").n_unique()
