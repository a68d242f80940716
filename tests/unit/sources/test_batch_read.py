"""Reading many files at once (``read_many``, ``parse_bars_many``, ``stack_csv``) gives each file
exactly what reading it alone gives: rows, rejects with their own file and line, session and
errors, including when the files are read together in one stacked table."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core.errors import DataError
from earnest.sources import read_bytes
from earnest.sources.base import Col, ParsedFile, integer, number, typed_rows
from earnest.sources.bhavcopy import BHAVCOPY_NULLS
from earnest.sources.registry import read_many
from earnest.sources.stacked import stack_csv

HEADER = "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN,\n"


def legacy(day: str, *rows: str) -> str:
    """A legacy bhavcopy dated ``day`` (e.g. ``05-JUL-2024``): INFY and TCS, then ``rows``."""
    body = [
        f"INFY,EQ,1500,1520,1490,1510,1511,1495,100000,151000000,{day},5000,INE009A01021,\n",
        f"TCS,EQ,4000,4050,3990,4020,4021,3995,50000,201000000,{day},3000,INE467B01029,\n",
        *(r.replace("{day}", day) + "\n" for r in rows),
    ]
    return HEADER + "".join(body)


SEC_HEADER = (
    "SYMBOL, SERIES, DATE1, PREV_CLOSE, OPEN_PRICE, HIGH_PRICE, LOW_PRICE, LAST_PRICE, CLOSE_PRICE, "
    "AVG_PRICE, TTL_TRD_QNTY, TURNOVER_LACS, NO_OF_TRADES, DELIV_QTY, DELIV_PER\n"
)


def sec_full(day: str, avg: str) -> str:
    return SEC_HEADER + (
        f"INFY, EQ, {day}, 1495, 1500, 1520, 1490, 1511, 1510, {avg}, 100000, 1510.5, 5000, 50000, 50\n"
        f"TCS, EQ, {day}, 3995, 4000, 4050, 3990, 4021, 4020, {avg}, 50000, 2010.1, 3000, -, -\n"
    )


def plain(parsed: ParsedFile) -> tuple[Any, ...]:
    """Everything about a parsed file except the quarantine timestamps."""
    return (
        parsed.name,
        parsed.sha256,
        parsed.kind,
        parsed.rows_total,
        parsed.session_date,
        dict(parsed.meta),
        parsed.frame.rows(),
        parsed.rejects.drop("quarantined_at").rows(),
    )


def alone(name: str, data: bytes) -> Any:
    try:
        return [plain(p) for p in read_bytes(name, data, strict=False)]
    except DataError as exc:
        return exc.render()


def together(items: list[tuple[str, bytes]]) -> list[Any]:
    return [
        got.render() if isinstance(got, DataError) else [plain(p) for p in got]
        for got in read_many(items, strict=False)
    ]


def zipped(**members: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


ITEMS = [
    ("cm01JUL2024bhav.csv", legacy("01-JUL-2024")),
    ("cm02JUL2024bhav.csv", legacy("01-JUL-2024")),  # misnamed: no row of 2 July
    (
        "cm03JUL2024bhav.csv",
        legacy("03-JUL-2024", "LATE,EQ,10,11,9,10,10,10,5,50,02-JUL-2024,1,INE000L01011,"),
    ),
    ("cm04JUL2024bhav.csv", legacy("04-JUL-2024", "ODD,EQ,1x0,11,9,10,10,10,5,50,{day},1,INE000D01011,")),
    ("cm05JUL2024bhav.csv", legacy("05-JUL-2024").replace("CLOSE,LAST", "CLOSING,LAST")),  # drifted
    ("cm08JUL2024bhav.csv", legacy("08-JUL-2024").replace("INFY,EQ", '"INFY",EQ')),  # quoted: alone
    ("cm09JUL2024bhav.csv", legacy("09-JUL-2024", "SHORT,EQ,1,2")),  # ragged: alone
    ("cm10JUL2024bhav.csv", legacy("10-JUL-2024").replace("100000,", '"1,00,000.0",')),
    ("cm11JUL2024bhav.csv", legacy("11-JUL-2024").replace("50000,201", "50000.0,201")),
    ("sec_bhavdata_full_01072024.csv", sec_full("01-Jul-2024", "1505")),
    ("sec_bhavdata_full_02072024.csv", sec_full("02-Jul-2024", "0")),  # a converted legacy file
]


def test_read_many_gives_each_file_what_reading_it_alone_gives() -> None:
    items = [(n, t.encode()) for n, t in ITEMS]
    items += [
        ("both.zip", zipped(**{"cm12JUL2024bhav.csv": legacy("12-JUL-2024"), "notes.txt": "hello\n"})),
        ("bad.zip", zipped(**{"cm15JUL2024bhav.csv": legacy("15-JUL-2024"), "cm16JUL2024bhav.csv": ""})),
        ("truncated.zip", zipped(**{"cm17JUL2024bhav.csv": legacy("17-JUL-2024")})[:60]),
        ("cm18JUL2024bhav.csv", legacy("18-JUL-2024").replace("TCS", "TÇS").encode("latin-1")),
    ]
    assert together(items) == [alone(n, d) for n, d in items]


def test_files_read_together_keep_their_own_names_lines_and_errors() -> None:
    got = read_many([(n, t.encode()) for n, t in ITEMS], strict=True)
    by_name = dict(zip((n for n, _ in ITEMS), got, strict=True))
    misnamed = by_name["cm02JUL2024bhav.csv"]
    assert isinstance(misnamed, DataError)
    assert "cm02JUL2024bhav.csv" in misnamed.render()
    assert "misnamed" in misnamed.render()
    (late,) = by_name["cm03JUL2024bhav.csv"]
    assert late.frame.height == 2
    assert late.rejects.select("source_file", "source_row", "rule").rows() == [
        ("cm03JUL2024bhav.csv", 4, "date_mismatch")
    ]
    (odd,) = by_name["cm04JUL2024bhav.csv"]
    assert odd.rejects.select("source_file", "source_row", "field").rows() == [
        ("cm04JUL2024bhav.csv", 4, "OPEN")
    ]
    drifted = by_name["cm05JUL2024bhav.csv"]
    assert isinstance(drifted, DataError)
    assert "cm05JUL2024bhav.csv" in drifted.render()
    assert "CLOSE" in drifted.render()
    (ragged,) = by_name["cm09JUL2024bhav.csv"]
    assert ragged.rejects.select("source_row", "rule").rows() == [(4, "malformed_row")]
    (separated,) = by_name["cm10JUL2024bhav.csv"]
    assert separated.frame.get_column("volume").to_list() == [100000, 50000]
    (fraction,) = by_name["cm11JUL2024bhav.csv"]
    assert fraction.frame.get_column("volume").to_list() == [100000, 50000]
    converted = by_name["sec_bhavdata_full_02072024.csv"]
    assert isinstance(converted, DataError)
    assert "AVG_PRICE" in converted.render()
    (full,) = by_name["sec_bhavdata_full_01072024.csv"]
    assert full.frame.get_column("delivery_qty").to_list() == [50000, None]
    assert full.frame.get_column("source_row").to_list() == [2, 3]


def test_read_many_strict_names_the_unknown_member() -> None:
    (got,) = read_many([("both.zip", zipped(**{"a.csv": legacy("12-JUL-2024"), "notes.txt": "x\n"}))])
    assert isinstance(got, DataError)
    assert "both.zip!notes.txt" in got.render()


def test_stack_csv_reads_plain_files_of_one_header_together() -> None:
    texts = [
        legacy("01-JUL-2024").encode(),
        legacy("02-JUL-2024", "X,EQ,1,1,1,1,1,1,1,1,{day},1,INE000X01011,").encode(),
        legacy("03-JUL-2024").replace(",\n", "\n").encode(),  # another header: a second stack
        legacy("04-JUL-2024").replace("INFY,EQ", '"INFY",EQ').encode(),  # quotes
        legacy("05-JUL-2024").replace("TCS", "TÇS").encode("latin-1"),  # not ASCII
        HEADER.encode(),  # no data rows
        legacy("08-JUL-2024").replace("\n", "\r", 1).encode(),  # a lone CR: the csv module's job
    ]
    stacks, rest = stack_csv(texts, null_tokens=BHAVCOPY_NULLS)
    assert rest == [3, 4, 5, 6]
    assert [(s.members, s.rows) for s in stacks] == [((0, 1), (2, 3)), ((2,), (2,))]
    first = stacks[0]
    assert first.table.lines.to_list() == [2, 3, 2, 3, 4]
    assert first.member_ids().to_list() == [0, 0, 1, 1, 1]
    assert first.table.strings(["SYMBOL"])["SYMBOL"].to_list() == ["INFY", "TCS", "INFY", "TCS", "X"]


def test_stack_csv_strips_values_only_when_there_is_whitespace() -> None:
    spaced = sec_full("01-Jul-2024", "1505").encode()
    (stack,), rest = stack_csv([spaced, spaced], null_tokens=BHAVCOPY_NULLS)
    assert rest == []
    assert stack.table.strings(["DELIV_QTY"])["DELIV_QTY"].to_list() == ["50000", None] * 2


def test_typed_rows_reads_unusual_numbers_in_full() -> None:
    stacks, _ = stack_csv([b"A,B\n1,2\n1.0,3e2\n,-\nx,2.5\n"], null_tokens=frozenset({"", "-"}))
    good, bad = typed_rows(stacks[0].table, [Col("A", "a", integer), Col("B", "b", number)])
    assert good.select("a", "b", "source_row").rows() == [(1, 2.0, 2), (1, 300.0, 3), (None, None, 4)]
    assert bad.get_column("source_row").to_list() == [5]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["1", "-2", "1,200", "1,200.0", "3.0", "3.5", "1e3", "9e18", "x", "", " 7 "]),
        min_size=1,
    )
)
def test_tiered_parsers_equal_their_full_form(values: list[str]) -> None:
    frame = pl.DataFrame({"v": values})
    for parser in (number, integer):
        fast_then_full = frame.select(pl.coalesce(parser.fast(pl.col("v")), parser.full(pl.col("v"))))
        assert fast_then_full.to_series().to_list() == frame.select(parser(pl.col("v"))).to_series().to_list()


@pytest.mark.parametrize("n_files", [1, 3])
def test_parse_many_of_identical_layout_files_matches_alone(n_files: int) -> None:
    items = [
        (f"cm{d:02d}JUL2024bhav.csv", legacy(f"{d:02d}-JUL-2024").encode()) for d in range(1, n_files + 1)
    ]
    assert together(items) == [alone(n, d) for n, d in items]


def test_a_stack_whose_files_all_fail_gives_each_its_error() -> None:
    items = [(f"sec_bhavdata_full_0{d}072024.csv", sec_full(f"0{d}-Jul-2024", "0").encode()) for d in (1, 2)]
    got = read_many(items)
    assert [type(g).__name__ for g in got] == ["SchemaDriftError", "SchemaDriftError"]
    assert [n in g.render() for (n, _), g in zip(items, got, strict=True)] == [True, True]
