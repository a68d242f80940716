"""The training workflow on a small simulated market ingested into DuckDB: the out-of-sample table
next to the baselines, the trials in the ledger, lineage and receipt, and features that never see
bars published after an event's knowledge time."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from earnest.lab.ledger import ledger
from earnest.models.config import TrainConfig, load_train_config, parse_train_config
from earnest.simulate.market import SimConfig, simulate_market, write_market
from earnest.store import SqlStore, open_store
from earnest.workflows.ingest import ingest_paths
from earnest.workflows.lab import results_events, with_feature_fields
from earnest.workflows.train import demo_train_config, load_training_set, metrics_table, run_training

REPO = Path(__file__).resolve().parents[3]
slow = pytest.mark.slow  # builds a store from a simulated market (about 10 s)

CONFIG = """name = "wf"
[hypothesis]
name = "every announcement"
question = "q-train"
[hypothesis.period]
start = 2023-04-01
end = 2023-12-10
[hypothesis.benchmark]
estimation_sessions = 40
gap_sessions = 5
min_estimation_sessions = 20
[dataset]
features = ["sue", "ret_20d", "rsi_14"]
label = "win"
horizon = 5
[model]
kind = "lightgbm"
params = { n_estimators = 20 }
[validation]
n_splits = 3
min_train_size = 40
embargo = 1
[search]
n_trials = 2
"""


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    market = simulate_market(
        SimConfig(n_symbols=40, start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31), plant_errors=False)
    )
    write_market(market, root / "sim")
    db = root / "base.duckdb"
    with open_store(f"duckdb:///{db}") as store:
        ingest_paths(store, [root / "sim"], run_reconcile=False)
    return db


@pytest.fixture
def store(base_db: Path, tmp_path: Path) -> Iterator[SqlStore]:
    copy = tmp_path / "earnest.duckdb"
    shutil.copy(base_db, copy)
    with open_store(f"duckdb:///{copy}") as opened:
        yield opened


@pytest.fixture
def config() -> TrainConfig:
    return parse_train_config(CONFIG)


@slow
def test_training_puts_the_model_next_to_the_baselines_and_records_its_trials(
    store: SqlStore, config: TrainConfig
) -> None:
    seen: list[tuple[int, int, str]] = []
    result = run_training(store, config, progress=lambda d, t, w: seen.append((d, t, w)))
    assert result.metrics.get_column("scorer").to_list() == [
        "model",
        "logistic",
        "always_positive",
        "prevalence",
    ]
    assert {"roc_auc", "log_loss", "strategy_sharpe", "n_periods"} <= set(result.metrics.columns)
    oos = result.oos
    assert oos.columns == [
        "entry_date", "symbol", "knowledge_time", "label", "net_return", "score", "baseline_score", "fold"
    ]  # fmt: skip
    assert oos.get_column("entry_date").is_sorted()
    assert oos.height == result.metrics.get_column("n")[0]
    assert oos.get_column("fold").unique().sort().to_list() == [0, 1, 2]
    assert oos.select(pl.col("score", "baseline_score").is_between(0.0, 1.0).all()).row(0) == (True, True)
    ts = result.dataset
    assert oos.height < ts.n  # the first min_train_size rows are never tested by walk-forward
    assert ts.counts.rows + ts.counts.entry_blocked + ts.counts.null_label == ts.counts.selected
    # the always-positive strategy buys every scored event: its mean is the mean of per-date means
    per_date = oos.group_by("entry_date").agg(pl.col("net_return").mean()).get_column("net_return")
    always = result.metrics.filter(pl.col("scorer") == "always_positive").row(0, named=True)
    assert always["strategy_mean"] == pytest.approx(per_date.mean())
    assert always["n_periods"] == per_date.len()
    # lineage and receipt
    lin = result.lineage
    assert [f["name"] for f in lin["features"]] == ["sue", "ret_20d", "rsi_14"]
    assert lin["features"][1]["spec"] == "returns"
    assert isinstance(lin["features"][1]["version"], int)
    assert lin["label"]["horizon_sessions"] == 5
    assert lin["config_hash"] == result.receipt.config_hash == config.config_hash()
    assert lin["data_hash"] == result.receipt.data_hash == ts.data_hash
    assert result.features == ("sue", "ret_20d", "rsi_14")
    assert result.estimator.predict_proba(ts.x()).shape == (ts.n, 2)
    assert seen[-1][0] == seen[-1][1]  # progress reaches its total
    # every trial is in the ledger once; a second run adds none
    trials = ledger(store, "q-train")
    assert trials.height == 2
    assert set(trials.get_column("kind").to_list()) == {"model"}
    again = run_training(store, config)
    assert ledger(store, "q-train").height == 2
    assert again.metrics.equals(result.metrics)


@slow
def test_no_search_records_the_one_configured_model(store: SqlStore, config: TrainConfig) -> None:
    result = run_training(store, config, n_trials=0)
    assert result.search is None
    assert result.params == {"n_estimators": 20}
    assert ledger(store, "q-train").height == 1


@slow
def test_features_never_see_bars_published_after_the_knowledge_time(
    store: SqlStore, config: TrainConfig, tmp_path: Path
) -> None:
    full = load_training_set(store, config).frame
    # cut the bars the day after a busy results day: the events of that day and before must not
    # change (the bars of their own day stay: an after-hours event may use that day's close)
    ist = full.get_column("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    busiest = ist.value_counts().sort(["count", ist.name], descending=True).row(0)[0]
    cutoff = busiest + dt.timedelta(days=1)
    truncated_db = tmp_path / "truncated.duckdb"
    store.close()
    shutil.copy(tmp_path / "earnest.duckdb", truncated_db)
    with duckdb.connect(str(truncated_db)) as con:
        con.execute("DELETE FROM bars WHERE date >= ?", [cutoff])
    with open_store(f"duckdb:///{truncated_db}") as truncated:  # labels past the cut are unknown
        events = results_events(truncated)  # so compare the features of every event, labelled or not
        cut = with_feature_fields(truncated, config.hypothesis, events, extra=config.dataset.features)
    start = dt.datetime.combine(cutoff, dt.time(0, 0), tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    before = pl.col("knowledge_time") < start
    both = full.filter(before).join(cut.filter(before), on="event_id", suffix="_cut")
    assert both.height > 20
    assert (
        both.get_column("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date() == busiest
    ).sum() > 1
    for name in ("sue", "ret_20d", "rsi_14"):
        a, b = both.get_column(name).to_numpy(), both.get_column(f"{name}_cut").to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b))
        assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9, atol=0.0)
    assert full.get_column("ret_20d").drop_nulls().len() > 0.8 * full.height


D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
OOS = pl.DataFrame(
    {
        "entry_date": [D1, D1, D2, D2, D3, D3],
        "label": [1.0, 0.0, 1.0, 0.0, 0.0, 1.0],
        "net_return": [0.02, -0.01, 0.03, -0.02, -0.01, 0.01],
        "score": [0.9, 0.1, 0.8, 0.3, 0.2, 0.7],  # ranks every date right
        "baseline_score": [0.4, 0.6, 0.5, 0.5, 0.6, 0.4],  # wrong on D1 and D3, a tie on D2
    }
)


def test_the_classification_table_puts_the_model_next_to_three_baselines() -> None:
    table = metrics_table(OOS, task="classification", top_fraction=0.5, prevalence=0.5)
    rows = {r["scorer"]: r for r in table.to_dicts()}
    assert list(rows) == ["model", "logistic", "always_positive", "prevalence"]
    assert rows["model"]["roc_auc"] == 1.0
    assert rows["logistic"]["roc_auc"] == pytest.approx(0.5 / 9)  # of 9 pairs: none right, 1 tie
    assert np.isnan(rows["always_positive"]["roc_auc"])
    assert rows["prevalence"]["brier"] == pytest.approx(0.25)
    # the model's strategy buys the top half (1 of 2) each date: 0.02, 0.03, 0.01
    assert rows["model"]["strategy_mean"] == pytest.approx(0.02)
    assert rows["model"]["strategy_sharpe"] == pytest.approx(0.02 / 0.01)
    assert rows["model"]["n_periods"] == 3
    # the logistic baseline buys -0.01 on D1, the first of the tie on D2 (0.03), -0.01 on D3
    assert rows["logistic"]["strategy_mean"] == pytest.approx(0.01 / 3)
    # always positive buys everything: per-date means 0.005, 0.005, 0.0
    assert rows["always_positive"]["strategy_mean"] == pytest.approx(0.01 / 3)
    assert rows["prevalence"]["n_periods"] == 0


def test_the_regression_table_has_ics_and_the_strategies() -> None:
    oos = OOS.with_columns(pl.col("net_return").alias("label"))
    table = metrics_table(oos, task="regression", top_fraction=0.5)
    rows = {r["scorer"]: r for r in table.to_dicts()}
    assert list(rows) == ["model", "logistic", "always_positive"]
    assert rows["model"]["rank_ic_mean"] == pytest.approx(1.0)
    assert rows["model"]["n_dates"] == 3
    assert np.isnan(rows["always_positive"]["ic_mean"])
    assert rows["model"]["strategy_mean"] == pytest.approx(0.02)


def test_the_demo_config_is_the_example_file() -> None:
    example = load_train_config(REPO / "examples" / "train_demo.toml")
    p = example.hypothesis.period
    assert demo_train_config(start=p.start, end=p.end) == example
