"""The generic daily-bars CSV (docs/formats.md) on hand-made fixtures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.core.errors import SchemaDriftError, UnknownFormatError
from earnest.sources import detect, read_bytes
from earnest.sources.csv_import import READERS, canonical_header, norm_key


@pytest.fixture
def src(fixtures_dir: Path) -> Path:
    return fixtures_dir / "sources"


def test_generic_layout_with_every_date_format(src: Path) -> None:
    f = src / "generic_bars.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.target, p.rows_total, p.frame.height, p.rejects.height) == (
        "generic_csv",
        "bars",
        7,
        4,
        3,
    )
    assert p.frame.columns == list(schemas.BARS)
    assert p.frame["date"].to_list() == [
        dt.date(2024, 1, 2),  # ISO
        dt.date(2024, 1, 3),  # DD-MM-YYYY
        dt.date(2024, 1, 4),  # DD-Mon-YYYY
        dt.date(2024, 1, 5),  # DD/MM/YYYY
    ]
    first = p.frame.row(0, named=True)
    assert (first["symbol"], first["exchange"], first["series"], first["isin"]) == (
        "ACME",  # upper-cased
        "NYSE",
        "EQ",  # default series
        "US0000000001",
    )
    assert (first["open"], first["close"], first["volume"], first["instrument_id"]) == (
        100.0,
        104.0,
        1000,
        None,
    )
    assert first["knowledge_time"] == eod_known_utc(dt.date(2024, 1, 2))
    assert p.frame.row(2, named=True)["exchange"] == "NSE"  # default exchange for an empty cell
    assert p.meta["ignored_columns"] == "Adj Close"
    rejects = {r["source_row"]: r for r in p.rejects.iter_rows(named=True)}
    assert (rejects[6]["field"], rejects[7]["field"], rejects[8]["rule"]) == (
        "close",
        "volume",
        "malformed_row",
    )


def test_kaggle_layout_reads_through_aliases(src: Path) -> None:
    f = src / "INFY.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert p.kind == "generic_csv"
    assert p.frame["symbol"].to_list() == ["INFOSYSTCH", "INFY"]  # historical symbols kept
    row = p.frame.row(1, named=True)
    assert (row["prev_close"], row["last"], row["trades"], row["delivery_qty"]) == (
        2900.0,
        2940.0,
        45000,
        600000,
    )
    assert row["turnover"] is None  # Kaggle turnover is 1e5 too large: never read
    assert p.frame.row(0, named=True)["trades"] is None
    assert p.meta["ignored_columns"] == "VWAP, Turnover, %Deliverble"


def test_header_only_file_is_zero_rows(src: Path) -> None:
    f = src / "INFRATEL.csv"
    (p,) = read_bytes(f.name, f.read_bytes())
    assert (p.kind, p.rows_total, p.frame.height, p.rejects.height) == ("generic_csv", 0, 0, 0)
    assert p.frame.columns == list(schemas.BARS)


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Prev Close", "prevclose"),
        ("PREV_CLOSE", "prevclose"),
        ("%Deliverble", "deliverble"),
        (" Date ", "date"),
    ],
)
def test_norm_key(header: str, key: str) -> None:
    assert norm_key(header) == key


def test_canonical_header() -> None:
    renames, ignored = canonical_header(
        ["DATE", "Ticker", "Open Price", "high", "LOW", "close", "Vol", "VWAP"]
    )
    assert renames == {
        "DATE": "date",
        "Ticker": "symbol",
        "Open Price": "open",
        "high": "high",
        "LOW": "low",
        "close": "close",
        "Vol": "volume",
    }
    assert ignored == ["VWAP"]


def test_missing_required_column_raises_schema_drift() -> None:
    data = b"date,symbol,open,high,low,close\n2024-01-02,ACME,1,2,0.5,1.5\n"
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("bars.csv", data)
    assert err.value.field == "volume"
    assert "docs/formats.md" in str(err.value)


def test_two_columns_for_one_field_raise_schema_drift() -> None:
    data = b"date,symbol,open,high,low,close,volume,Vol\n2024-01-02,ACME,1,2,0.5,1.5,10,10\n"
    with pytest.raises(SchemaDriftError):
        read_bytes("bars.csv", data)


@pytest.mark.parametrize(
    "header",
    [
        "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN",
        "SYMBOL, SERIES, DATE1, PREV_CLOSE, OPEN_PRICE, HIGH_PRICE, LOW_PRICE, LAST_PRICE, CLOSE_PRICE, "
        "AVG_PRICE, TTL_TRD_QNTY, TURNOVER_LACS, NO_OF_TRADES, DELIV_QTY, DELIV_PER",
        "TradDt,BizDt,Sgmt,Src,FinInstrmTp,FinInstrmId,ISIN,TckrSymb,SctySrs,XpryDt,FininstrmActlXpryDt,"
        "StrkPric,OptnTp,FinInstrmNm,OpnPric,HghPric,LwPric,ClsPric,LastPric,PrvsClsgPric,UndrlygPric",
        "SC_CODE,SC_NAME,SC_GROUP,SC_TYPE,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,NO_TRADES,NO_OF_SHRS,NET_TURNOV",
        "Date,Open,High,Low,Close,Volume",  # no symbol: an index history, not bars
    ],
)
def test_does_not_claim_bhavcopies_or_histories(header: str) -> None:
    (reader,) = READERS
    assert not reader.sniff("x.csv", header + "\n")


def test_unknown_file_names_the_generic_layout() -> None:
    with pytest.raises(UnknownFormatError, match=r"docs/formats\.md"):
        read_bytes("mystery.csv", b"a,b,c\n1,2,3\n")
    assert detect("mystery.csv", b"a,b,c\n1,2,3\n") is None


_SPELLINGS = {
    "date": ["date", "Date", "DATE", "Trade Date"],
    "symbol": ["symbol", "Symbol", "TICKER"],
    "close": ["close", "Close", "CLOSE_PRICE"],
    "volume": ["volume", "Volume", "VOL"],
}


@settings(deadline=None, max_examples=50)
@given(
    rows=st.lists(
        st.tuples(
            st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
            st.from_regex(r"[A-Z][A-Z0-9&-]{0,9}", fullmatch=True),
            st.decimals(min_value="0.05", max_value="99999", places=2),
            st.integers(0, 10**12),
        ),
        max_size=20,
    ),
    spelling=st.fixed_dictionaries({k: st.sampled_from(v) for k, v in _SPELLINGS.items()}),
    date_format=st.sampled_from(["%Y-%m-%d", "%d-%m-%Y", "%d-%b-%Y", "%d/%m/%Y"]),
)
def test_generic_round_trip(
    rows: list[tuple[dt.date, str, object, int]], spelling: dict[str, str], date_format: str
) -> None:
    """Whatever the header spelling and date format, every written row reads back unchanged."""
    header = [
        spelling["date"],
        spelling["symbol"],
        "open",
        "high",
        "low",
        spelling["close"],
        spelling["volume"],
    ]
    lines = [",".join(header)]
    lines += [f"{d.strftime(date_format)},{s},{c},{c},{c},{c},{v}" for d, s, c, v in rows]
    (p,) = read_bytes("prices.csv", ("\n".join(lines) + "\n").encode())
    assert (p.kind, p.rows_total, p.rejects.height) == ("generic_csv", len(rows), 0)
    got = list(p.frame.select("date", "symbol", "close", "volume").iter_rows())
    assert got == [(d, s, float(str(c)), v) for d, s, c, v in rows]
    assert p.frame["source_row"].to_list() == list(range(2, len(rows) + 2))
