"""The written files match NSE's real formats byte for byte.

Expected lines below are copied from real NSE files (the 2024-07-05 legacy and full bhavcopies, a
2025 daily index file, the 2025-12 price-band and PR-bundle files); the writers are fed the same
values and must produce the same bytes. Headers are hard-coded here, not taken from the writers.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest

from earnest.simulate import SimMarket
from earnest.simulate.writers import (
    action_lines,
    band_lines,
    fixed,
    full_lines,
    index_lines,
    legacy_lines,
    shortest,
    udiff_lines,
)

LEGACY = "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,"
UDIFF = (
    "TradDt,BizDt,Sgmt,Src,FinInstrmTp,FinInstrmId,ISIN,TckrSymb,SctySrs,XpryDt,FininstrmActlXpryDt,StrkPric,"
    "OptnTp,FinInstrmNm,OpnPric,HghPric,LwPric,ClsPric,LastPric,PrvsClsgPric,UndrlygPric,SttlmPric,OpnIntrst,"
    "ChngInOpnIntrst,TtlTradgVol,TtlTrfVal,TtlNbOfTxsExctd,SsnId,NewBrdLotQty,Rmks,Rsvd1,Rsvd2,Rsvd3,Rsvd4"
)
FULL = (
    "SYMBOL, SERIES, DATE1, PREV_CLOSE, OPEN_PRICE, HIGH_PRICE, LOW_PRICE, LAST_PRICE, CLOSE_PRICE, AVG_PRICE, "
    "TTL_TRD_QNTY, TURNOVER_LACS, NO_OF_TRADES, DELIV_QTY, DELIV_PER"
)
INDEX = (
    "Index Name,Index Date,Open Index Value,High Index Value,Low Index Value,Closing Index Value,Points Change,"
    "Change(%),Volume,Turnover (Rs. Cr.),P/E,P/B,Div Yield"
)
BANDS = "Symbol,Series,Security Name,Band,Remarks"
BC = "SERIES,SYMBOL,SECURITY,RECORD_DT,BC_STRT_DT,BC_END_DT,EX_DT,ND_STRT_DT,ND_END_DT,PURPOSE"
EQUITY_L = (
    "SYMBOL,NAME OF COMPANY, SERIES, DATE OF LISTING, PAID UP VALUE, MARKET LOT, ISIN NUMBER, FACE VALUE"
)

JUL5 = dt.date(2024, 7, 5)


def _bar(**values: object) -> pl.DataFrame:
    row: dict[str, object] = {
        "symbol": "ZYDUSWELL", "series": "EQ", "date": JUL5, "open": 2081.05, "high": 2135.0, "low": 2072.0,
        "close": 2118.25, "last": 2125.0, "prev_close": 2097.9, "volume": 49564, "turnover": 103865692.4,
        "trades": 6912, "isin": "INE768C01010", "avg_price": 2095.59, "delivery_qty": 25108,
        "fin_instrm_id": 17635, "nse_name": "ZYDUS WELLNESS LTD",
    }  # fmt: skip
    row.update(values)
    return pl.DataFrame([row])


def test_legacy_line_matches_nse() -> None:
    expected = (
        "ZYDUSWELL,EQ,2081.05,2135,2072,2118.25,2125,2097.9,49564,103865692.4,05-JUL-2024,6912,INE768C01010,"
    )
    assert legacy_lines(_bar()).to_list() == [expected]


def test_full_lines_match_nse_for_eq_and_be() -> None:
    eq = "ZYDUSWELL, EQ, 05-Jul-2024, 2097.90, 2081.05, 2135.00, 2072.00, 2125.00, 2118.25, 2095.59, 49564, 1038.66, 6912, 25108, 50.66"
    be = "21STCENMGM, BE, 05-Jul-2024, 72.05, 73.49, 73.49, 72.05, 73.49, 73.49, 72.96, 17777, 12.97, 100, -, -"
    be_row = _bar(
        symbol="21STCENMGM", series="BE", open=73.49, high=73.49, low=72.05, close=73.49, last=73.49,
        prev_close=72.05, volume=17777, turnover=1297069.27, trades=100, avg_price=72.96, delivery_qty=None,
    )  # fmt: skip
    assert full_lines(pl.concat([_bar(), be_row])).to_list() == [eq, be]


def test_udiff_line_has_34_fields_like_nse() -> None:
    row = _bar(date=dt.date(2024, 7, 8))
    (line,) = udiff_lines(row).to_list()
    assert line == (
        "2024-07-08,2024-07-08,CM,NSE,STK,17635,INE768C01010,ZYDUSWELL,EQ,,,,,ZYDUS WELLNESS LTD,2081.05,2135.00,"
        "2072.00,2118.25,2125.00,2097.90,,2118.25,,,49564,103865692.40,6912,F1,1,,,,,"
    )
    assert len(line.split(",")) == len(UDIFF.split(",")) == 34


def test_index_line_matches_nse() -> None:
    rows = pl.DataFrame(
        {
            "index_name": ["Nifty 50", "India VIX"],
            "date": [dt.date(2025, 3, 26)] * 2,
            "open": [23700.95, 12.6875],
            "high": [23736.5, 12.835],
            "low": [23451.7, 11.77],
            "close": [23486.85, 12.16],
            "prev_close": [23668.65, 12.69],
            "volume": [278590831, None],
            "turnover_cr": [26877.28, None],
            "pe": [20.88, None],
            "pb": [3.5, None],
            "div_yield": [1.37, None],
        }
    )
    assert index_lines(rows).to_list() == [
        "Nifty 50,26-03-2025,23700.95,23736.5,23451.7,23486.85,-181.8,-.77,278590831,26877.28,20.88,3.5,1.37",
        "India VIX,26-03-2025,12.6875,12.835,11.77,12.16,-.53,-4.18,-,-,-,-,-",
    ]


def test_band_and_corporate_action_lines_match_nse() -> None:
    bands = pl.DataFrame(
        {
            "symbol": ["21STCENMGM", "360ONE"],
            "series": ["EQ", "EQ"],
            "name": ["21ST CENTURY MANAGEMENT SERVICES LIMITED", "360 ONE WAM LIMITED"],
            "band_pct": [2.0, None],
            "remarks": ["-", "-"],
        }
    )
    assert band_lines(bands).to_list() == [
        '21STCENMGM,EQ,21ST CENTURY MANAGEMENT SERVICES LIMITED,2,"-"',
        '360ONE,EQ,360 ONE WAM LIMITED,No Band,"-"',
    ]
    day = dt.date(2025, 12, 19)
    acts = pl.DataFrame(
        {
            "series": ["EQ"],
            "symbol": ["LALPATHLAB"],
            "security": ["Dr. Lal Path Labs Ltd."],
            "record_date": [day],
            "ex_date": [day],
            "purpose": ["BONUS 1:1"],
        }
    )
    assert action_lines(acts).to_list() == [
        "EQ,LALPATHLAB,Dr. Lal Path Labs Ltd.,2025-12-19,,,2025-12-19,,,BONUS 1:1"
    ]


@pytest.mark.parametrize(
    ("value", "short", "two", "bare"),
    [
        (990.0, "990", "990.00", "990"),
        (1002.9, "1002.9", "1002.90", "1002.9"),
        (0.35, "0.35", "0.35", ".35"),
        (-0.77, "-0.77", "-0.77", "-.77"),
        (-181.8, "-181.8", "-181.80", "-181.8"),
        (3163353396.95, "3163353396.95", "3163353396.95", "3163353396.95"),
        (0.0, "0", "0.00", "0"),
    ],
)
def test_number_formats(value: float, short: str, two: str, bare: str) -> None:
    frame = pl.DataFrame({"x": [value]})
    got = frame.select(
        shortest("x").alias("s"), fixed("x").alias("f"), shortest("x", bare=True).alias("b")
    ).row(0)
    assert got == (short, two, bare)


# ---- the written files -------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            (member,) = zf.namelist()
            assert member == path.name.removesuffix(".zip")
            raw = zf.read(member)
    else:
        raw = path.read_bytes()
    assert raw.endswith(b"\n")
    assert b"\r" not in raw
    return raw.decode().splitlines()


def test_folder_layout_and_headers(small_files: Path, small_market: SimMarket) -> None:
    n = len(small_market.sessions)
    legacy = sorted((small_files / "bhavcopy").glob("cm*bhav.csv.zip"))
    udiff = sorted((small_files / "bhavcopy").glob("BhavCopy_NSE_CM_0_0_0_*_F_0000.csv.zip"))
    full = sorted((small_files / "full").glob("sec_bhavdata_full_*.csv"))
    index = sorted((small_files / "indices").glob("ind_close_all_*.csv"))
    assert len(legacy) + len(udiff) == len(full) == len(index) == n
    assert (small_files / "bhavcopy" / "cm05JUL2024bhav.csv.zip").exists()
    assert (small_files / "bhavcopy" / "BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv.zip").exists()
    assert not (small_files / "bhavcopy" / "cm08JUL2024bhav.csv.zip").exists()
    for files, header in ((legacy, LEGACY), (udiff, UDIFF), (full, FULL), (index, INDEX)):
        assert {_lines(f)[0] for f in files} == {header}
    for folder, pattern, header in (
        ("bands", "sec_list_*.csv", BANDS),
        ("corporate_actions", "bc*.csv", BC),
    ):
        files = sorted((small_files / folder).glob(pattern))
        assert files
        assert {_lines(f)[0] for f in files} == {header}
    assert _lines(small_files / "masters" / "EQUITY_L.csv")[0] == EQUITY_L
    assert "seed 11" in (small_files / "README.txt").read_text()


def test_rows_follow_the_formats(small_files: Path) -> None:
    legacy = _lines(small_files / "bhavcopy" / "cm05JUL2024bhav.csv.zip")[1:]
    assert all(line.endswith(",") and len(line.split(",")) == 14 for line in legacy)
    assert all(",05-JUL-2024," in line for line in legacy)
    udiff = _lines(small_files / "bhavcopy" / "BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv.zip")[1:]
    assert all(line.startswith("2024-07-08,2024-07-08,CM,NSE,STK,") for line in udiff)
    assert all(line.endswith(",F1,1,,,,,") and len(line.split(",")) == 34 for line in udiff)
    full = _lines(small_files / "full" / "sec_bhavdata_full_08072024.csv")[1:]
    assert all(len(line.split(", ")) == 15 and ", 08-Jul-2024, " in line for line in full)
    assert all(line.endswith(", -, -") == (", BE, " in line) for line in full)
    symbols = [line.split(",")[0] for line in legacy]
    assert symbols == sorted(symbols)


def test_masters_list_only_listed_names(small_files: Path, small_market: SimMarket) -> None:
    equity = _lines(small_files / "masters" / "EQUITY_L.csv")[1:]
    listed = small_market.instruments.filter(pl.col("status") == "listed")
    assert len(equity) == listed.height
    delisted = small_market.instruments.filter(pl.col("status") == "delisted").get_column("isin").to_list()
    assert delisted
    assert not any(isin in line for line in equity for isin in delisted)
    assert all(
        re.fullmatch(r"[^,]+,[^,]+,(EQ|BE),\d{2}-[A-Z]{3}-\d{4},\d+,1,INE\w{9},\d+", line) for line in equity
    )
    (change,) = _lines(small_files / "masters" / "symbolchange.csv")
    row = small_market.symbol_changes.row(0, named=True)
    when = row["change_date"].strftime("%d-%b-%Y").upper()
    assert change == f"{row['company_name']},{row['old_symbol']},{row['new_symbol']},{when}"


def test_corporate_action_files_come_before_the_ex_date(small_files: Path, small_market: SimMarket) -> None:
    written = []
    for path in sorted((small_files / "corporate_actions").glob("bc*.csv")):
        file_day = dt.datetime.strptime(path.stem[2:], "%d%m%Y").date()
        for line in _lines(path)[1:]:
            fields = line.split(",")
            ex = dt.date.fromisoformat(fields[6])
            assert file_day < ex
            written.append((fields[1], ex, fields[9]))
    recorded = small_market.actions.filter(pl.col("recorded"))
    assert sorted(written) == sorted(recorded.select("symbol", "ex_date", "purpose").iter_rows())
    hidden = small_market.actions.filter(~pl.col("recorded")).row(0, named=True)
    assert (hidden["symbol"], hidden["ex_date"]) not in {(s, e) for s, e, _ in written}


def test_planted_errors_are_in_the_written_files(small_files: Path, small_market: SimMarket) -> None:
    assert {e.rule for e in small_market.planted_errors} == {
        "ohlc_inconsistent", "non_positive_price", "duplicate_key", "beyond_price_band",
    }  # fmt: skip
    assert len({e.file for e in small_market.planted_errors}) == 4
    for err in small_market.planted_errors:
        folder = "full" if err.kind == "full" else "bhavcopy"
        path = small_files / folder / (err.file if err.kind == "full" else f"{err.file}.zip")
        lines = _lines(path)
        line = lines[err.line - 1]
        assert line.startswith(f"{err.symbol},") or f",{err.symbol},{err.series}," in line
        if err.rule == "duplicate_key":
            assert lines[err.line - 2] == line
        else:
            assert err.value is not None
            shown = pl.select(shortest(pl.lit(err.value)), fixed(pl.lit(err.value)).alias("f")).row(0)
            assert {f.strip() for f in line.split(",")} & set(shown)


def test_same_seed_writes_identical_bytes(small_market: SimMarket, small_files: Path, tmp_path: Path) -> None:
    from earnest.simulate import write_market

    write_market(small_market, tmp_path)
    ours = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(small_files) for p in small_files.rglob("*") if p.is_file())
    assert ours == theirs
    assert all((tmp_path / p).read_bytes() == (small_files / p).read_bytes() for p in ours)
