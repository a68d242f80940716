"""Every real non-bhavcopy file in ../shared/data read end to end: no row lost, known values right.

Data rows are counted independently with the csv module (blank lines skipped; the header-less
``symbolchange.csv`` counts every line).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import polars as pl
import pytest

from earnest.sources import read_bytes
from earnest.sources.base import ParsedFile

# (folder glob, expected kind, has a header row)
FILES = [
    ("nse_price_band/sec_list__commit_2025-12-08.csv", "nse_price_bands", True),
    ("nse_price_band/sec_list__commit_2025-12-10.csv", "nse_price_bands", True),
    ("index_daily_yahoo/NIFTY 50.csv", "index_history", True),
    ("nse_equity_master/EQUITY_L.csv", "nse_equity_list", True),
    ("nse_equity_master/symbolchange.csv", "nse_symbol_changes", False),
    ("nifty50_daily_2000_2021/stock_metadata.csv", "metadata_csv", True),
    ("nse_pr_daily_reports/2025-12-16/bc16122025.csv", "nse_bc", True),
    ("nse_pr_daily_reports/2025-12-17/bc17122025.csv", "nse_bc", True),
]


def _data_rows(data: bytes, *, header: bool) -> int:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return sum(1 for r in rows[1 if header else 0 :] if any(c.strip() for c in r))


def _read(path: Path) -> ParsedFile:
    (parsed,) = read_bytes(path.name, path.read_bytes())
    return parsed


@pytest.mark.parametrize(("rel", "kind", "header"), FILES)
def test_every_row_accounted_for(shared_data: Path, rel: str, kind: str, header: bool) -> None:
    path = shared_data / rel
    p = _read(path)
    assert p.kind == kind
    counted = _data_rows(path.read_bytes(), header=header)
    assert p.frame.height + p.rejects.height == p.rows_total == counted
    assert p.rejects.height == 0, p.rejects.head(5).to_dicts()


def _kaggle_files(root: Path) -> list[Path]:
    return sorted(
        f for f in (root / "nifty50_daily_2000_2021").glob("*.csv") if f.name != "stock_metadata.csv"
    )


def test_every_kaggle_stock_file_reads_through_the_generic_csv(shared_data: Path) -> None:
    files = _kaggle_files(shared_data)
    assert len(files) == 41  # 40 stocks + the header-only INFRATEL.csv
    for path in files:
        p = _read(path)
        assert p.kind == "generic_csv", path.name
        counted = _data_rows(path.read_bytes(), header=True)
        assert p.frame.height + p.rejects.height == p.rows_total == counted, path.name
        assert p.rejects.height == 0, (path.name, p.rejects.head(3).to_dicts())
        assert p.meta["ignored_columns"] == "VWAP, Turnover, %Deliverble"
        assert p.frame["turnover"].null_count() == p.frame.height


def test_kaggle_infy_keeps_historical_symbols(shared_data: Path) -> None:
    p = _read(shared_data / "nifty50_daily_2000_2021" / "INFY.csv")
    assert p.frame.height == 5306
    assert p.frame["symbol"].unique().sort().to_list() == ["INFOSYSTCH", "INFY"]
    first = p.frame.row(0, named=True)
    assert (first["symbol"], first["date"], first["close"], first["prev_close"]) == (
        "INFOSYSTCH",
        dt.date(2000, 1, 3),
        15625.2,
        14467.75,
    )
    assert _read(shared_data / "nifty50_daily_2000_2021" / "INFRATEL.csv").rows_total == 0


def test_lalpathlab_bonus_in_bc_file(shared_data: Path) -> None:
    p = _read(shared_data / "nse_pr_daily_reports" / "2025-12-16" / "bc16122025.csv")
    lal = p.frame.filter(pl.col("symbol") == "LALPATHLAB", pl.col("ex_date") == dt.date(2025, 12, 19))
    assert lal.height == 6  # BE, BL, EQ, IQ, T0, TL
    assert set(lal["action_type"]) == {"bonus"}
    assert set(lal["price_factor"]) == {0.5}
    assert lal["action_id"].n_unique() == 6
    nuvama = p.frame.filter(pl.col("symbol") == "NUVAMA", pl.col("series") == "EQ").row(0, named=True)
    assert (nuvama["action_type"], nuvama["price_factor"]) == ("split", pytest.approx(0.2))


def test_price_bands_real_distribution(shared_data: Path) -> None:
    p = _read(shared_data / "nse_price_band" / "sec_list__commit_2025-12-08.csv")
    assert p.session_date == dt.date(2025, 12, 8)
    counts = dict(p.frame["band_pct"].value_counts().iter_rows())
    # From the PROVENANCE.md distribution: 20 -> 2,279; 5 -> 391; 10 -> 173; No Band -> 209; 2 -> 32.
    assert counts == {20.0: 2279, 5.0: 391, 10.0: 173, None: 209, 2.0: 32}


def test_nifty_50_history(shared_data: Path) -> None:
    p = _read(shared_data / "index_daily_yahoo" / "NIFTY 50.csv")
    assert p.frame.height == 4954
    first = p.frame.row(0, named=True)
    assert (first["index_name"], first["date"], first["close"]) == ("NIFTY 50", dt.date(2000, 1, 3), 1592.2)


def test_equity_master_and_symbol_changes(shared_data: Path) -> None:
    eq = _read(shared_data / "nse_equity_master" / "EQUITY_L.csv")
    assert eq.frame.height == 2397
    assert eq.frame["instrument_id"].n_unique() == 2397
    micro = eq.frame.filter(pl.col("symbol") == "20MICRONS").row(0, named=True)
    assert (micro["isin"], micro["listing_date"]) == ("INE144J01027", dt.date(2008, 10, 6))
    ch = _read(shared_data / "nse_equity_master" / "symbolchange.csv")
    lwam = ch.frame.filter(pl.col("new_symbol") == "360ONE").row(0, named=True)
    assert (lwam["old_symbol"], lwam["change_date"]) == ("IIFLWAM", dt.date(2023, 1, 23))
