"""Instrument master readers: NSE ``EQUITY_L.csv``, ``symbolchange.csv`` and a metadata CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from earnest.core import schemas
from earnest.core.errors import SchemaDriftError
from earnest.sources import detect, read_bytes
from earnest.sources.equity_master import looks_like_symbol_change


@pytest.fixture
def src(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


def test_equity_list(src: Path) -> None:
    f = src / "EQUITY_L.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.target, p.rows_total, p.frame.height, p.rejects.height) == (
        "nse_equity_list",
        "instruments",
        4,
        3,
        1,
    )
    assert p.frame.columns == list(schemas.INSTRUMENTS)
    assert p.frame.row(0, named=True) == {
        "instrument_id": "INE144J01027",
        "isin": "INE144J01027",
        "exchange": "NSE",
        "symbol": "20MICRONS",
        "name": "20 Microns Limited",
        "series": "EQ",
        "listing_date": dt.date(2008, 10, 6),
        "delisting_date": None,
        "face_value": 5.0,
        "status": "listed",
        "first_seen": None,
        "last_seen": None,
        "source": "nse_equity_list",
    }
    assert p.frame.row(2, named=True)["listing_date"] is None  # empty listing date is allowed
    bad = p.rejects.row(0, named=True)
    assert (bad["source_row"], bad["field"], bad["rule"]) == (4, "isin", "invalid_isin")
    assert "INE12" in bad["reason"]
    assert p.meta["ignored_columns"] == "PAID UP VALUE, MARKET LOT"


def test_symbol_changes_headerless(src: Path) -> None:
    f = src / "symbolchange.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.target, p.rows_total, p.frame.height, p.rejects.height) == (
        "nse_symbol_changes",
        "symbol_changes",
        4,
        3,
        1,
    )
    assert p.frame.columns == list(schemas.SYMBOL_CHANGES)
    assert p.frame.row(0, named=True) == {
        "old_symbol": "INFOSYSTCH",
        "new_symbol": "INFY",
        "change_date": dt.date(2011, 6, 28),
        "company_name": "Infosys Technologies Limited",  # leading space stripped
        "source": "nse_symbol_changes",
    }
    assert p.frame.row(2, named=True)["company_name"] is None
    bad = p.rejects.row(0, named=True)
    # No header row: the first data line is line 1, so the fourth line is line 4.
    assert (bad["source_row"], bad["field"]) == (4, "change date")
    assert "31-FOO-2020" in bad["reason"]


def test_symbol_changes_sniffed_by_shape_under_another_name(src: Path) -> None:
    data = (src / "symbolchange.csv").read_bytes()
    reader = detect("renamed.csv", data)
    assert reader is not None
    assert reader.kind == "nse_symbol_changes"


def test_symbol_changes_with_nse_header_row() -> None:
    data = b"SM_NAME,SM_KEY_SYMBOL,SM_NEW_SYMBOL,SM_APPLICABLE_FROM\nAcme Ltd,OLDACME,ACME,01-JAN-2020\n"
    (p,) = read_bytes("symbolchange.csv", data)
    assert p.frame.select("old_symbol", "new_symbol", "change_date").row(0) == (
        "OLDACME",
        "ACME",
        dt.date(2020, 1, 1),
    )
    assert p.meta["header_row"] == "yes"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([" Acme Limited", "OLD", "NEW", "01-JAN-2020"], True),
        (["", "780LTFL30", "799LTFL30", "19-FEB-2025"], True),
        (["Acme Limited", "OLD", "NEW", "2020-01-01"], False),
        (["SYMBOL", "SERIES", "SECURITY", "HIGH/LOW"], False),
        (["Acme Limited", "OLD SYMBOL", "NEW", "01-JAN-2020"], False),
    ],
)
def test_symbol_change_line_shape(fields: list[str], expected: bool) -> None:
    assert looks_like_symbol_change([f.strip() for f in fields]) is expected


def test_stock_metadata(src: Path) -> None:
    f = src / "stock_metadata.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.target, p.rows_total, p.frame.height) == ("metadata_csv", "instruments", 2, 2)
    mm = p.frame.row(1, named=True)
    assert (mm["instrument_id"], mm["symbol"], mm["name"], mm["status"], mm["source"], mm["exchange"]) == (
        "INE101A01026",
        "M&M",
        "Mahindra & Mahindra Ltd.",
        "unknown",
        "metadata_csv",
        "NSE",
    )


def test_drifted_equity_list_raises() -> None:
    header = "SYMBOL,NAME OF COMPANY, SERIES, DATE OF LISTING, PAID UP VALUE, MARKET LOT, ISIN, FACE VALUE\n"
    data = (header + "ACME,Acme Ltd,EQ,01-JAN-2010,10,1,INE000A01010,10\n").encode()
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("EQUITY_L.csv", data)
    assert err.value.field == "ISIN NUMBER"
