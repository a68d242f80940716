"""NSE ``sec_list.csv`` price band reader on a hand-made fixture (tests/fixtures/sources)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.errors import SchemaDriftError
from earnest.sources import detect, read_bytes
from earnest.sources.price_bands import effective_date


@pytest.fixture
def sec_list(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / "sources" / "sec_list_08122025.csv").read_bytes()


def test_bands_with_date_from_nse_file_name(sec_list: bytes) -> None:
    (p,) = read_bytes("sec_list_08122025.csv", sec_list)
    assert (p.kind, p.target, p.rows_total, p.frame.height, p.rejects.height) == (
        "nse_price_bands",
        "price_bands",
        6,
        4,
        2,
    )
    assert p.frame.columns == list(schemas.PRICE_BANDS)
    assert p.session_date == dt.date(2025, 12, 8)
    bands = dict(zip(p.frame["symbol"], p.frame["band_pct"], strict=True))
    assert bands == {"21STCENMGM": 2.0, "RELIANCE": None, "ANONDITA": 5.0, "TINYCO": 20.0}
    remarks = dict(zip(p.frame["symbol"], p.frame["remarks"], strict=True))
    # "-" (and "-" followed by a tab) mean no remark; surveillance markers are kept.
    assert remarks == {"21STCENMGM": None, "RELIANCE": None, "ANONDITA": "GSM STAGE - II", "TINYCO": None}
    first = p.frame.row(0, named=True)
    assert first["effective_date"] == dt.date(2025, 12, 8)
    # 09:15 IST on the effective date = 03:45 UTC.
    assert first["knowledge_time"] == dt.datetime(2025, 12, 8, 3, 45, tzinfo=dt.UTC)
    assert (first["name"], first["source_row"]) == ("21ST CENTURY MANAGEMENT SERVICES LIMITED", 2)


def test_bad_band_and_empty_series_are_quarantined_with_line_numbers(sec_list: bytes) -> None:
    (p,) = read_bytes("sec_list_08122025.csv", sec_list)
    rejects = {r["source_row"]: r for r in p.rejects.iter_rows(named=True)}
    assert set(rejects) == {6, 7}
    assert rejects[6]["field"] == "Band"
    assert "25x" in rejects[6]["reason"]
    assert rejects[7]["field"] == "SERIES"
    assert "empty" in rejects[7]["reason"]


def test_without_a_date_in_the_name_every_row_is_quarantined(sec_list: bytes) -> None:
    (p,) = read_bytes("sec_list.csv", sec_list)
    assert p.frame.height == 0
    undated = p.rejects.filter(pl.col("rule") == "no_effective_date")
    assert undated.height == 4  # the two unreadable rows keep their own parse rejects
    assert undated["source_row"].to_list() == [2, 3, 4, 5]
    assert "sec_list_DDMMYYYY.csv" in undated["reason"][0]
    assert p.session_date is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sec_list_08122025.csv", dt.date(2025, 12, 8)),
        ("SEC_LIST_31012024.CSV", dt.date(2024, 1, 31)),
        ("sec_list__commit_2025-12-10.csv", dt.date(2025, 12, 10)),
        ("bands/2025-12-08/sec_list.csv", None),  # a date in a folder name is not the file's
        ("archive.zip!sec_list_2024-02-29.csv", dt.date(2024, 2, 29)),
        ("sec_list.csv", None),
        ("sec_list_32132025.csv", None),  # not a real date: never guessed
    ],
)
def test_effective_date_from_name(name: str, expected: dt.date | None) -> None:
    assert effective_date(name) == expected


def test_drifted_header_raises_schema_drift() -> None:
    data = b"Symbol,Series,Security Name,Price Band,Remarks\nABC,EQ,ABC LTD,5,-\n"
    reader = detect("sec_list_08122025.csv", data)
    assert reader is not None
    assert reader.kind == "nse_price_bands"
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("sec_list_08122025.csv", data)
    assert err.value.field == "BAND"


def test_does_not_claim_band_hitters_or_bhavcopies() -> None:
    for name, head in [
        ("bh16122025.csv", "SYMBOL,SERIES,SECURITY,HIGH/LOW\nABC,EQ,ABC LTD,H\n"),
        (
            "cm01APR2015bhav.csv",
            "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP\n",
        ),
    ]:
        reader = detect(name, head.encode())
        assert reader is None or reader.kind != "nse_price_bands"
