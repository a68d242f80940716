"""BSE ``EQDDMMYY.CSV`` reader on a hand-made fixture (tests/fixtures/bhavcopy/EQ200421.CSV)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.core.errors import SchemaDriftError
from earnest.sources import read_bytes
from earnest.sources.bse_bhavcopy import session_from_name


@pytest.fixture
def eq_file(fixtures_dir: Path) -> Path:
    return fixtures_dir / "bhavcopy" / "EQ200421.CSV"


def test_bse_bars_with_date_from_the_file_name(eq_file: Path) -> None:
    data = eq_file.read_bytes()
    assert b"\r\n" in data  # BSE's CRLF line endings
    (p,) = read_bytes(eq_file.name, data)
    assert (p.kind, p.target, p.session_date, p.rows_total, p.rejects.height) == (
        "bse_bhavcopy",
        "bars",
        dt.date(2021, 4, 20),
        3,
        0,
    )
    assert p.frame.columns == list(schemas.BARS)
    abb = p.frame.filter(pl.col("symbol") == "500002").row(0, named=True)
    assert abb == {
        "exchange": "BSE",
        "instrument_id": None,
        "isin": None,
        "symbol": "500002",
        "series": "A",  # "A " stripped
        "date": dt.date(2021, 4, 20),
        "open": 1400.0,
        "high": 1420.0,
        "low": 1380.0,
        "close": 1410.5,
        "last": 1411.0,
        "prev_close": 1398.0,
        "volume": 7000,
        "turnover": 9_870_000.0,
        "trades": 900,
        "delivery_qty": None,
        "knowledge_time": eod_known_utc(dt.date(2021, 4, 20)),
        "source_file": "EQ200421.CSV",
        "source_row": 2,
    }


def test_bse_without_date_in_name_quarantines_every_row(eq_file: Path) -> None:
    (p,) = read_bytes("loader__commit_2021-02-28.csv", eq_file.read_bytes())
    assert p.session_date is None
    assert p.frame.height == 0
    assert p.rejects.height == p.rows_total == 3
    assert set(p.rejects.get_column("rule")) == {"no_session_date"}
    reason = p.rejects.get_column("reason")[0]
    assert "rename the file to EQDDMMYY.CSV" in reason
    assert "loader__commit_2021-02-28.csv" in reason
    assert p.rejects.get_column("source_row").to_list() == [2, 3, 4]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EQ200421.CSV", dt.date(2021, 4, 20)),
        ("eq200421.csv", dt.date(2021, 4, 20)),
        ("EQ200421_CSV.ZIP!EQ200421.CSV", dt.date(2021, 4, 20)),
        ("EQ311299.CSV", dt.date(1999, 12, 31)),
        ("EQ310221.CSV", None),  # 31 February
        ("EQ2004211.CSV", None),
        ("loader__commit_2021-02-28.csv", None),  # a date in the name, but not the session's: never guessed
    ],
)
def test_session_from_name(name: str, expected: dt.date | None) -> None:
    assert session_from_name(name) == expected


def test_bse_drifted_header_names_the_missing_column(eq_file: Path) -> None:
    data = eq_file.read_bytes().replace(b"NO_OF_SHRS", b"NO_SHARES")
    with pytest.raises(SchemaDriftError) as err:
        read_bytes(eq_file.name, data)
    assert err.value.field == "NO_OF_SHRS"


def test_bse_bad_number_is_quarantined_with_its_field(eq_file: Path) -> None:
    data = eq_file.read_bytes().replace(b"1410.50", b"14l0.50")
    (p,) = read_bytes(eq_file.name, data)
    assert p.frame.height == 2
    assert p.rejects.select("source_row", "field", "rule").row(0) == (2, "CLOSE", "parse")
