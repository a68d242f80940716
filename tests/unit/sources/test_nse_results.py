"""NSE results listing reader on a hand-made JSON (tests/fixtures/results/democo.json) in NSE's real shape."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.errors import SchemaDriftError
from earnest.sources.base import ParsedFile
from earnest.sources.nse_results import NseResultsListingReader, parse_ist

READER = NseResultsListingReader()
UTC = dt.UTC


def _parse(data: bytes, name: str = "democo.json") -> ParsedFile:
    return READER.parse(name, data, sha256="a" * 64)


@pytest.fixture
def listing(fixtures_dir: Path) -> ParsedFile:
    data = (fixtures_dir / "results" / "democo.json").read_bytes()
    assert READER.sniff("democo.json", data[:4096].decode())
    return _parse(data)


def test_listing_record_with_broadcast_time(listing: ParsedFile) -> None:
    assert listing.frame.columns == list(schemas.RESULTS_LISTINGS)
    row = listing.frame.row(0, named=True)
    assert row == {
        "filing_key": "NSE:900002",
        "exchange": "NSE",
        "symbol": "DEMOCO",
        "isin": "INE000X01010",
        "company": "Demo Company Limited",
        "period_from": dt.date(2023, 10, 1),
        "period_to": dt.date(2023, 12, 31),
        "period_type": "Quarterly",
        "relating_to": "Third Quarter",
        "financial_year_start": dt.date(2023, 4, 1),
        "financial_year_end": dt.date(2024, 3, 31),
        "audited": False,
        "cumulative": False,
        "consolidated": True,
        "ind_as": "Ind-AS New",
        "format": "New",
        "bank_flag": "N",
        "is_bank": False,
        "seq_number": 900002,
        # 18:19:13 IST = 12:49:13 UTC
        "broadcast_time": dt.datetime(2024, 1, 11, 12, 49, 13, tzinfo=UTC),
        "broadcast_source": "broadCastDate",
        "dissemination_time": dt.datetime(2024, 1, 11, 12, 49, 40, tzinfo=UTC),
        "filing_time": dt.datetime(2024, 1, 11, 12, 49, tzinfo=UTC),
        "xbrl_url": "https://nsearchives.nseindia.com/corporate/xbrl/INDAS_900001_900002_11012024061922.xml",
        "xbrl_name": "INDAS_900001_900002_11012024061922.xml",
        "detail_url": None,
        "knowledge_time": dt.datetime(2024, 1, 11, 12, 49, 13, tzinfo=UTC),
        "source_file": "democo.json",
        "source_row": 1,
    }


def test_null_broadcast_falls_back_to_filing_date_and_no_xbrl(listing: ParsedFile) -> None:
    row = listing.frame.row(1, named=True)
    assert (row["broadcast_source"], row["broadcast_time"], row["knowledge_time"]) == (
        "filingDate",
        dt.datetime(2007, 4, 26, 12, 30, tzinfo=UTC),  # 18:00 IST
        dt.datetime(2007, 4, 26, 12, 30, tzinfo=UTC),
    )
    assert (row["xbrl_url"], row["xbrl_name"], row["financial_year_start"], row["audited"]) == (
        None, None, None, True,
    )  # fmt: skip


def test_records_without_time_or_with_bad_fields_are_quarantined(listing: ParsedFile) -> None:
    assert (listing.rows_total, listing.frame.height, listing.rejects.height) == (5, 2, 3)
    assert listing.rejects.columns == list(schemas.QUARANTINE)
    got = listing.rejects.select("source_row", "field", "rule").rows()
    assert got == [
        (3, "broadCastDate", "no_broadcast_time"),  # broadCastDate, exchdisstime null, filingDate "-"
        (4, "toDate", "parse"),  # "31-Sept-2023"
        (5, None, "malformed_record"),  # a string, not an object
    ]
    raw = json.loads(listing.rejects.get_column("raw")[0])
    assert raw["seqNumber"] == "31001"  # the original record, not a flattening of it


def test_present_but_unreadable_time_is_not_skipped() -> None:
    rec = {"symbol": "X", "fromDate": "01-Jan-2024", "toDate": "31-Mar-2024", "seqNumber": "7",
           "broadCastDate": "2024-04-20T18:00", "exchdisstime": "20-Apr-2024 18:01:00"}  # fmt: skip
    p = _parse(json.dumps([rec]).encode())
    assert p.frame.height == 0
    assert p.rejects.select("field", "rule").rows() == [("broadCastDate", "parse")]


def test_not_a_listing_raises() -> None:
    with pytest.raises(SchemaDriftError, match="invalid JSON"):
        _parse(b"<html>error</html>")
    with pytest.raises(SchemaDriftError, match="JSON array"):
        _parse(b'"hello"')
    assert _parse(json.dumps({"data": []}).encode()).rows_total == 0  # the live API's wrapper


def test_parse_ist() -> None:
    assert parse_ist("31-Jan-2025 18:45:17") == dt.datetime(2025, 1, 31, 13, 15, 17, tzinfo=UTC)
    assert parse_ist("31-Jan-2025 18:45") == dt.datetime(2025, 1, 31, 13, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an NSE time"):
        parse_ist("-")


_STAMP = st.datetimes(min_value=dt.datetime(2005, 1, 1), max_value=dt.datetime(2030, 1, 1))
_TIME = st.one_of(st.none(), st.just("-"), _STAMP.map(lambda t: t.strftime("%d-%b-%Y %H:%M:%S")))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_TIME, _TIME, _TIME), max_size=8))
def test_every_record_is_a_row_or_a_reject_and_the_time_is_the_first_present(
    times: list[tuple[str | None, str | None, str | None]],
) -> None:
    recs = [
        {"symbol": "X", "fromDate": "01-Jan-2024", "toDate": "31-Mar-2024", "seqNumber": str(i),
         "broadCastDate": b, "exchdisstime": e, "filingDate": f[:-3] if f and f != "-" else f}
        for i, (b, e, f) in enumerate(times)
    ]  # fmt: skip
    p = _parse(json.dumps(recs).encode())
    assert p.frame.height + p.rejects.height == len(recs)
    rows = set(p.frame.get_column("source_row").to_list())
    assert rows.isdisjoint(set(p.rejects.get_column("source_row").to_list()))
    names = ("broadCastDate", "exchdisstime", "filingDate")
    for row in p.frame.iter_rows(named=True):
        present = [
            (n, t) for n, t in zip(names, times[row["source_row"] - 1], strict=True) if t not in (None, "-")
        ]
        source, text = present[0]
        expected = parse_ist(text[:-3] if source == "filingDate" else text)
        assert (row["broadcast_source"], row["broadcast_time"], row["knowledge_time"]) == (
            source,
            expected,
            expected,
        )
    for row in p.rejects.iter_rows(named=True):
        assert all(t in (None, "-") for t in times[row["source_row"] - 1])
    assert p.frame.select(pl.col("filing_key").is_unique().all()).item()
