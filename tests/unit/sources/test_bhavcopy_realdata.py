"""Every real bhavcopy in ../shared/data read end to end: no row lost, known values right."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from earnest.sources import read_bytes
from earnest.sources.base import ParsedFile

FOLDERS = ("nse_bhavcopy_legacy", "nse_sec_bhavdata_full", "nse_fo_bhavcopy_udiff", "bse_bhavcopy_legacy")
KINDS = {
    "nse_bhavcopy_legacy": {"nse_bhavcopy_legacy"},
    "nse_sec_bhavdata_full": {"nse_sec_bhavdata_full"},
    "nse_fo_bhavcopy_udiff": {"nse_udiff_fo"},
    "bse_bhavcopy_legacy": {"bse_bhavcopy"},
}


def _files(root: Path) -> list[Path]:
    return sorted(f for f in root.rglob("*") if f.is_file() and f.suffix.lower() != ".md")


def _data_rows(data: bytes) -> int:
    """Non-blank CSV rows after the header, counted with the csv module alone."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return sum(_data_rows(zf.read(m)) for m in zf.namelist())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return sum(1 for r in rows[1:] if any(c.strip() for c in r))


def _read(path: Path) -> list[ParsedFile]:
    return read_bytes(path.name, path.read_bytes())


@dataclass(frozen=True)
class _Real:
    folder: str
    path: Path
    data_rows: int
    parsed: list[ParsedFile]


@pytest.fixture(scope="module")
def real_files(shared_data: Path) -> list[_Real]:
    """Every real file of the four folders, parsed once."""
    out = []
    for folder in FOLDERS:
        for path in _files(shared_data / folder):
            data = path.read_bytes()
            out.append(_Real(folder, path, _data_rows(data), read_bytes(path.name, data)))
    return out


def test_every_real_file_accounts_for_every_row(real_files: list[_Real]) -> None:
    assert len(real_files) == 44  # 8 legacy + 31 sec_bhavdata_full + 3 F&O + 2 BSE
    for f in real_files:
        assert f.parsed, f.path
        assert {p.kind for p in f.parsed} <= KINDS[f.folder], f.path
        counted = sum(p.frame.height + p.rejects.height for p in f.parsed)
        assert counted == sum(p.rows_total for p in f.parsed) == f.data_rows, f.path
        for p in f.parsed:
            assert (p.rejects.get_column("reason").fill_null("").str.len_chars() > 0).all(), f.path


def test_real_files_have_no_rejects_except_the_undated_bse_file(real_files: list[_Real]) -> None:
    for f in real_files:
        for p in f.parsed:
            if f.path.name.startswith("loader__commit"):
                assert set(p.rejects.get_column("rule")) == {"no_session_date"}
            else:
                assert p.rejects.height == 0, (f.path, p.rejects.head(3).to_dicts())


def _close(p: ParsedFile, **key: object) -> float:
    hit = p.frame.filter(*(pl.col(k) == v for k, v in key.items()))
    assert hit.height == 1, key
    return float(hit.get_column("close").item())


def test_known_values(shared_data: Path) -> None:
    (legacy11,) = _read(shared_data / "nse_bhavcopy_legacy" / "cm01APR2011bhav.csv")
    assert legacy11.session_date == dt.date(2011, 4, 1)
    assert _close(legacy11, symbol="20MICRONS", series="EQ") == 37.45

    (crlf,) = _read(shared_data / "nse_bhavcopy_legacy" / "cm10JUL2017bhav.csv")
    assert _close(crlf, symbol="20MICRONS", series="EQ") == 40.75

    (sec,) = _read(shared_data / "nse_sec_bhavdata_full" / "sec_bhavdata_full_05072024.csv")
    rel = sec.frame.filter((pl.col("symbol") == "RELIANCE") & (pl.col("series") == "EQ")).row(0, named=True)
    assert (rel["close"], rel["volume"], rel["delivery_qty"]) == (3177.25, 6134855, 2332341)
    assert rel["turnover"] == pytest.approx(193237.16 * 1e5)

    (jan,) = _read(shared_data / "nse_sec_bhavdata_full" / "kiranfor2004_2025-01" / "cm01012025bhav.csv")
    assert (jan.kind, jan.session_date) == ("nse_sec_bhavdata_full", dt.date(2025, 1, 1))

    (fo,) = _read(shared_data / "nse_fo_bhavcopy_udiff" / "BhavCopy_NSE_FO_0_0_0_20250203_F_0000.csv.zip")
    fut = fo.frame.filter(
        (pl.col("symbol") == "ABCAPITAL")
        & (pl.col("instrument_type") == "STF")
        & (pl.col("expiry") == dt.date(2025, 2, 27))
    ).row(0, named=True)
    assert (fut["close"], fut["strike"], fut["option_type"], fut["lot_size"]) == (172.77, 0.0, "XX", 2700)
    assert set(fo.frame.get_column("instrument_type")) == {"STO", "IDO", "STF", "IDF"}

    (bse,) = _read(shared_data / "bse_bhavcopy_legacy" / "EQ200421.CSV")
    assert bse.session_date == dt.date(2021, 4, 20)
    assert _close(bse, symbol="500002") == 1392.85


def test_legacy_and_sec_bhavdata_full_agree_on_2024_07_05(shared_data: Path) -> None:
    (legacy,) = _read(shared_data / "nse_bhavcopy_legacy" / "cm05JUL2024bhav.csv.zip")
    (sec,) = _read(shared_data / "nse_sec_bhavdata_full" / "sec_bhavdata_full_05072024.csv")
    assert legacy.session_date == sec.session_date == dt.date(2024, 7, 5)
    eq = pl.col("series") == "EQ"
    both = legacy.frame.filter(eq).join(sec.frame.filter(eq), on=["symbol", "series"], suffix="_sec")
    assert both.height > 1500
    assert both.filter(pl.col("close") != pl.col("close_sec")).height == 0
    assert both.filter(pl.col("volume") != pl.col("volume_sec")).height == 0
