"""The trial ledger on both store backends: upsert by variant key, runs, BH across a question."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.multitest import multipletests

from earnest.core import schemas
from earnest.core.errors import DataError
from earnest.lab.ledger import TrialResult, adjusted_p, ledger, record_trials
from earnest.lab.spec import Hypothesis, Variant, parse_hypothesis
from earnest.store import SqlStore, open_store
from pg import postgres_admin_url, postgres_migrated_url, postgres_template  # noqa: F401

T1 = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 1, 6, 11, 30, tzinfo=dt.UTC)


@pytest.fixture(params=[pytest.param("duckdb"), pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated, empty store on each backend."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'earnest.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_migrated_url")
    with open_store(url) as opened:
        yield opened


def hypothesis(
    *, horizons: str = "[3]", question: str = "blockbuster", selector: str = "pat_yoy > 0.5"
) -> Hypothesis:
    return parse_hypothesis(
        f'name = "h"\nquestion = "{question}"\nhorizons = {horizons}\n'
        f'[period]\nstart = 2018-04-01\nend = 2021-12-31\n[event]\nselector = "{selector}"\n'
    )


def result(v: Variant, p: float | None, *, n: int = 42, effect: float | None = 0.01) -> TrialResult:
    return TrialResult(v, n, effect, p, {"data_hash": "abc", "seed": 0})


def test_the_same_spec_twice_is_one_trial_run_twice(store: SqlStore) -> None:
    (v,) = hypothesis().variants()
    first = record_trials(store, [result(v, 0.04)], now=T1)
    assert (first.n_trials, first.new, first.n_reruns) == (1, (v.key(),), 0)
    again = record_trials(store, [result(v, 0.03, n=50, effect=0.02)], now=T2)
    assert (again.n_trials, again.new, again.n_reruns, again.recorded) == (1, (), 1, (v.key(),))
    row = ledger(store, "blockbuster").row(0, named=True)
    assert row["trial_key"] == v.key()
    assert row["runs"] == 2
    assert (row["first_run_at"], row["last_run_at"]) == (T1, T2)
    assert (row["n_events"], row["effect"], row["p_value"]) == (50, 0.02, 0.03)  # the latest figures
    assert (row["question"], row["hypothesis_name"], row["horizon"], row["outcome"]) == (
        "blockbuster",
        "h",
        3,
        "abnormal",
    )
    assert json.loads(row["receipt_json"]) == {"data_hash": "abc", "seed": 0}
    assert Variant.model_validate_json(row["variant_json"]) == v
    assert store.count("lab_trials") == 1


def test_a_changed_horizon_is_a_second_trial_of_the_question(store: SqlStore) -> None:
    (v3,) = hypothesis(horizons="[3]").variants()
    (v5,) = hypothesis(horizons="[5]").variants()
    record_trials(store, [result(v3, 0.04)], now=T1)
    view = record_trials(store, [result(v5, 0.01)], now=T2)
    assert (view.n_trials, view.new) == (2, (v5.key(),))
    frame = ledger(store, "blockbuster")
    assert frame.get_column("horizon").to_list() == [3, 5]  # oldest first
    assert frame.get_column("runs").to_list() == [1, 1]


def test_a_run_of_several_horizons_records_one_trial_each_and_a_rerun_adds_none(store: SqlStore) -> None:
    variants = hypothesis(horizons="[1, 3, 5]").variants()
    view = record_trials(store, [result(v, 0.2) for v in variants], now=T1)
    assert (view.n_trials, len(view.new)) == (3, 3)
    view = record_trials(store, [result(v, 0.2) for v in variants], now=T2)
    assert (view.n_trials, len(view.new), view.n_reruns) == (3, 0, 3)
    assert ledger(store, "blockbuster").get_column("runs").to_list() == [2, 2, 2]


def test_a_key_repeated_in_one_call_counts_once(store: SqlStore) -> None:
    (v,) = hypothesis().variants()
    view = record_trials(store, [result(v, 0.04), result(v, 0.05)], now=T1)
    assert view.recorded == (v.key(),)
    row = ledger(store, "blockbuster").row(0, named=True)
    assert (row["runs"], row["p_value"]) == (1, 0.04)


def test_bh_is_applied_across_every_trial_of_the_question(store: SqlStore) -> None:
    selectors = ["pat_yoy > 0.5", "pat_yoy > 0.6", "pat_yoy > 0.7", "pat_yoy > 0.8"]
    p = [0.01, 0.04, 0.03, 0.2]
    for i, (sel, pv) in enumerate(zip(selectors, p, strict=True)):
        (v,) = hypothesis(selector=sel).variants()
        record_trials(store, [result(v, pv)], now=T1 + dt.timedelta(minutes=i))
    got = adjusted_p(store, "blockbuster")
    assert got.get_column("p_value").to_list() == p
    # By hand: sorted 0.01, 0.03, 0.04, 0.2 times m / rank = 0.04, 0.06, 0.0533, 0.2; then the
    # running minimum from the top: 0.04, 0.0533, 0.0533, 0.2.
    assert got.get_column("p_adjusted").to_list() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    expected = multipletests(np.array(p), method="fdr_bh")[1]
    assert got.get_column("p_adjusted").to_numpy() == pytest.approx(expected, abs=1e-15)


def test_trials_without_a_p_value_are_listed_but_not_in_the_family(store: SqlStore) -> None:
    (a,) = hypothesis(selector="pat_yoy > 0.5").variants()
    (b,) = hypothesis(selector="pat_yoy > 0.9").variants()
    (c,) = hypothesis(selector="pat_yoy > 0.95").variants()
    record_trials(store, [result(a, 0.02)], now=T1)
    record_trials(store, [result(b, math.nan, n=0, effect=math.nan)], now=T1 + dt.timedelta(seconds=1))
    view = record_trials(store, [result(c, 0.03)], now=T2)
    assert (view.n_trials, view.n_tested) == (3, 2)
    frame = view.trials
    assert frame.get_column("p_value").to_list() == [0.02, None, 0.03]
    assert frame.get_column("effect").to_list() == [0.01, None, 0.01]
    assert frame.get_column("p_adjusted").to_list() == pytest.approx([0.03, None, 0.03])  # m = 2
    adjusted = view.adjusted()
    assert adjusted[a.key()] == pytest.approx(0.03)
    assert math.isnan(adjusted[b.key()])


def test_questions_are_separate_families(store: SqlStore) -> None:
    (v1,) = hypothesis(question="q1").variants()
    (v2,) = hypothesis(question="q2").variants()
    assert v1.key() != v2.key()
    record_trials(store, [result(v1, 0.02)], now=T1)
    view = record_trials(store, [result(v2, 0.04)], now=T2)
    assert (view.question, view.n_trials) == ("q2", 1)
    assert adjusted_p(store, "q1").get_column("p_adjusted").to_list() == [0.02]
    assert adjusted_p(store, "q2").get_column("p_adjusted").to_list() == [0.04]
    assert ledger(store, None).get_column("question").to_list() == ["q1", "q2"]
    assert adjusted_p(store, "nobody").height == 0


def test_rows_as_the_study_builds_them_are_accepted(store: SqlStore) -> None:
    (v,) = hypothesis().variants()
    row = {
        "trial_key": v.key(), "question": v.question, "hypothesis_name": v.name,
        "variant_json": v.model_dump_json(), "horizon": v.horizon, "outcome": v.outcome,
        "n_events": 42, "effect": -0.0001, "p_value": 0.7, "receipt": {"seed": 0},
    }  # fmt: skip
    view = record_trials(store, [row], now=T1)
    assert view.new == (v.key(),)
    assert ledger(store, "blockbuster").select("n_events", "effect", "p_value").row(0) == (42, -0.0001, 0.7)
    with pytest.raises(DataError, match="is not the key of its variant_json"):
        record_trials(store, [{**row, "trial_key": "0" * 64}])


def test_bad_input_is_refused(store: SqlStore) -> None:
    (v1,) = hypothesis(question="q1").variants()
    (v2,) = hypothesis(question="q2").variants()
    with pytest.raises(DataError, match="2 research questions"):
        record_trials(store, [result(v1, 0.1), result(v2, 0.1)])
    with pytest.raises(DataError, match="no trials"):
        record_trials(store, [])
    with pytest.raises(DataError, match=r"p_value must lie in \[0, 1\]"):
        result(v1, 1.5)
    with pytest.raises(DataError, match="lacks"):
        record_trials(store, [{"variant_json": v1.model_dump_json()}])
    assert store.count("lab_trials") == 0


def test_the_table_has_its_declared_schema(store: SqlStore) -> None:
    assert store.read("lab_trials").schema == pl.Schema(schemas.LAB_TRIALS)
