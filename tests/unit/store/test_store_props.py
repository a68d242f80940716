"""Property: ingesting any sequence of bars files (overlapping keys, repeated files, several files
per call) leaves exactly the first-seen row per key, with nullable quantities filled from later
files, and every file's counts add up.

A plain-Python model replays the same files; the store must agree with it on both backends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_builders import D1, D2, D3, bar, bars_batch, frame_of, quarantine_row, sha

from earnest.core import schemas
from earnest.store import TABLES, IngestBatch, SqlStore, open_store
from earnest.store.base import FILL_ON_CONFLICT

KEY = schemas.BAR_KEY
FILL = FILL_ON_CONFLICT["bars"]
MAYBE_QTY = st.none() | st.integers(0, 10**12)


@st.composite
def bar_rows(draw: st.DrawFn) -> dict[str, Any]:
    symbol = draw(st.sampled_from(["INFY", "TCS", "M&M"]))
    close = draw(st.sampled_from([100.0, 100.05, 99.95, 0.1 + 0.2]))
    return bar(
        instrument_id=f"ID-{symbol}",
        symbol=symbol,
        series=draw(st.sampled_from(["EQ", "BE"])),
        date=draw(st.sampled_from([D1, D2, D3])),
        open=close,
        high=close,
        low=close,
        close=close,
        volume=draw(MAYBE_QTY),
        delivery_qty=draw(MAYBE_QTY),
        isin=draw(st.none() | st.just("INE000A01011")),
    )


Files = list[list[dict[str, Any]]]
Scenario = tuple[Files, list[int], int]

# Files are drawn once, then ingested in a drawn order that may repeat them; calls take 1-3 files.
SCENARIOS = st.tuples(
    st.lists(st.lists(bar_rows(), min_size=0, max_size=6), min_size=1, max_size=4),
    st.lists(st.integers(0, 3), min_size=1, max_size=6),
    st.integers(1, 3),
)


def _batch(index: int, rows: list[dict[str, Any]]) -> IngestBatch:
    """File ``index``: the first row per key is data, later duplicates are quarantined (as the gate does)."""
    name = f"f{index}.csv"
    data: dict[tuple[Any, ...], dict[str, Any]] = {}
    rejected = []
    for line, given_row in enumerate(rows, start=2):
        row = {**given_row, "source_file": name, "source_row": line}
        key = tuple(row[k] for k in KEY)
        if key in data:
            rejected.append(quarantine_row(name, line, rule="duplicate_key"))
        else:
            data[key] = row
    return bars_batch(name, list(data.values()), quarantine=rejected, rows_total=len(rows))


def _model(files: Files, order: list[int]) -> tuple[dict[Any, dict[str, Any]], list[Any]]:
    """The rows the store must hold, and per ingest (stored, merged, quarantined) or None if skipped."""
    stored: dict[tuple[Any, ...], dict[str, Any]] = {}
    outcomes: list[Any] = []
    done: set[int] = set()
    for index in order:
        if index in done:
            outcomes.append(None)
            continue
        done.add(index)
        batch = _batch(index, files[index])
        new = merged = 0
        for row in batch.tables["bars"].iter_rows(named=True):
            key = tuple(row[k] for k in KEY)
            if key in stored:
                merged += 1
                for col in FILL:
                    if stored[key][col] is None:
                        stored[key][col] = row[col]
            else:
                new += 1
                stored[key] = dict(row)
        outcomes.append((new, merged, batch.quarantine.height))
    return stored, outcomes


def _empty(store: SqlStore) -> None:
    with store.transaction():
        for table in TABLES:
            store._execute(f"DELETE FROM {table}")
    assert store.count("bars") == 0


def _check(store: SqlStore, scenario: Scenario) -> None:
    _empty(store)
    files, order, per_call = scenario
    order = [i % len(files) for i in order]
    expected_rows, expected_outcomes = _model(files, order)
    outcomes = []
    for start in range(0, len(order), per_call):
        chunk = order[start : start + per_call]
        outcomes += store.ingest_many([_batch(i, files[i]) for i in chunk])
    for outcome, expected in zip(outcomes, expected_outcomes, strict=True):
        assert outcome.rows_stored + outcome.rows_merged + outcome.rows_quarantined == (
            0 if outcome.skipped else outcome.rows_total
        )
        got = (
            None if outcome.skipped else (outcome.rows_stored, outcome.rows_merged, outcome.rows_quarantined)
        )
        assert got == expected, outcome
    expected = frame_of(schemas.BARS, list(expected_rows.values())).sort(list(KEY))
    assert store.bars().sort(list(KEY)).equals(expected)
    assert store.count("ingested_files") == len(set(order))
    assert all(store.file_seen(sha(f"f{i}.csv")) for i in order)
    assert store.count("quarantine") == sum(o[2] for o in expected_outcomes if o is not None)


@pytest.fixture
def memory_store() -> Iterator[SqlStore]:
    with open_store("duckdb:///:memory:") as store:
        yield store


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[SqlStore]:
    with open_store(postgres_url) as store:
        yield store


# One store per test, emptied before each example (cheaper than migrating a new one each time).
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=SCENARIOS)
def test_ingest_matches_the_model_on_duckdb(memory_store: SqlStore, scenario: Scenario) -> None:
    _check(memory_store, scenario)


@pytest.mark.postgres
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=SCENARIOS)
def test_ingest_matches_the_model_on_postgres(pg_store: SqlStore, scenario: Scenario) -> None:
    _check(pg_store, scenario)


def test_model_sanity() -> None:
    """The model itself on a hand-checked case: a repeated file, an overlap and a duplicate line."""
    first = [bar(delivery_qty=None), bar(date=D2), bar(close=1.0)]  # line 4 duplicates line 2
    second = [bar(delivery_qty=5, close=2.0), bar(date=dt.date(2024, 7, 9))]
    rows, outcomes = _model([first, second], [0, 1, 0])
    assert outcomes == [(2, 0, 1), (1, 1, 0), None]
    infy_d1 = rows[("NSE", "INE009A01021", "EQ", D1)]
    assert (infy_d1["close"], infy_d1["delivery_qty"], infy_d1["source_file"]) == (1510.0, 5, "f0.csv")


# ---- instruments derived from price files: one call equals one call per file --------------------

INSTRUMENT_ROWS = st.fixed_dictionaries(
    {
        "instrument_id": st.sampled_from(["INE009A01021", "INE467B01029"]),
        "isin": st.none() | st.just("INE009A01021"),
        "exchange": st.just("NSE"),
        "symbol": st.sampled_from(["INFY", "INFOSYSTCH", "TCS"]),
        "name": st.none() | st.sampled_from(["Infosys", "TCS Ltd"]),
        "series": st.none() | st.just("EQ"),
        "face_value": st.none() | st.sampled_from([1.0, 5.0]),
        "status": st.sampled_from(["unknown", "listed", "delisted"]),
        "first_seen": st.none() | st.sampled_from([D1, D2, D3]),
        "last_seen": st.none() | st.sampled_from([D1, D2, D3]),
        "source": st.just("test"),
    }
)


def _instrument_batch(index: int, rows: list[dict[str, Any]]) -> IngestBatch:
    """A price file whose only counted row is one bar; its instrument rows are derived extras."""
    name = f"i{index}.csv"
    return IngestBatch(
        sha256=sha(name),
        file_name=name,
        kind="bars",
        rows_total=1,
        tables={
            "bars": frame_of(schemas.BARS, [bar(date=dt.date(2024, 1, 1) + dt.timedelta(days=index))]),
            "instruments": frame_of(schemas.INSTRUMENTS, rows),
        },
        code_version="test",
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(INSTRUMENT_ROWS, min_size=1, max_size=4), min_size=1, max_size=5))
def test_instruments_merge_the_same_in_one_call(memory_store: SqlStore, files: Files) -> None:
    batches = [_instrument_batch(i, rows) for i, rows in enumerate(files)]
    _empty(memory_store)
    for batch in batches:
        memory_store.ingest_many([batch])
    one_by_one = memory_store.read("instruments").sort("instrument_id")
    _empty(memory_store)
    outcomes = memory_store.ingest_many(batches)
    together = memory_store.read("instruments").sort("instrument_id")
    assert together.equals(one_by_one), f"\n{together}\nexpected\n{one_by_one}"
    assert [(o.rows_stored, o.rows_merged) for o in outcomes] == [(1, 0)] * len(batches)
