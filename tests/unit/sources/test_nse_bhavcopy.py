"""NSE bhavcopy readers on hand-made fixtures (tests/fixtures/bhavcopy) with hand-checked values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc
from earnest.core.errors import DataError, SchemaDriftError
from earnest.sources import detect, read_bytes
from earnest.sources.base import ParsedFile
from earnest.sources.nse_bhavcopy import UDIFF_COLUMNS

LEGACY_HEADER = (
    "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,"
)
UDIFF_HEADER = ",".join(UDIFF_COLUMNS)


@pytest.fixture
def bhav(fixtures_dir: Path) -> Path:
    return fixtures_dir / "bhavcopy"


def read_one(path: Path, name: str | None = None) -> ParsedFile:
    (parsed,) = read_bytes(name or path.name, path.read_bytes())
    return parsed


def row(frame: pl.DataFrame, **key: str) -> dict[str, object]:
    hit = frame.filter(*(pl.col(k) == v for k, v in key.items()))
    assert hit.height == 1, f"expected one row for {key}, found {hit.height}"
    return hit.row(0, named=True)


# --- legacy CM bhavcopy ----------------------------------------------------------------------------


def test_legacy_13_columns_with_trailing_comma(bhav: Path) -> None:
    p = read_one(bhav / "cm03JAN2022bhav.csv")
    assert (p.kind, p.target, p.session_date, p.rows_total) == (
        "nse_bhavcopy_legacy",
        "bars",
        dt.date(2022, 1, 3),
        4,
    )
    assert p.rejects.height == 0
    assert p.frame.columns == list(schemas.BARS)
    rel = row(p.frame, symbol="RELIANCE")
    assert rel == {
        "exchange": "NSE",
        "instrument_id": None,
        "isin": "INE002A01018",
        "symbol": "RELIANCE",
        "series": "EQ",
        "date": dt.date(2022, 1, 3),
        "open": 2400.0,
        "high": 2450.5,
        "low": 2390.0,
        "close": 2440.25,
        "last": 2441.0,
        "prev_close": 2395.1,
        "volume": 1_000_000,
        "turnover": 2_440_250_000.0,
        "trades": 50_000,
        "delivery_qty": None,
        "knowledge_time": eod_known_utc(dt.date(2022, 1, 3)),
        "source_file": "cm03JAN2022bhav.csv",
        "source_row": 2,
    }


def test_legacy_series_na_is_a_series_not_a_missing_value(bhav: Path) -> None:
    p = read_one(bhav / "cm03JAN2022bhav.csv")
    assert row(p.frame, symbol="IRFC")["series"] == "NA"
    assert sorted(p.frame.get_column("series").to_list()) == ["BE", "EQ", "EQ", "NA"]


def test_legacy_11_columns_before_june_2011(bhav: Path) -> None:
    p = read_one(bhav / "cm01APR2011bhav.csv")
    assert (p.kind, p.session_date, p.frame.height, p.rejects.height) == (
        "nse_bhavcopy_legacy",
        dt.date(2011, 4, 1),
        2,
        0,
    )
    acme = row(p.frame, symbol="ACME")
    assert (acme["close"], acme["volume"], acme["turnover"]) == (51.25, 10000, 512500.5)
    assert acme["trades"] is None
    assert acme["isin"] is None
    assert p.meta["columns"] == "11"


def test_legacy_crlf_without_trailing_comma(bhav: Path) -> None:
    data = (bhav / "cm10JUL2017bhav.csv").read_bytes()
    assert b"\r\n" in data
    assert not data.splitlines()[0].endswith(b",")
    p = read_one(bhav / "cm10JUL2017bhav.csv")
    assert (p.session_date, p.frame.height, p.rejects.height) == (dt.date(2017, 7, 10), 2, 0)
    gamma = row(p.frame, symbol="GAMMA")
    assert (gamma["isin"], gamma["close"], gamma["trades"], gamma["source_row"]) == (
        "INE000G01015",
        5.1,
        400,
        3,
    )


def test_legacy_inside_zip_gets_member_name(bhav: Path, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "cm03JAN2022bhav.csv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(bhav / "cm03JAN2022bhav.csv", "cm03JAN2022bhav.csv")
    p = read_one(archive)
    assert p.name == "cm03JAN2022bhav.csv.zip!cm03JAN2022bhav.csv"
    assert p.session_date == dt.date(2022, 1, 3)
    assert set(p.frame.get_column("source_file")) == {p.name}


def test_legacy_bad_number_ragged_row_and_other_day(bhav: Path) -> None:
    p = read_one(bhav / "cm04JAN2022bhav.csv")
    assert p.session_date == dt.date(2022, 1, 4)
    assert p.rows_total == 5  # the blank line 4 is not a row
    assert p.frame.get_column("source_row").to_list() == [2, 7]
    rej = {r["source_row"]: r for r in p.rejects.to_dicts()}
    assert sorted(rej) == [3, 5, 6]
    assert (rej[3]["rule"], rej[3]["field"]) == ("parse", "CLOSE")
    assert "'abc'" in rej[3]["reason"]
    assert rej[5]["rule"] == "malformed_row"
    assert "found 4" in rej[5]["reason"]
    assert (rej[6]["rule"], rej[6]["field"]) == ("date_mismatch", "TIMESTAMP")
    assert "2022-01-03" in rej[6]["reason"]
    assert "2022-01-04" in rej[6]["reason"]
    assert all(r["reason"] for r in rej.values())
    assert p.rejects.columns == list(schemas.QUARANTINE)


def test_legacy_drifted_header_names_the_missing_column() -> None:
    head = LEGACY_HEADER.replace("TOTTRDQTY", "TOTTRDQTY_SHARES")
    data = f"{head}\nACME,EQ,1,1,1,1,1,1,10,10,03-JAN-2022,1,INE000A01011,\n".encode()
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("cm03JAN2022bhav.csv", data)
    assert err.value.field == "TOTTRDQTY"
    assert "TOTTRDQTY" in str(err.value)
    assert "cm03JAN2022bhav.csv" in str(err.value)


def test_file_named_for_another_day_is_an_error() -> None:
    data = f"{LEGACY_HEADER}\nACME,EQ,1,1,1,1,1,1,10,10,03-JAN-2022,1,INE000A01011,\n".encode()
    with pytest.raises(DataError, match="misnamed"):
        read_bytes("cm05JAN2022bhav.csv", data)


def test_session_date_from_rows_when_the_name_has_none() -> None:
    data = f"{LEGACY_HEADER}\nACME,EQ,1,1,1,1,1,1,10,10,03-JAN-2022,1,INE000A01011,\n".encode()
    (p,) = read_bytes("download.csv", data)
    assert (p.kind, p.session_date) == ("nse_bhavcopy_legacy", dt.date(2022, 1, 3))


def test_header_only_file_has_no_rows() -> None:
    (p,) = read_bytes("cm03JAN2022bhav.csv", f"{LEGACY_HEADER}\n".encode())
    assert (p.rows_total, p.frame.height, p.rejects.height, p.session_date) == (0, 0, 0, dt.date(2022, 1, 3))


# --- sec_bhavdata_full -----------------------------------------------------------------------------


def test_sec_bhavdata_full_turnover_in_rupees_and_delivery(bhav: Path) -> None:
    p = read_one(bhav / "sec_bhavdata_full_03012022.csv")
    assert (p.kind, p.target, p.session_date, p.frame.height, p.rejects.height) == (
        "nse_sec_bhavdata_full",
        "bars",
        dt.date(2022, 1, 3),
        3,
        0,
    )
    rel = row(p.frame, symbol="RELIANCE")
    assert rel["turnover"] == pytest.approx(3_597_180_000.0)  # 35971.80 lakhs
    assert (rel["close"], rel["last"], rel["prev_close"], rel["volume"]) == (
        2403.75,
        2405.0,
        2375.5,
        1_500_000,
    )
    assert (rel["trades"], rel["delivery_qty"], rel["isin"]) == (80123, 650000, None)
    be = row(p.frame, symbol="21STCENMGM")
    assert be["delivery_qty"] is None
    assert be["series"] == "BE"
    assert row(p.frame, symbol="1018GS2026")["turnover"] == pytest.approx(575_000.0)


def test_misnamed_sec_bhavdata_full_is_detected_by_header(bhav: Path) -> None:
    p = read_one(bhav / "kiranfor2004" / "cm03012022bhav.csv")
    assert (p.kind, p.session_date, p.frame.height) == ("nse_sec_bhavdata_full", dt.date(2022, 1, 3), 3)


def test_sec_bhavdata_full_converted_copy_is_refused() -> None:
    """Mirrors that rewrote legacy files into this header put AVG_PRICE 0 and rupees in TURNOVER_LACS."""
    data = (
        b"SYMBOL,SERIES,DATE1,PREV_CLOSE,OPEN_PRICE,HIGH_PRICE,LOW_PRICE,LAST_PRICE,CLOSE_PRICE,AVG_PRICE,"
        b"TTL_TRD_QNTY,TURNOVER_LACS,NO_OF_TRADES,DELIV_QTY,DELIV_PER\n"
        b"ACME,EQ,03-Jan-2011,10,10,11,9,10,10,0,100,1000,5,0,0\n"
    )
    with pytest.raises(SchemaDriftError, match="AVG_PRICE"):
        read_bytes("sec_bhavdata_full_03012011.csv", data)


def test_sec_bhavdata_full_missing_column_is_drift(bhav: Path) -> None:
    text = (bhav / "sec_bhavdata_full_03012022.csv").read_text().replace("DELIV_QTY", "DELIVERY_QTY")
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("sec_bhavdata_full_03012022.csv", text.encode())
    assert err.value.field == "DELIV_QTY"


# --- UDiFF -----------------------------------------------------------------------------------------


def test_udiff_cm_bars(bhav: Path) -> None:
    p = read_one(bhav / "BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv")
    assert (p.kind, p.target, p.session_date, p.frame.height, p.rejects.height) == (
        "nse_udiff_cm",
        "bars",
        dt.date(2024, 7, 8),
        3,
        0,
    )
    assert sorted(p.frame.get_column("series").to_list()) == ["BE", "EQ", "SM"]
    rel = row(p.frame, symbol="RELIANCE")
    assert (rel["isin"], rel["open"], rel["close"], rel["last"], rel["prev_close"]) == (
        "INE002A01018",
        3190.0,
        3200.4,
        3201.0,
        3177.25,
    )
    assert (rel["volume"], rel["turnover"], rel["trades"], rel["delivery_qty"]) == (
        5_123_456,
        16_396_538_617.5,
        250_000,
        None,
    )


def test_udiff_fo_futures_and_options(bhav: Path) -> None:
    p = read_one(bhav / "BhavCopy_NSE_FO_0_0_0_20250203_F_0000.csv")
    assert (p.kind, p.target, p.session_date, p.frame.height, p.rejects.height) == (
        "nse_udiff_fo",
        "derivative_bars",
        dt.date(2025, 2, 3),
        5,
        0,
    )
    assert p.frame.columns == list(schemas.DERIVATIVE_BARS)
    fut = row(p.frame, instrument_type="STF")
    assert (fut["symbol"], fut["expiry"], fut["strike"], fut["option_type"]) == (
        "ABCAPITAL",
        dt.date(2025, 2, 27),
        0.0,
        "XX",
    )
    assert (fut["close"], fut["settle"], fut["underlying"], fut["lot_size"]) == (172.8, 172.8, 172.45, 2700)
    assert (fut["open_interest"], fut["oi_change"], fut["volume"], fut["trades"]) == (
        70_000_000,
        -1_080_000,
        12500,
        9900,
    )
    assert row(p.frame, instrument_type="IDF")["option_type"] == "XX"
    put = row(p.frame, instrument_type="IDO")
    assert (put["symbol"], put["strike"], put["option_type"], put["expiry"]) == (
        "NIFTY",
        23000.0,
        "PE",
        dt.date(2025, 2, 6),
    )
    untraded = p.frame.filter(pl.col("expiry") == dt.date(2025, 4, 24)).row(0, named=True)
    assert (untraded["open"], untraded["high"], untraded["last"], untraded["volume"]) == (0.0, 0.0, 0.0, 0)
    assert (untraded["close"], untraded["settle"], untraded["strike"]) == (11.6, 6.9, 185.0)
    key = p.frame.select(schemas.DERIVATIVE_KEY)
    assert key.null_count().sum_horizontal().item() == 0
    assert key.is_unique().all()


def _udiff(rows: list[str]) -> bytes:
    return ("\n".join([UDIFF_HEADER, *rows]) + "\n").encode()


CM_ROW = (
    "2024-07-08,2024-07-08,CM,NSE,STK,1,INE000A01011,ACME,EQ,,,,,ACME LTD,"
    "10,12,9,11,11,10,,11,,,100,1100,5,F1,1,,,,,"
)
FO_ROW = (
    "2024-07-08,2024-07-08,FO,NSE,STF,2,,ACME,,2024-07-25,2024-07-25,,,ACME24JULFUT,"
    "10,12,9,11,11,10,10.5,11,500,50,4,44000,3,F1,100,,,,,"
)


def test_udiff_mixing_segments_is_drift() -> None:
    with pytest.raises(SchemaDriftError, match="segment") as err:
        read_bytes("BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv", _udiff([CM_ROW, FO_ROW]))
    assert err.value.field == "Sgmt"
    with pytest.raises(SchemaDriftError, match="segment"):
        read_bytes("BhavCopy_NSE_FO_0_0_0_20240708_F_0000.csv", _udiff([FO_ROW, CM_ROW]))


def test_udiff_unknown_segment_is_drift() -> None:
    with pytest.raises(SchemaDriftError, match="CD"):
        read_bytes("BhavCopy_NSE_CD_0_0_0_20240708_F_0000.csv", _udiff([CM_ROW.replace(",CM,", ",CD,")]))


def test_udiff_fo_option_without_strike_and_unknown_type_are_quarantined() -> None:
    bad_option = FO_ROW.replace(",STF,", ",STO,")  # an option with no strike or CE/PE
    odd_type = FO_ROW.replace(",STF,", ",XYZ,")
    (p,) = read_bytes("BhavCopy_NSE_FO_0_0_0_20240708_F_0000.csv", _udiff([FO_ROW, bad_option, odd_type]))
    assert p.frame.get_column("source_row").to_list() == [2]
    rules = dict(zip(p.rejects.get_column("source_row"), p.rejects.get_column("rule"), strict=True))
    assert rules == {3: "incomplete_option", 4: "unknown_instrument_type"}


def test_udiff_drifted_header_names_the_missing_column() -> None:
    data = _udiff([CM_ROW]).replace(b"TtlTradgVol", b"TtlTrdgVol")
    with pytest.raises(SchemaDriftError) as err:
        read_bytes("BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv", data)
    assert err.value.field == "TtlTradgVol"


def test_udiff_trade_date_of_another_day_is_quarantined() -> None:
    other = CM_ROW.replace("2024-07-08,2024-07-08", "2024-07-05,2024-07-05").replace("ACME", "ZETA")
    (p,) = read_bytes("BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv", _udiff([CM_ROW, other]))
    assert p.frame.get_column("symbol").to_list() == ["ACME"]
    assert p.rejects.select("source_row", "rule", "field").row(0) == (3, "date_mismatch", "TradDt")


# --- detection -------------------------------------------------------------------------------------

OTHER_FORMATS = {
    "sec_list.csv": "Symbol,Series,Security Name,Band,Remarks\n21STCENMGM,EQ,21ST CENTURY,2,-\n",
    "bc16122025.csv": "SERIES,SYMBOL,SECURITY,RECORD_DT,BC_STRT_DT,BC_END_DT,EX_DT,ND_STRT_DT,ND_END_DT,"
    "PURPOSE\n",
    "prices.csv": "date,symbol,open,high,low,close,volume\n2024-01-01,ACME,1,2,1,2,100\n",
    "PRICES.CSV": "DATE,SYMBOL,OPEN,HIGH,LOW,CLOSE,VOLUME\n2024-01-01,ACME,1,2,1,2,100\n",
    "INFY.csv": "Date,Symbol,Series,Prev Close,Open,High,Low,Last,Close,VWAP,Volume,Turnover,Trades,"
    "Deliverable Volume,%Deliverble\n",
    "NIFTY 50.csv": ",Date,Open,High,Low,Close,Volume\n0,2000-01-03,1482.1,1592.9,1482.1,1592.2,2535832\n",
    "ind_close_all_16122025.csv": "Index Name,Index Date,Open Index Value,High Index Value,Low Index Value,"
    "Closing Index Value,Points Change,Change(%),Volume,Turnover (Rs. Cr.),P/E,P/B,Div Yield\n",
    "pd16122025.csv": "MKT,SERIES,SYMBOL,SECURITY,PREV_CL_PR,OPEN_PRICE,HIGH_PRICE,LOW_PRICE,CLOSE_PRICE,"
    "NET_TRDVAL,NET_TRDQTY,IND_SEC,CORP_IND,TRADES,HI_52_WK,LO_52_WK\n",
    "EQUITY_L.csv": "SYMBOL,NAME OF COMPANY, SERIES, DATE OF LISTING, PAID UP VALUE, MARKET LOT, "
    "ISIN NUMBER, FACE VALUE\n",
}


@pytest.mark.parametrize("name", sorted(OTHER_FORMATS))
def test_bhavcopy_readers_do_not_claim_other_formats(name: str) -> None:
    reader = detect(name, OTHER_FORMATS[name].encode())
    kind = reader.kind if reader is not None else None
    assert kind not in {
        "nse_bhavcopy_legacy",
        "nse_sec_bhavdata_full",
        "nse_udiff_cm",
        "nse_udiff_fo",
        "bse_bhavcopy",
    }


# --- properties ------------------------------------------------------------------------------------

_symbol = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789&-", min_size=1, max_size=12).filter(
    lambda s: s not in {"-"}
)
_price = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False).map(str)
_line = st.one_of(
    st.tuples(_symbol, st.sampled_from(["EQ", "BE", "NA", "SM"]), _price, st.integers(0, 10**9)).map(
        lambda t: (
            f"{t[0]},{t[1]},{t[2]},{t[2]},{t[2]},{t[2]},{t[2]},{t[2]},{t[3]},{t[3]},03-JAN-2022,1,INE000A01011,"
        )
    ),
    st.just("JUNK,EQ,1,2"),  # ragged
    st.just("JUNK,EQ,x,1,1,1,1,1,1,1,03-JAN-2022,1,INE000A01011,"),  # bad number
    st.just("OTHER,EQ,1,1,1,1,1,1,1,1,04-JAN-2022,1,INE000A01011,"),  # another day
    st.just(""),  # blank line
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_line, max_size=25))
def test_every_row_is_stored_or_quarantined(lines: list[str]) -> None:
    data = ("\n".join([LEGACY_HEADER, *lines]) + "\n").encode()
    on_session = any(",03-JAN-2022," in line and not line.startswith("JUNK") for line in lines)
    if not on_session and any(line.startswith("OTHER") for line in lines):
        with pytest.raises(DataError, match="misnamed"):  # every dated row is of another day
            read_bytes("cm03JAN2022bhav.csv", data)
        return
    (p,) = read_bytes("cm03JAN2022bhav.csv", data)
    expected = sum(1 for line in lines if line)
    assert p.rows_total == expected == p.frame.height + p.rejects.height
    stored = set(p.frame.get_column("source_row")) | set(p.rejects.get_column("source_row"))
    assert stored == {i + 2 for i, line in enumerate(lines) if line}
    assert p.frame.get_column("close").is_not_null().all()
    assert (p.frame.get_column("date") == dt.date(2022, 1, 3)).all()
