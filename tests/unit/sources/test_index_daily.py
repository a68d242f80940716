"""Index readers: NSE ``ind_close_all`` and single-index histories, on hand-made fixtures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.core.errors import SchemaDriftError
from earnest.sources import detect, read_bytes
from earnest.sources.index_daily import index_from_file_name


@pytest.fixture
def src(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


def test_nse_index_close(src: Path) -> None:
    f = src / "ind_close_all_16122025.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.target, p.rows_total, p.frame.height, p.rejects.height) == (
        "nse_index_close",
        "index_bars",
        5,
        3,
        2,
    )
    assert p.frame.columns == list(schemas.INDEX_BARS)
    assert p.session_date == dt.date(2025, 12, 16)
    nifty = p.frame.row(0, named=True)
    assert nifty == {
        "index_name": "NIFTY 50",
        "date": dt.date(2025, 12, 16),
        "open": 26000.50,
        "high": 26100.00,
        "low": 25900.25,
        "close": 26050.75,
        "volume": 250_000_000.0,
        "turnover": pytest.approx(25000.50 * 1e7),  # crores -> rupees
        "knowledge_time": eod_known_utc(dt.date(2025, 12, 16)),
        "source_file": "ind_close_all_16122025.csv",
        "source_row": 2,
    }
    vix = p.frame.row(2, named=True)
    assert (vix["index_name"], vix["open"], vix["close"], vix["turnover"]) == ("INDIA VIX", None, 10.5, None)
    rejects = {r["source_row"]: r for r in p.rejects.iter_rows(named=True)}
    assert rejects[5]["rule"] == "date_mismatch"  # dated 15-12-2025 in the 16 Dec file
    assert (rejects[6]["rule"], rejects[6]["field"]) == ("parse", "CLOSING INDEX VALUE")
    assert "POINTS CHANGE" in p.meta["ignored_columns"]


def test_index_history_named_by_file(src: Path) -> None:
    f = src / "NIFTY_BANK.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.rows_total, p.frame.height, p.rejects.height) == ("index_history", 4, 3, 1)
    assert set(p.frame["index_name"]) == {"NIFTY BANK"}
    assert p.frame["close"].to_list() == [48100.25, 47900.0, 47950.5]
    assert p.frame["volume"].to_list() == [150000.0, 160000.0, None]
    assert p.rejects.row(0, named=True)["source_row"] == 4  # the all-"null" Yahoo holiday row
    assert p.frame["knowledge_time"][0] == eod_known_utc(dt.date(2024, 1, 1))


def test_yahoo_layout_with_unnamed_index_column() -> None:
    data = b",Date,Open,High,Low,Close,Volume\n0,2000-01-03,1482.15,1592.9,1482.15,1592.2,25358322.0\n"
    (p,) = read_bytes("NIFTY 50.csv", data)
    assert p.kind == "index_history"
    row = p.frame.row(0, named=True)
    assert (row["index_name"], row["date"], row["close"], row["volume"]) == (
        "NIFTY 50",
        dt.date(2000, 1, 3),
        1592.2,
        25358322.0,
    )
    assert p.meta["ignored_columns"] == "(unnamed)"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NIFTY 50.csv", "NIFTY 50"),
        ("nifty_bank.csv", "NIFTY BANK"),
        ("SENSEX.csv", "SENSEX"),
        ("BANKNIFTY.csv", "BANKNIFTY"),
        ("^NSEI.csv", "NIFTY 50"),
        ("data/NIFTY50.csv", "NIFTY50"),
        ("NIFTYBEES.csv", None),  # an ETF, not an index
        ("BSE.csv", None),  # BSE Ltd's own stock
        ("RELIANCE.csv", None),
    ],
)
def test_index_name_from_file_name(name: str, expected: str | None) -> None:
    assert index_from_file_name(name) == expected


def test_stock_history_without_symbol_is_not_an_index() -> None:
    data = b"Date,Open,High,Low,Close,Volume\n2024-01-01,1,2,0.5,1.5,100\n"
    assert detect("RELIANCE.csv", data) is None


def test_drifted_nse_index_header_raises() -> None:
    header = (
        "Index Name,Index Date,Open Index Value,High Index Value,Low Index Value,Close Value,"
        "Points Change,Change(%),Volume,Turnover (Rs. Cr.),P/E,P/B,Div Yield\n"
    )
    data = (header + "Nifty 50,16-12-2025,1,2,0.5,1.5,0,0,1,1,-,-,-\n").encode()
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("ind_close_all_16122025.csv", data)
    assert err.value.field == "CLOSING INDEX VALUE"
