"""The real exchange files in ../shared/data through the whole ingest pipeline (marked realdata)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from earnest.config import QualitySettings
from earnest.marketdata.adjust import adjusted_bars
from earnest.marketdata.checks import unexplained_jumps
from earnest.store import open_store
from earnest.workflows.ingest import ingest_paths

PRICE_FOLDERS = (
    "nse_bhavcopy_legacy",
    "nse_sec_bhavdata_full",
    "nse_fo_bhavcopy_udiff",
    "bse_bhavcopy_legacy",
)
OTHER_FILES = (
    "nse_price_band/sec_list__commit_2025-12-08.csv",
    "nse_price_band/sec_list__commit_2025-12-10.csv",
    "index_daily_yahoo/NIFTY 50.csv",
    "nse_equity_master/EQUITY_L.csv",
    "nse_equity_master/symbolchange.csv",
    "nse_pr_daily_reports/2025-12-16/bc16122025.csv",
    "nse_pr_daily_reports/2025-12-17/bc17122025.csv",
)


@pytest.mark.slow
def test_every_real_file_is_stored_or_quarantined(shared_data: Path, tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 'e.duckdb'}")
    paths = [shared_data / f for f in PRICE_FOLDERS] + [shared_data / f for f in OTHER_FILES]
    report = ingest_paths(store, paths, settings=QualitySettings(), run_reconcile=False)
    assert not report.failed, [(f.name, f.message) for f in report.failed]
    unrecognised = [f.name for f in report.files if f.status == "unrecognised"]
    assert unrecognised == [], unrecognised
    ingested = [f for f in report.files if f.status == "ingested"]
    assert len(ingested) >= 8 + 31 + 3 + 2 + len(OTHER_FILES)
    for f in ingested:
        assert f.rows_stored + f.rows_merged + f.rows_quarantined == f.rows_total, f
    q = store.read("quarantine")
    assert q.filter(pl.col("reason").is_null() | (pl.col("reason") == "")).is_empty()
    # 2024-07-05 is in both the legacy bhavcopy and sec_bhavdata_full: the second merges, never conflicts
    day = store.bars(start=dt.date(2024, 7, 5), end=dt.date(2024, 7, 5), exchange="NSE")
    assert day.filter(pl.col("symbol") == "INFY").height == 1
    assert day.filter(pl.col("symbol") == "INFY").item(0, "delivery_qty") is not None
    assert store.count("derivative_bars") > 100_000
    store.close()


@pytest.mark.slow
def test_kaggle_nifty50_generic_csv_finds_splits_and_bonuses(shared_data: Path, tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 'k.duckdb'}")
    folder = shared_data / "nifty50_daily_2000_2021"
    masters = [
        shared_data / "nse_equity_master" / "EQUITY_L.csv",
        shared_data / "nse_equity_master" / "symbolchange.csv",
    ]
    report = ingest_paths(store, [*masters, folder], settings=QualitySettings())
    assert not report.failed, [(f.name, f.message) for f in report.failed]
    acts = store.read("corporate_actions")
    inferred = acts.filter(pl.col("source") == "inferred")

    def found(symbol: str, day: dt.date, factor: float) -> bool:
        hit = inferred.filter((pl.col("symbol") == symbol) & (pl.col("ex_date") == day))
        return hit.height == 1 and abs(hit.item(0, "price_factor") - factor) < 1e-9

    assert found("INFY", dt.date(2014, 12, 2), 0.5)
    assert found("INFY", dt.date(2015, 6, 15), 0.5)
    assert found("INFY", dt.date(2018, 9, 4), 0.5)
    assert found("SBIN", dt.date(2014, 11, 20), 0.1)
    # old tickers resolve to the same instrument: INFOSYSTCH rows and INFY rows share one ISIN
    infy = store.bars(symbols=["INFOSYSTCH", "INFY"])
    assert infy.get_column("instrument_id").n_unique() == 1
    adj = adjusted_bars(store, instrument_ids=infy.get_column("instrument_id").unique().to_list())
    assert unexplained_jumps(adj).is_empty()
    store.close()
