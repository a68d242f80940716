"""The generic event import on hand-written CSVs (tests/fixtures/custom_events, see the README there)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earnest.core import schemas
from earnest.core.errors import SchemaDriftError
from earnest.sources.base import ParsedFile
from earnest.sources.custom_events import (
    CUSTOM_EVENTS,
    READERS,
    CustomEventsReader,
    RowError,
    field_value,
    parse_time,
)

READER = CustomEventsReader()
UTC = dt.UTC


def _parse(text: str | bytes, name: str = "events.csv") -> ParsedFile:
    data = text.encode() if isinstance(text, str) else text
    return READER.parse(name, data, sha256="s" * 64)


def _fixture(fixtures_dir: Path, name: str) -> ParsedFile:
    return _parse((fixtures_dir / "custom_events" / name).read_bytes(), name)


def test_good_rows(fixtures_dir: Path) -> None:
    parsed = _fixture(fixtures_dir, "events.csv")
    assert (parsed.kind, parsed.target, parsed.rows_total) == ("custom_events", "custom_events", 3)
    assert parsed.frame.columns == list(CUSTOM_EVENTS)
    assert parsed.rejects.height == 0
    rows = parsed.frame.drop("event_id").to_dicts()
    assert rows == [
        {
            "symbol": "TCS",
            "isin": "INE467B01029",
            "event_type": "order_win",
            "event_time": dt.datetime(2024, 5, 2, 13, 45, tzinfo=UTC),  # 19:15 IST
            "knowledge_time": dt.datetime(2024, 5, 2, 13, 45, tzinfo=UTC),
            "fields": '{"client":"Acme Bank","order_value_cr":1250.5}',
            "source_file": "events.csv",
            "source_row": 2,
        },
        {
            "symbol": "INFY",
            "isin": None,
            "event_type": "guidance",
            "event_time": dt.datetime(2024, 4, 18, 10, 35, tzinfo=UTC),
            "knowledge_time": dt.datetime(2024, 4, 18, 11, 0, tzinfo=UTC),
            "fields": '{"note":"cut FY25 guidance","order_value_cr":-2}',
            "source_file": "events.csv",
            "source_row": 3,
        },
        {
            "symbol": None,
            "isin": "INE009A01021",
            "event_type": "order_win",
            "event_time": dt.datetime(2024, 6, 3, 10, 0, tzinfo=UTC),
            "knowledge_time": dt.datetime(2024, 6, 3, 10, 0, tzinfo=UTC),
            "fields": '{"client":"Foo, Inc.","note":"007","order_value_cr":300}',
            "source_file": "events.csv",
            "source_row": 4,
        },
    ]
    ids = parsed.frame.get_column("event_id").to_list()
    assert len(set(ids)) == 3
    assert all(len(i) == 64 for i in ids)
    assert json.loads(rows[2]["fields"]) == {"client": "Foo, Inc.", "note": "007", "order_value_cr": 300}


def test_bad_rows_become_rejects_naming_line_field_and_remedy(fixtures_dir: Path) -> None:
    parsed = _fixture(fixtures_dir, "events_bad.csv")
    assert parsed.rows_total == 10
    assert parsed.frame.get_column("source_row").to_list() == [2]
    assert parsed.rejects.columns == list(schemas.QUARANTINE)
    got = [(r["source_row"], r["field"], r["rule"]) for r in parsed.rejects.to_dicts()]
    assert got == [
        (3, "Event_Time", "parse"),
        (4, "Event_Time", "parse"),
        (5, "Symbol", "parse"),
        (6, "Knowledge_Time", "knowledge_before_event"),
        (7, None, "duplicate"),
        (8, "ISIN", "parse"),
        (9, "Event_Time", "parse"),
        (10, "Event_Type", "parse"),
        (11, None, "malformed_row"),
    ]
    reason = dict(zip(parsed.rejects["source_row"], parsed.rejects["reason"], strict=True))
    assert "no UTC offset" in reason[3]
    assert "add the offset, e.g. 2024-05-02T19:15:00+05:30" in reason[3]
    assert "offset earnest cannot read" in reason[4]
    assert "fill symbol or isin" in reason[5]
    assert "before event_time" in reason[6]
    assert "same event as line 2" in reason[7]
    assert "not an ISIN" in reason[8]
    assert "ISO 8601" in reason[9]
    assert (
        parsed.rejects.filter(pl.col("source_row") == 3)["raw"].item()
        == "TCS,,dividend,2024-05-02T19:15:00,,10"
    )
    assert set(parsed.rejects["source_file"]) == {"events_bad.csv"}
    assert set(parsed.rejects["target"]) == {"custom_events"}


def test_sniff_by_header() -> None:
    assert READER.sniff("x.csv", "symbol,event_type,event_time\nTCS,a,2024-01-01T00:00:00Z\n")
    assert READER.sniff("x.csv", "\ufeffISIN , Event_Type, EVENT_TIME,amount\n")
    assert not READER.sniff("x.csv", "symbol,event_time\n")
    assert not READER.sniff("x.csv", "company,event_type,event_time\n")
    assert not READER.sniff("x.csv", "date,symbol,open,high,low,close,volume\n")
    assert not READER.sniff("x.csv", "")
    assert READERS[0].kind == "custom_events"


def test_no_other_reader_claims_the_layout(fixtures_dir: Path) -> None:
    """So the registry may list this reader anywhere before the generic bars CSV."""
    from earnest.sources.registry import readers

    head = (fixtures_dir / "custom_events" / "events.csv").read_text()[:4096]
    assert [r.kind for r in readers() if r.sniff("events.csv", head) and r.kind != "custom_events"] == []


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("event_type,event_time,amount", "symbol or isin"),
        ("symbol,event_time", "event_type"),
        ("isin,event_type", "event_time"),
    ],
)
def test_missing_columns_are_schema_drift(header: str, missing: str) -> None:
    with pytest.raises(SchemaDriftError) as err:
        _parse(header + "\n")
    assert err.value.field == missing
    assert err.value.file == "events.csv"


def test_duplicate_or_unnamed_columns_are_schema_drift() -> None:
    with pytest.raises(SchemaDriftError, match="same name"):
        _parse("symbol,SYMBOL,event_type,event_time\n")
    with pytest.raises(SchemaDriftError, match="no name"):
        _parse("symbol,,event_type,event_time\nA,b,c,2024-01-01T00:00Z\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-02T19:15:00+05:30", dt.datetime(2024, 5, 2, 13, 45, tzinfo=UTC)),
        ("2024-05-02T19:15:00+0530", dt.datetime(2024, 5, 2, 13, 45, tzinfo=UTC)),
        ("2024-05-02 19:15+05:30", dt.datetime(2024, 5, 2, 13, 45, tzinfo=UTC)),
        ("2024-05-02T13:45:00.250Z", dt.datetime(2024, 5, 2, 13, 45, 0, 250000, tzinfo=UTC)),
        ("2024-05-02T01:00:00-04:00", dt.datetime(2024, 5, 2, 5, 0, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_iso_with_offset(text: str, expected: dt.datetime) -> None:
    assert parse_time(text, column="event_time") == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2024-05-02T19:15:00", "no UTC offset"),
        ("2024-05-02 19:15", "no UTC offset"),
        ("2024-05-02T19:15:00 IST", "offset earnest cannot read"),
        ("2024-05-02T19:15:00+5:30", "offset earnest cannot read"),
        ("2024-05-02T19:15:00+05", "offset earnest cannot read"),
        ("2024-05-02T19:15:00+15:00", "beyond"),
        ("2024-02-30T10:00:00Z", "not a real date"),
        ("2024-05-02", "ISO 8601"),
        ("yesterday", "ISO 8601"),
    ],
)
def test_parse_time_rejects_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(RowError) as err:
        parse_time(text, column="event_time")
    assert err.value.field == "event_time"
    assert why in err.value.reason


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), ("-0.5", -0.5), ("1e6", 1e6), ("+3", 3), ("007", "007"), ("1,234", "1,234"), ("NaN", "NaN"),
     ("inf", "inf"), ("1.", "1."), ("abc", "abc"), ("12345678901234567890", 12345678901234567890.0)],
)  # fmt: skip
def test_field_values_numbers_as_numbers(text: str, value: object) -> None:
    got = field_value(text)
    assert got == value
    assert type(got) is type(value)


def test_same_instant_in_another_offset_is_the_same_event() -> None:
    a = _parse("symbol,event_type,event_time,x\nTCS,Buyback,2024-05-02T19:15:00+05:30,1.50\n")
    b = _parse("SYMBOL,EVENT_TYPE,EVENT_TIME,x\n tcs ,buyback,2024-05-02T13:45:00Z,1.5\n")
    assert a.frame["event_id"].to_list() == b.frame["event_id"].to_list()


def test_different_fields_or_company_key_are_different_events() -> None:
    base = "symbol,isin,event_type,event_time,x\n"
    ids = {
        _parse(base + row).frame["event_id"].item()
        for row in (
            "TCS,,buyback,2024-05-02T13:45:00Z,1\n",
            "TCS,,buyback,2024-05-02T13:45:00Z,2\n",
            "TCS,,buyback,2024-05-02T13:45:01Z,1\n",
            "TCS,,dividend,2024-05-02T13:45:00Z,1\n",
            "TCS,INE467B01029,buyback,2024-05-02T13:45:00Z,1\n",
        )
    }
    assert len(ids) == 5


def test_knowledge_time_equal_to_event_time_is_fine() -> None:
    parsed = _parse(
        "isin,event_type,event_time,knowledge_time\nINE467B01029,a,2024-05-02T13:45:00Z,2024-05-02T19:15+05:30\n"
    )
    assert parsed.rejects.height == 0
    assert parsed.frame["knowledge_time"].item() == parsed.frame["event_time"].item()


def test_empty_file_with_header_only() -> None:
    parsed = _parse("symbol,event_type,event_time\n")
    assert (parsed.rows_total, parsed.frame.height, parsed.rejects.height) == (0, 0, 0)
    assert parsed.frame.columns == list(CUSTOM_EVENTS)


# ---- properties ---------------------------------------------------------------------------------
_offsets = st.sampled_from(["+05:30", "Z", "-04:00", "+0000", "+09:00"])
_rows = st.lists(
    st.tuples(
        st.sampled_from(["TCS", "INFY", "SBIN"]),
        st.sampled_from(["order_win", "Guidance", "BUYBACK"]),
        st.datetimes(min_value=dt.datetime(2015, 1, 1), max_value=dt.datetime(2030, 1, 1)).map(
            lambda d: d.replace(microsecond=0)
        ),
        _offsets,
        st.one_of(
            st.none(), st.integers(-(10**6), 10**6), st.text('abc, "x', min_size=1, max_size=5).map(str.strip)
        ),
    ),
    max_size=12,
)


def _csv(rows: list[tuple[str, str, dt.datetime, str, object]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["symbol", "event_type", "event_time", "note"])
    for sym, kind, when, off, note in rows:
        w.writerow([sym, kind, when.isoformat() + off, "" if note is None else note])
    return buf.getvalue().encode()


def _events(parsed: ParsedFile) -> dict[str, tuple[object, ...]]:
    return {r[0]: r[1:] for r in parsed.frame.drop("source_row", "source_file").iter_rows()}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_parse_is_idempotent_and_ids_survive_reordering(data: st.DataObject) -> None:
    rows = data.draw(_rows)
    first, again = _parse(_csv(rows)), _parse(_csv(rows))
    assert first.frame.equals(again.frame)
    assert first.rejects.drop("quarantined_at").equals(again.rejects.drop("quarantined_at"))
    other = _parse(_csv(data.draw(st.permutations(rows))))
    assert _events(other) == _events(first)
    # every row is an event or a duplicate of an earlier one, whatever the order
    assert first.frame.height + first.rejects.height == len(rows)
    assert set(first.rejects["rule"].to_list()) <= {"duplicate"}
