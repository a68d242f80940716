"""Folds, the out-of-sample strategy, the Optuna search and the model trials in the ledger (on
both store backends)."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import pytest

from earnest.core.calendar import nse_calendar
from earnest.core.errors import DataError
from earnest.lab.ledger import (
    ModelTrial,
    TrialResult,
    ledger,
    record_model_trials,
    record_trials,
    trial_sharpes,
)
from earnest.lab.samples import StudyData
from earnest.lab.spec import hypothesis_from_dict
from earnest.models.config import TrainConfig, train_config_from_dict
from earnest.models.dataset import TrainingSet, build_dataset
from earnest.models.estimators import make_estimator
from earnest.models.search import make_folds, oos_scores, per_period_sharpe, run_search, strategy_returns
from earnest.simulate.labmarket import simulate_lab_market
from earnest.store import SqlStore, open_store
from pg import postgres_admin_url, postgres_migrated_url, postgres_template  # noqa: F401

T = TypeVar("T")
R = TypeVar("R")


@pytest.fixture(params=[pytest.param("duckdb"), pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'earnest.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_migrated_url")
    with open_store(url) as opened:
        yield opened


@pytest.fixture(scope="module")
def setup() -> tuple[TrainConfig, TrainingSet]:
    market = simulate_lab_market(
        n_symbols=30, n_sessions=320, seed=5, planted_car=0.03, planted_min_pat_yoy=0.3
    )
    h = hypothesis_from_dict(
        {
            "name": "every event",
            "question": "q-search",
            "period": {"start": market.sessions[40], "end": market.sessions[-1]},
            "benchmark": {"estimation_sessions": 30, "gap_sessions": 2, "min_estimation_sessions": 20},
        }
    )
    config = train_config_from_dict(
        {
            "name": "search test",
            "hypothesis": h,
            "dataset": {"features": ["pat_yoy", "revenue_yoy"], "horizon": 5},
            "model": {"kind": "lightgbm", "params": {"n_estimators": 20}, "seed": 1},
            "validation": {"n_splits": 3, "min_train_size": 40, "embargo": 2},
            "search": {"n_trials": 3},
        }
    )
    data = StudyData(market.events, market.bars, market.index_bars, nse_calendar())
    return config, build_dataset(h, data, config.dataset)


SESSIONS = nse_calendar().sessions


def test_walk_forward_folds_train_only_on_labels_known_before_the_test_block(
    setup: tuple[TrainConfig, TrainingSet],
) -> None:
    config, ts = setup
    folds = make_folds(ts, config.validation, sessions=SESSIONS)
    assert folds.get_n_splits() == 3
    entry = ts.frame.get_column("entry_date").to_list()
    end = ts.frame.get_column("span_end").to_list()
    pos = {d: i for i, d in enumerate(SESSIONS)}
    for train, test in folds.split():
        assert len(train) >= 40
        assert train.max() < test.min()
        first = min(entry[i] for i in test)
        # a training label plus the 2-session embargo ends before the test block's first entry
        assert all(SESSIONS[pos[end[i]] + 2] < first for i in train)
    tested = np.concatenate([t for _, t in folds.split()])
    assert len(np.unique(tested)) == len(tested)


def test_purged_kfold_keeps_training_spans_off_the_test_span(setup: tuple[TrainConfig, TrainingSet]) -> None:
    config, ts = setup
    v = config.validation.model_copy(update={"splitter": "purged_kfold", "n_splits": 4, "embargo": 0})
    entry = ts.frame.get_column("entry_date").to_list()
    end = ts.frame.get_column("span_end").to_list()
    for train, test in make_folds(ts, v, sessions=SESSIONS).split():
        lo, hi = min(entry[i] for i in test), max(end[i] for i in test)
        assert not set(train) & set(test)
        assert all(end[i] < lo or entry[i] > hi for i in train)


def test_cpcv_scores_every_row_once_per_path(setup: tuple[TrainConfig, TrainingSet]) -> None:
    config, ts = setup
    v = config.validation.model_copy(update={"splitter": "cpcv", "n_splits": 4, "n_test_groups": 2})
    folds = make_folds(ts, v, sessions=SESSIONS)
    assert folds.get_n_splits() == 6  # C(4, 2)
    factory = functools.partial(make_estimator, "logistic", "classification", seed=0)
    scores = oos_scores(ts, folds, factory)
    assert scores.get_column("row").to_list() == list(range(ts.n))
    assert set(scores.get_column("n_folds").to_list()) == {3}  # each group is tested C(3, 1) times
    assert scores.get_column("score").is_between(0.0, 1.0).all()


def test_rolling_walk_forward_keeps_a_window_of_the_first_training_size(
    setup: tuple[TrainConfig, TrainingSet],
) -> None:
    config, ts = setup
    v = config.validation.model_copy(update={"window": "rolling"})
    expanding = make_folds(ts, config.validation, sessions=SESSIONS).folds
    rolling = make_folds(ts, v, sessions=SESSIONS).folds
    assert [len(t) for _, t in rolling] == [len(t) for _, t in expanding]
    assert len(rolling[0][0]) == len(expanding[0][0])
    assert len(rolling[-1][0]) < len(expanding[-1][0])
    assert rolling[-1][0].min() > 0  # the oldest rows left the window


def test_a_regression_search_on_rank_ic(setup: tuple[TrainConfig, TrainingSet]) -> None:
    config, ts = setup
    data = config.model_dump(by_alias=True)
    data["dataset"]["label"] = "fwd_return"
    data["model"] = {"kind": "logistic", "seed": 0}
    regression = TrainConfig.model_validate(data)
    assert (regression.task, regression.metric) == ("regression", "rank_ic")
    ts_r = TrainingSet(
        frame=ts.frame.with_columns(pl.col("net_return").alias("label")),
        features=ts.features,
        label="fwd_return",
        horizon=ts.horizon,
        counts=ts.counts,
        data_hash=ts.data_hash,
    )
    result = run_search(
        ts_r, make_folds(ts_r, regression.validation, sessions=SESSIONS), regression, n_trials=2
    )
    assert set(result.best_params) == {"alpha"}  # ridge: the logistic kind on a regression task
    assert all(-1.0 <= m <= 1.0 for m in result.trials.get_column("metric").to_list())


def test_too_few_rows_for_the_minimum_training_size_is_an_error(
    setup: tuple[TrainConfig, TrainingSet],
) -> None:
    config, ts = setup
    v = config.validation.model_copy(update={"min_train_size": ts.n})
    with pytest.raises(DataError) as info:
        make_folds(ts, v, sessions=SESSIONS)
    assert info.value.field == "validation.min_train_size"


def test_the_strategy_buys_the_top_fraction_of_each_date() -> None:
    d1, d2 = "2024-01-01", "2024-01-02"
    frame = pl.DataFrame(
        {
            "entry_date": [d1, d1, d1, d1, d2],
            "score": [0.9, 0.1, 0.5, 0.3, 0.2],
            "net_return": [0.01, -0.02, 0.03, 0.04, -0.01],
        }
    )
    got = strategy_returns(frame, top_fraction=0.5)
    # d1: ceil(0.5 * 4) = 2 best scores (0.9, 0.5) -> mean(0.01, 0.03); d2: ceil(0.5) = 1 row
    assert got.get_column("ret").to_list() == pytest.approx([0.02, -0.01])
    assert got.get_column("n_bought").to_list() == [2, 1]
    assert strategy_returns(frame, top_fraction=0.25).get_column("ret").to_list() == pytest.approx(
        [0.01, -0.01]
    )


def test_per_period_sharpe_is_mean_over_sample_sd() -> None:
    sharpe, n = per_period_sharpe([0.01, 0.03])
    assert n == 2
    assert sharpe == pytest.approx(0.02 / math.sqrt(2e-4))  # sd (ddof 1) of 0.01, 0.03 = 0.0141421
    assert math.isnan(per_period_sharpe([0.01])[0])
    assert math.isnan(per_period_sharpe([0.02, 0.02])[0])


class CountingExecutor:
    """Runs in process and counts the jobs of each map call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        self.calls.append(len(items))
        return [fn(i) for i in items]


def test_the_search_records_each_trial_once_and_a_rerun_adds_none(
    setup: tuple[TrainConfig, TrainingSet], store: SqlStore
) -> None:
    config, ts = setup
    folds = make_folds(ts, config.validation, sessions=SESSIONS)
    first = run_search(ts, folds, config, store=store, receipt={"seed": 1})
    assert first.trials.height == 3
    assert first.ledger is not None
    assert (first.ledger.n_trials, len(first.ledger.new)) == (3, 3)
    assert first.best_params["n_estimators"] == 20  # fixed: not searched
    space = config.space()
    for params in first.trials.get_column("params").to_list():
        p = json.loads(params)
        assert space["learning_rate"].low <= p["learning_rate"] <= space["learning_rate"].high
    rows = ledger(store, "q-search")
    assert set(rows.get_column("kind").to_list()) == {"model"}
    assert rows.get_column("p_value").null_count() == 3
    assert rows.get_column("n_periods").min() > 10
    again = run_search(ts, folds, config, store=store)
    assert again.ledger is not None
    assert (again.ledger.n_trials, again.ledger.new, again.ledger.n_reruns) == (3, (), 3)
    assert sorted(ledger(store, "q-search").get_column("runs").to_list()) == [2, 2, 2]
    assert again.trials.get_column("metric").to_list() == first.trials.get_column("metric").to_list()
    counting = CountingExecutor()
    batched = run_search(ts, folds, config, executor=counting, batch_size=2)  # no store: no ledger
    assert batched.ledger is None
    assert counting.calls == [6, 3]  # 2 trials x 3 folds, then 1 trial x 3 folds
    assert batched.trials.height == 3


def test_trial_sharpes_counts_model_trials_and_their_variance(store: SqlStore) -> None:
    trials = [
        ModelTrial("q", "m", {"params": {"a": i}}, 5, "win", 100, 0.6, sharpe, 40)
        for i, sharpe in enumerate([0.1, 0.3, 0.2])
    ]
    view = record_model_trials(store, trials)
    assert view.n_trials == 3
    n, var = trial_sharpes(store, "q")
    assert n == 3
    assert var == pytest.approx(0.01)  # mean 0.2: (0.01 + 0.01 + 0) / 2
    (h,) = hypothesis_from_dict(
        {
            "name": "h",
            "question": "q",
            "horizons": [3],
            "period": {"start": "2020-01-01", "end": "2021-01-01"},
        }
    ).variants()
    record_trials(store, [TrialResult(h, 10, 0.01, 0.2)])  # a lab variant: no Sharpe ratio
    assert trial_sharpes(store, "q") == (3, pytest.approx(0.01))
    kinds = dict(ledger(store, "q").select("trial_key", "kind").iter_rows())
    assert kinds[h.key()] == "hypothesis"
    assert sorted(kinds.values()) == ["hypothesis", "model", "model", "model"]
    assert trial_sharpes(store, "other") == (0, pytest.approx(math.nan, nan_ok=True))
    with pytest.raises(DataError):
        record_model_trials(store, [])


def test_the_same_spec_is_the_same_trial_key() -> None:
    a = ModelTrial("q", "m", {"params": {"a": 1}}, 5, "win", 100, 0.6, 0.1, 40)
    b = ModelTrial("q", "renamed", {"params": {"a": 1}}, 5, "win", 90, 0.7, 0.2, 41)
    c = ModelTrial("q", "m", {"params": {"a": 2}}, 5, "win", 100, 0.6, 0.1, 40)
    d = ModelTrial("q2", "m", {"params": {"a": 1}}, 5, "win", 100, 0.6, 0.1, 40)
    assert a.key() == b.key()
    assert len({a.key(), c.key(), d.key()}) == 3
