"""Contract: a feature row upserted again replaces the stored one (``REPLACE_ON_CONFLICT``), so a
feature rebuild after a changed input changes what is stored, on every backend."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from store_builders import D1, D2, D3, frame_of

from earnest.core import schemas
from earnest.core.calendar import eod_known_utc, nse_calendar
from earnest.features import build_features, default_registry, read_features
from earnest.store import SqlStore
from earnest.store.base import FILL_ON_CONFLICT, REPLACE_ON_CONFLICT

SESSIONS = nse_calendar().sessions_between(dt.date(2024, 1, 1), dt.date(2024, 1, 31))[:6]
COMPUTED = dt.datetime(2024, 8, 1, tzinfo=dt.UTC)


def feature_rows(values: list[float | None], *, spec_hash: str) -> pl.DataFrame:
    rows = [
        {"instrument_id": "INE009A01021", "date": day, "feature": "rsi_14", "value": v,
         "known_at": eod_known_utc(day), "spec_hash": spec_hash, "computed_at": COMPUTED}
        for day, v in zip((D1, D2, D3), values, strict=True)
    ]  # fmt: skip
    return frame_of(schemas.FEATURES, rows)


def test_a_feature_row_upserted_again_replaces_value_and_hash(store: SqlStore) -> None:
    assert store.upsert("features", feature_rows([40.0, None, 55.5], spec_hash="old")) == 3
    assert store.upsert("features", feature_rows([41.0, 52.0, None], spec_hash="new")) == 0  # replaced
    got = store.read("features", order_by=("date",))
    assert got.get_column("value").to_list() == [41.0, 52.0, None]
    assert got.get_column("spec_hash").to_list() == ["new"] * 3
    assert store.count("features") == 3
    assert "features" in REPLACE_ON_CONFLICT
    assert not set(REPLACE_ON_CONFLICT) & set(FILL_ON_CONFLICT)  # a table has one conflict rule


RETURNS = default_registry().select(["returns"])


def stored(store: SqlStore, feature: str) -> list[float | None]:
    return read_features(store, features=[feature]).get_column("value").to_list()


def test_a_rebuild_after_a_changed_input_changes_the_stored_value(store: SqlStore) -> None:
    closes = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    bars = pl.DataFrame(
        {"exchange": "NSE", "instrument_id": "INAAA", "symbol": "AAA", "series": "EQ", "date": SESSIONS,
         "open": closes, "high": closes, "low": closes, "close": closes, "volume": 100,
         "knowledge_time": [eod_known_utc(d) for d in SESSIONS], "source_file": "test"}
    )  # fmt: skip
    store.upsert("bars", bars)
    store.upsert("instruments", pl.DataFrame([{"instrument_id": "INAAA", "exchange": "NSE", "symbol": "AAA",
                                               "status": "listed", "source": "test"}]))  # fmt: skip
    build_features(store, RETURNS, adjusted=True)
    assert stored(store, "ret_1d")[3] == 13 / 12 - 1
    assert stored(store, "ret_5d")[5] == 15 / 10 - 1

    # the input changes: a 2:1 split going ex on the fourth session is confirmed later
    split = {"action_id": "split", "exchange": "NSE", "instrument_id": "INAAA", "symbol": "AAA",
             "ex_date": SESSIONS[3], "action_type": "split", "price_factor": 0.5, "source": "user",
             "status": "confirmed", "knowledge_time": eod_known_utc(SESSIONS[5])}  # fmt: skip
    store.upsert("corporate_actions", pl.DataFrame([split]))
    assert build_features(store, RETURNS, adjusted=True).total_rows == 0  # no new session: nothing to do
    report = build_features(store, RETURNS, adjusted=True, rebuild=True)
    assert (report.rows_written, report.rows_replaced) == ({"returns": 24}, 24)  # 6 sessions x 4 outputs
    # adjusted closes 5, 5.5, 6 | 13, 14, 15
    assert stored(store, "ret_1d") == pytest.approx(
        [None, 0.1, 6 / 5.5 - 1, 13 / 6 - 1, 14 / 13 - 1, 15 / 14 - 1]
    )
    assert stored(store, "ret_5d")[5] == pytest.approx(15 / 5 - 1)
    assert store.count("features") == 24
