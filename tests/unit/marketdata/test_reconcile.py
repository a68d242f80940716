"""Reconciliation against a real DuckDB store: idempotent, never resurrects a rejection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from earnest.config import QualitySettings
from earnest.marketdata import adjusted_bars, reconcile
from earnest.store import SqlStore, open_store

MakeBars = Callable[..., pl.DataFrame]
MakeAction = Callable[..., dict[str, Any]]
MakeActions = Callable[[list[dict[str, Any]]], pl.DataFrame]
SETTINGS = QualitySettings()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_store(f"duckdb:///{tmp_path / 'e.duckdb'}")
    try:
        yield s
    finally:
        s.close()


def _findings(store: SqlStore) -> pl.DataFrame:
    return store.read("quality_findings", order_by=["rule", "instrument_id", "date"])


def _seed(store: SqlStore, make_bars: MakeBars) -> pl.DataFrame:
    split = make_bars([100.0] * 5 + [50.2, 50.8, 51.0, 50.5], prev_close="raw")
    d = split.get_column("date")
    gappy = make_bars([80.0] * 9, instrument_id="INE222C01012", symbol="GHI").filter(pl.col("date") != d[4])
    store.upsert("bars", pl.concat([split, gappy]))
    return split


def test_reconcile_infers_stores_and_reports(store: SqlStore, make_bars: MakeBars) -> None:
    split = _seed(store, make_bars)
    result = reconcile(store, settings=SETTINGS)
    assert result.instruments == 2
    assert result.actions_inferred.height == 1
    stored = store.read("corporate_actions")
    assert (
        stored.get_column("action_id").to_list() == result.actions_inferred.get_column("action_id").to_list()
    )
    assert stored.row(0, named=True)["ex_date"] == split.get_column("date")[5]
    assert result.findings_by_rule == {
        "calendar_gap": 1,
        "stale_price": 0,
        "unexplained_jump": 0,
        "inferred_action": 1,
    }
    assert "1 action(s) inferred over 2 instrument(s)" in str(result)
    found = _findings(store)
    assert found.get_column("rule").to_list() == ["calendar_gap", "inferred_action"]
    assert "confirm or reject action" in found.get_column("detail")[1]
    adj = adjusted_bars(store, symbols=["ABC"])
    assert adj.get_column("adj_close").to_list()[:5] == [50.0] * 5


def test_rerun_is_idempotent_and_rejection_sticks(store: SqlStore, make_bars: MakeBars) -> None:
    _seed(store, make_bars)
    first = reconcile(store, settings=SETTINGS)
    again = reconcile(store, settings=SETTINGS)
    assert again.actions_inferred.is_empty()
    assert _findings(store).height == first.findings.height  # replaced, not piled up
    action_id = first.actions_inferred.get_column("action_id")[0]
    assert store.set_action_status([action_id], "rejected") == 1
    third = reconcile(store, settings=SETTINGS)
    assert third.actions_inferred.is_empty()
    stored = store.read("corporate_actions")
    assert stored.select("action_id", "status").rows() == [(action_id, "rejected")]
    # rejected, the split is no longer applied: the drop is now an unexplained jump, and nothing awaits review
    assert third.findings_by_rule["unexplained_jump"] == 1
    assert third.findings_by_rule["inferred_action"] == 0
    assert sorted(_findings(store).get_column("rule").to_list()) == ["calendar_gap", "unexplained_jump"]


def test_reconcile_only_touches_the_instruments_asked(store: SqlStore, make_bars: MakeBars) -> None:
    _seed(store, make_bars)
    reconcile(store, settings=SETTINGS)
    before = _findings(store)
    result = reconcile(store, instrument_ids=["INE222C01012"], settings=SETTINGS)
    assert result.instruments == 1
    assert result.findings_by_rule["calendar_gap"] == 1
    after = _findings(store)
    assert after.drop("found_at").sort(pl.all()).equals(before.drop("found_at").sort(pl.all()))
    assert reconcile(store, instrument_ids=["INE404N01010"], settings=SETTINGS).findings.is_empty()


def test_known_action_in_the_store_suppresses_inference(
    store: SqlStore, make_bars: MakeBars, make_action: MakeAction, make_actions: MakeActions
) -> None:
    split = _seed(store, make_bars)
    store.upsert("corporate_actions", make_actions([make_action(split.get_column("date")[5], 0.5)]))
    result = reconcile(store, settings=SETTINGS)
    assert result.actions_inferred.is_empty()
    assert result.findings_by_rule["unexplained_jump"] == 0
