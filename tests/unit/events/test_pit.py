"""as_of / first_releases / asof_join on the hand-written REVCO listing (tests/fixtures/events).

REVCO's Q3 FY2024 standalone result was filed three times: 11-Jan-2024 18:19:13 IST (v1),
20-Feb-2024 11:02:05 (v2) and 06-Mar-2024 19:00:00 (v3); the consolidated Q3 once, 11-Jan 18:25:40.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from earnest.core import schemas
from earnest.core.calendar import IST, nse_calendar
from earnest.core.errors import DataError, SchemaDriftError
from earnest.events import as_of, asof_join, build_events, first_releases
from earnest.sources.registry import read_bytes

Q3 = dt.date(2023, 12, 31)


def ist(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=IST)


@pytest.fixture(scope="module")
def events(fixtures_dir: Path) -> pl.DataFrame:
    path = fixtures_dir / "events" / "revco.json"
    (parsed,) = read_bytes(path.name, path.read_bytes())
    return build_events(parsed.frame, calendar=nse_calendar())


def q3(frame: pl.DataFrame) -> list[tuple[bool, str, int]]:
    rows = frame.filter(pl.col("period_end") == Q3).sort("consolidated")
    return rows.select("consolidated", "event_id", "version").rows()


def test_as_of_before_anything_is_known_is_empty(events: pl.DataFrame) -> None:
    assert as_of(events, ist("2024-01-11 18:19:12")).height == 0


def test_as_of_between_the_first_release_and_the_revision_gives_v1(events: pl.DataFrame) -> None:
    assert q3(as_of(events, ist("2024-01-11 18:19:13"))) == [
        (False, "NSE:1000101", 1)
    ]  # known at that instant
    assert q3(as_of(events, ist("2024-02-20 11:02:04"))) == [
        (False, "NSE:1000101", 1),
        (True, "NSE:1000102", 1),
    ]


def test_as_of_after_each_revision_gives_the_latest_version_known(events: pl.DataFrame) -> None:
    assert q3(as_of(events, ist("2024-02-20 11:02:05")))[0] == (False, "NSE:1000250", 2)
    assert q3(as_of(events, ist("2024-03-06 18:59:59")))[0] == (False, "NSE:1000250", 2)
    late = as_of(events, ist("2025-01-01 00:00:00"))
    assert q3(late) == [(False, "NSE:1000400", 3), (True, "NSE:1000102", 1)]
    # one row per period: Q3 standalone and consolidated, Q4 standalone and consolidated, FY2024
    assert late.height == 5
    assert late.select("symbol", "period_end", "consolidated", "period_kind").is_unique().all()


def test_as_of_takes_any_timezone_and_means_the_same_instant(events: pl.DataFrame) -> None:
    in_utc = dt.datetime(2024, 2, 20, 5, 32, 5, tzinfo=dt.UTC)  # = 11:02:05 IST
    assert as_of(events, in_utc).equals(as_of(events, ist("2024-02-20 11:02:05")))
    just_before = dt.datetime(2024, 2, 20, 5, 32, 4, tzinfo=dt.UTC)
    assert q3(as_of(events, just_before))[0][2] == 1


def test_as_of_refuses_a_naive_instant(events: pl.DataFrame) -> None:
    with pytest.raises(DataError) as err:
        as_of(events, dt.datetime(2024, 2, 20, 11, 2, 5))
    assert err.value.field == "t"
    assert "timezone" in str(err.value)
    assert "tzinfo=" in err.value.remedy
    with pytest.raises(DataError):
        as_of(events, dt.date(2024, 2, 20))  # type: ignore[arg-type]


def test_as_of_refuses_frames_without_aware_knowledge_time(events: pl.DataFrame) -> None:
    naive = events.with_columns(pl.col("knowledge_time").dt.replace_time_zone(None))
    with pytest.raises(SchemaDriftError) as err:
        as_of(naive, ist("2024-03-01 00:00:00"))
    assert err.value.field == "knowledge_time"
    with pytest.raises(SchemaDriftError) as err:
        as_of(events.drop("version"), ist("2024-03-01 00:00:00"))
    assert err.value.field == "version"


def test_first_releases_keep_only_version_one(events: pl.DataFrame) -> None:
    first = first_releases(events)
    assert sorted(first.get_column("event_id")) == [
        "NSE:1000101",
        "NSE:1000102",
        "NSE:1000300",
        "NSE:1000301",
        "NSE:1000302",
    ]
    assert first.get_column("is_first_release").all()


def _timeline(*rows: tuple[str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [s for s, _ in rows],
            "decision_time": [None if t is None else ist(t) for _, t in rows],
            "tag": list(range(len(rows))),
        },
        schema={"symbol": pl.Utf8, "decision_time": pl.Datetime("us", "Asia/Kolkata"), "tag": pl.Int64},
    )


def test_asof_join_attaches_the_latest_known_row_and_never_a_future_one(events: pl.DataFrame) -> None:
    standalone_q3 = events.filter(pl.col("period_end") == Q3, ~pl.col("consolidated"))
    left = _timeline(
        ("REVCO", "2024-03-06 19:00:00"),  # exactly when v3 became known: v3
        ("REVCO", "2024-01-11 18:19:12"),  # one second before v1: nothing
        ("OTHER", "2024-05-01 10:00:00"),  # another company: nothing
        ("REVCO", None),  # no time: nothing, row kept
        ("REVCO", "2024-02-25 09:00:00"),  # after v2, before v3: v2
    )
    out = asof_join(left, standalone_q3.select("symbol", "event_id", "knowledge_time"), by="symbol",
                    left_time="decision_time")  # fmt: skip
    assert out.columns == ["symbol", "decision_time", "tag", "event_id", "knowledge_time"]
    assert out.get_column("tag").to_list() == [0, 1, 2, 3, 4]  # input order, every row once
    assert out.get_column("event_id").to_list() == ["NSE:1000400", None, None, None, "NSE:1000250"]
    known = out.filter(pl.col("knowledge_time").is_not_null())
    decided = known.get_column("decision_time").dt.convert_time_zone("UTC")
    assert (known.get_column("knowledge_time") <= decided).all()


def test_asof_join_ties_nulls_and_name_clashes() -> None:
    t = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    right = pl.DataFrame(
        {
            "symbol": ["A", "A", "A"],
            "knowledge_time": [t, t, None],
            "value": [1, 2, 99],
        },
        schema={"symbol": pl.Utf8, "knowledge_time": schemas.UTC_TS, "value": pl.Int64},
    )
    left = pl.DataFrame(
        {"symbol": ["A"], "knowledge_time": [t + dt.timedelta(days=1)], "value": [0]},
        schema={"symbol": pl.Utf8, "knowledge_time": schemas.UTC_TS, "value": pl.Int64},
    )
    out = asof_join(left, right, by=["symbol"], left_time="knowledge_time")
    assert out.rows() == [("A", t + dt.timedelta(days=1), 0, t, 2)]  # the later of two equal times
    assert out.columns == ["symbol", "knowledge_time", "value", "knowledge_time_right", "value_right"]


def test_asof_join_refuses_naive_time_columns() -> None:
    naive = pl.DataFrame({"symbol": ["A"], "t": [dt.datetime(2024, 1, 1)]})
    aware = naive.with_columns(pl.col("t").dt.replace_time_zone("UTC").alias("knowledge_time"))
    with pytest.raises(SchemaDriftError) as err:
        asof_join(naive, aware, by="symbol", left_time="t")
    assert err.value.field == "t"
    with pytest.raises(SchemaDriftError) as err:
        asof_join(aware, aware.drop("knowledge_time"), by="symbol", left_time="knowledge_time")
    assert err.value.field == "knowledge_time"
