"""Materialised features on a real DuckDB file: round trip, idempotency, incremental == full,
spec-hash guard, panel loading with enough history, reads long and wide, the workflow."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from earnest.core.calendar import eod_known_utc, nse_calendar
from earnest.features import FeatureError, FeatureSpec, Registry, compute_features
from earnest.features.materialise import build_features, load_panel, read_features, write_features
from earnest.features.relative import SPECS as RELATIVE
from earnest.features.seasonality import SPECS as SEASONALITY
from earnest.features.spec import eod_known_at
from earnest.features.technical import SPECS as TECHNICAL
from earnest.store import SqlStore, open_store
from earnest.workflows import features as wf

SESSIONS = nse_calendar().sessions_between(dt.date(2024, 1, 1), dt.date(2024, 3, 31))[:40]


def mean_3(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        "instrument_id",
        "date",
        eod_known_at(pl.col("date")).alias("known_at"),
        pl.col("close").rolling_mean(3).over("instrument_id").alias("mean_3"),
    )


MEAN = FeatureSpec("mean_3", "mean close of 3 sessions", mean_3, ("bars",), 2, ("mean_3",))
DOW = SEASONALITY[0]
SPECS = (MEAN, DOW)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(f"duckdb:///{tmp_path / 'features.duckdb'}")
    try:
        yield s
    finally:
        s.close()


def bars(symbol: str, days: list[dt.date], base: float) -> pl.DataFrame:
    closes = [base + k for k in range(len(days))]
    return pl.DataFrame(
        {
            "exchange": "NSE",
            "instrument_id": f"IN{symbol}",
            "symbol": symbol,
            "series": "EQ",
            "date": days,
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": 100,
            "knowledge_time": [eod_known_utc(d) for d in days],
            "source_file": "test",
        }
    )


def put(store: SqlStore, *frames: pl.DataFrame) -> None:
    frame = pl.concat(frames, how="diagonal_relaxed")
    store.upsert("bars", frame)
    inst = frame.select("instrument_id", "exchange", "symbol").unique().with_columns(status=pl.lit("listed"))
    store.upsert("instruments", inst.with_columns(source=pl.lit("test")))


def expected(store: SqlStore) -> pl.DataFrame:
    panel = store.bars().sort("instrument_id", "date")
    return compute_features(panel, SPECS, layout="long")


def test_build_round_trip_idempotent(store: SqlStore) -> None:
    put(store, bars("AAA", SESSIONS[:30], 10.0), bars("BBB", SESSIONS[:30], 50.0))
    first = build_features(store, SPECS)
    assert first.rows_written == {"mean_3": 60, "day_of_week": 60}
    assert first.computed_from == {"mean_3": None, "day_of_week": None}
    stored = read_features(store)
    assert_frame_equal(stored, expected(store))
    assert stored.filter(pl.col("feature") == "mean_3").get_column("value").to_list()[:3] == [
        None,
        None,
        11.0,
    ]
    again = build_features(store, SPECS)
    assert again.total_rows == 0
    assert again.computed_from == {}
    assert store.count("features") == 120


def test_incremental_new_days_equal_full_recompute(store: SqlStore) -> None:
    put(store, bars("AAA", SESSIONS[:30], 10.0), bars("BBB", SESSIONS[:30], 50.0))
    build_features(store, SPECS)
    put(store, bars("AAA", SESSIONS[:32], 10.0), bars("BBB", SESSIONS[:32], 50.0))
    calls: list[tuple[int, int, str]] = []
    report = build_features(store, SPECS, progress=lambda d, t, n: calls.append((d, t, n)))
    assert report.rows_written == {"mean_3": 4, "day_of_week": 4}
    assert report.computed_from["mean_3"] == SESSIONS[29] + dt.timedelta(days=1)
    assert calls == [(1, 2, "mean_3"), (2, 2, "day_of_week")]
    assert_frame_equal(read_features(store), expected(store))


def test_new_instrument_gets_its_whole_history(store: SqlStore) -> None:
    put(store, bars("AAA", SESSIONS[:30], 10.0))
    build_features(store, [MEAN])
    put(store, bars("CCC", SESSIONS[10:30], 70.0))
    report = build_features(store, [MEAN])
    assert report.rows_written == {"mean_3": 20}
    got = read_features(store, symbols=["CCC"])
    assert got.get_column("date").to_list() == SESSIONS[10:30]
    assert got.get_column("value").to_list()[2] == 71.0


def test_changed_basis_is_refused_not_mixed(store: SqlStore) -> None:
    put(store, bars("AAA", SESSIONS[:10], 10.0))
    build_features(store, [MEAN])
    with pytest.raises(FeatureError, match="another spec or input basis"):
        build_features(store, [MEAN], adjusted=True)
    report = build_features(store, [MEAN], adjusted=True, rebuild=True)
    assert (report.rows_written, report.rows_inserted, report.rows_replaced) == ({"mean_3": 10}, 0, 10)
    assert store.query("SELECT count(DISTINCT spec_hash) AS n FROM features").item() == 1


def test_adjusted_build_uses_adjusted_prices(store: SqlStore) -> None:
    put(store, bars("AAA", SESSIONS[:6], 10.0))
    action = {
        "action_id": "split",
        "exchange": "NSE",
        "instrument_id": "INAAA",
        "symbol": "AAA",
        "ex_date": SESSIONS[3],
        "action_type": "split",
        "price_factor": 0.5,
        "source": "user",
        "status": "confirmed",
        "knowledge_time": eod_known_utc(SESSIONS[0]),
    }
    store.upsert("corporate_actions", pl.DataFrame([action]))
    build_features(store, [MEAN], adjusted=True)
    # closes 10, 11, 12 | 13, 14, 15 with the first three halved: 5, 5.5, 6, 13, 14, 15
    values = read_features(store).get_column("value").to_list()
    assert values == [None, None, 5.5, 8.166666666666666, 11.0, 14.0]


def test_load_panel_reads_enough_history_for_a_suspended_instrument(store: SqlStore) -> None:
    suspended = SESSIONS[:5] + SESSIONS[38:40]
    put(store, bars("AAA", SESSIONS, 10.0), bars("SUS", suspended, 30.0))
    panel = load_panel(store, start=SESSIONS[39], lookback=4)
    sus = panel.filter(pl.col("symbol") == "SUS")
    assert sus.get_column("date").to_list() == suspended  # re-read from its first bar
    aaa = panel.filter(pl.col("symbol") == "AAA")
    assert aaa.filter(pl.col("date") < SESSIONS[39]).height >= 4
    assert aaa.height < len(SESSIONS)  # a window, not all history


def test_read_filters_and_wide(store: SqlStore) -> None:
    put(store, bars("AAA", SESSIONS[:5], 10.0), bars("BBB", SESSIONS[:5], 50.0))
    build_features(store, SPECS)
    got = read_features(store, features=["mean_3"], symbols=["bbb"], start=SESSIONS[2], end=SESSIONS[3])
    assert got.select("instrument_id", "date", "value").rows() == [
        ("INBBB", SESSIONS[2], 51.0),
        ("INBBB", SESSIONS[3], 52.0),
    ]
    wide = read_features(store, wide=True)
    assert wide.columns == ["instrument_id", "date", "known_at", "day_of_week", "mean_3"]
    assert wide.height == 10
    assert read_features(store, features=[]).is_empty()


def test_workflow_build_and_list(store: SqlStore) -> None:
    put(store, bars("AAA", SESSIONS[:5], 10.0))
    registry = Registry(SPECS)
    report = wf.build(store, features=["day_of_week"], registry=registry)
    assert report.rows_written == {"day_of_week": 5}
    assert wf.read(store, features=["day_of_week"], registry=registry).height == 5
    rows = wf.list_features(registry)
    assert [r["name"] for r in rows] == ["mean_3", "day_of_week"]
    listed = wf.features_frame()
    assert {"fo_expiry", "results_season"} <= set(listed.get_column("name").to_list())


def index_rows(name: str, days: list[dt.date]) -> pl.DataFrame:
    closes = [1000.0 + k for k in range(len(days))]
    return pl.DataFrame(
        {
            "index_name": name,
            "date": days,
            "close": closes,
            "knowledge_time": [eod_known_utc(d) for d in days],
            "source_file": "test",
        }
    )


def test_specs_whose_input_the_store_lacks_are_skipped_with_the_reason(store: SqlStore) -> None:
    band = next(s for s in TECHNICAL if s.name == "band_distance")
    nifty, _, sector = RELATIVE
    put(store, bars("AAA", SESSIONS[:10], 10.0))
    report = build_features(store, [band, nifty, sector])
    assert report.rows_written == {}
    assert set(report.skipped) == {"band_distance", "relative_nifty50", "sector_relative"}
    assert "sec_list" in report.skipped["band_distance"]
    assert "no NIFTY 50 rows in index_bars" in report.skipped["relative_nifty50"]
    assert "no sector per instrument" in report.skipped["sector_relative"]
    store.upsert("index_bars", index_rows("NIFTY BANK", SESSIONS[:10]))
    assert "no NIFTY 50 rows" in build_features(store, [nifty]).skipped["relative_nifty50"]

    store.upsert("index_bars", index_rows("NIFTY 50", SESSIONS[:10]))
    # a 10 % band from the first session, published at 09:15 IST that day (as sec_list files are)
    band_row = {"symbol": "AAA", "series": "EQ", "band_pct": 10.0, "effective_date": SESSIONS[0],
                "knowledge_time": dt.datetime.combine(SESSIONS[0], dt.time(3, 45), dt.UTC), "source_file": "t"}  # fmt: skip
    store.upsert("price_bands", pl.DataFrame([band_row]))
    report = build_features(store, [band, nifty, sector])
    assert report.rows_written == {"band_distance": 20, "relative_nifty50": 40}
    assert list(report.skipped) == ["sector_relative"]
    wide = read_features(store, wide=True)
    # closes 10, 11, 12, ...: on the second session the upper limit is 10 * 1.1 = 11, the close 11
    assert wide.get_column("band_upper_dist").to_list()[:2] == [None, pytest.approx(0.0, abs=1e-12)]
    assert wide.get_column("band_lower_dist").to_list()[1] == pytest.approx((11 - 9) / 11)
    # the index rises by 1 a session from 1000: rel_ret_5d on session 5 is 15/10 - 1005/1000
    assert wide.get_column("rel_ret_5d").to_list()[5] == pytest.approx(15 / 10 - 1005 / 1000)


def test_stale_values_of_a_spec_the_store_cannot_feed_are_skipped_not_refused(store: SqlStore) -> None:
    # rows left by an older spec under an output name sector_relative now owns (no sectors stored)
    _, _, sector = RELATIVE
    put(store, bars("AAA", SESSIONS[:3], 10.0))
    old = pl.DataFrame(
        {"instrument_id": "INAAA", "date": SESSIONS[:3], "feature": "sector_rank_ret_20d", "value": None,
         "known_at": [eod_known_utc(d) for d in SESSIONS[:3]]},
        schema_overrides={"value": pl.Float64},
    )  # fmt: skip
    write_features(store, old, spec_hash="an older spec", computed_at=dt.datetime.now(dt.UTC))
    report = build_features(store, [sector, MEAN])
    assert "no sector per instrument" in report.skipped["sector_relative"]
    assert report.rows_written == {"mean_3": 3}
    with pytest.raises(FeatureError, match="another spec"):  # one the store can feed is refused
        build_features(store, [MEAN], adjusted=True)
