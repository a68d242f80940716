"""The training use-case: ``earnest train CONFIG.toml``.

:func:`run_training` loads the hypothesis's events with the dataset's features as known at each
knowledge time (the lab's loading and :func:`earnest.workflows.lab.with_feature_fields`), builds the
training set (:func:`earnest.models.dataset.build_dataset`), makes the folds once, optionally runs the
Optuna search (every trial into the trial ledger), then scores the best parameters *and* the logistic
baseline out of sample on the same folds, puts them next to the always-positive (buy every event)
and prevalence baselines, and fits the final model on every row. Registration (MLflow) is the
caller's job: :class:`TrainResult` carries what it needs (``estimator``, ``features``, ``oos``,
``metrics``, ``lineage``, ``receipt``, ``config``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console

from earnest.core.calendar import nse_calendar
from earnest.core.receipt import Receipt, code_version
from earnest.features import default_registry
from earnest.lab.ledger import record_model_trials
from earnest.lab.samples import select_events
from earnest.models.config import TrainConfig, train_config_from_dict
from earnest.models.dataset import TrainingSet, build_dataset, check_feature_names
from earnest.models.estimators import make_estimator
from earnest.models.metrics import baseline_table, ic_summary
from earnest.models.search import (
    Folds,
    SearchResult,
    evaluate,
    make_folds,
    model_trial,
    oos_scores,
    per_period_sharpe,
    run_search,
    strategy_returns,
)
from earnest.parallel import Executor, InProcessExecutor
from earnest.store.base import SqlStore
from earnest.workflows.lab import load_study_data, with_feature_fields
from earnest.workflows.render import table_of

__all__ = [
    "DEMO_TRAIN",
    "Progress",
    "TrainResult",
    "demo_train_config",
    "load_training_set",
    "metrics_table",
    "render_training",
    "run_training",
]

Progress = Callable[[int, int, str], None]
"""``progress(done, total, what)``: steps done of the total (trials included), and what runs now."""


@dataclass(frozen=True)
class TrainResult:
    """A trained model and everything about how it was made.

    ``estimator``: fitted on every row of the training set; ``features``: its input columns in order;
    ``oos``: one row per out-of-sample scored event (``entry_date``, ``symbol``, ``label``,
    ``net_return``, ``score``, ``baseline_score`` from the logistic baseline on the same folds,
    ``fold``); ``metrics``: :func:`metrics_table`; ``lineage``: data hash, features with their
    versions, label spec, config hash, code version, seed; ``receipt``; ``params``: the model's
    parameters (the search's best when one ran); ``search``: the search (None without one);
    ``dataset``: the training set.
    """

    estimator: Any
    features: tuple[str, ...]
    oos: pl.DataFrame
    metrics: pl.DataFrame
    lineage: dict[str, Any]
    receipt: Receipt
    config: TrainConfig
    params: dict[str, Any]
    search: SearchResult | None
    dataset: TrainingSet


def _strategy(oos: pl.DataFrame, score: str | None, top_fraction: float) -> dict[str, float | int]:
    """Per-period figures of buying the top-scored events of each date (every event when ``score`` is None)."""
    frame = oos.with_columns(
        pl.lit(1.0).alias("score") if score is None else pl.col(score).alias("score")
    ).select("entry_date", "score", "net_return")
    strat = strategy_returns(frame, top_fraction=1.0 if score is None else top_fraction)
    rets = strat.get_column("ret").to_numpy()
    sharpe, n = per_period_sharpe(rets)
    return {
        "strategy_mean": float(np.mean(rets)) if n else math.nan,
        "strategy_sharpe": sharpe,
        "n_periods": n,
    }


def _training_prevalence(ts: TrainingSet, folds: Folds) -> float:
    """Mean of each fold's training positive rate, weighted by its test rows (no test label used)."""
    y = ts.y()
    rates = [(float(y[train].mean()), len(test)) for train, test in folds.folds if len(train)]
    total = sum(n for _, n in rates)
    return sum(r * n for r, n in rates) / total if total else math.nan


def metrics_table(
    oos: pl.DataFrame, *, task: str, top_fraction: float, prevalence: float | None = None
) -> pl.DataFrame:
    """Out-of-sample metrics, one row per scorer: ``model``, ``logistic`` (the baseline model on the
    same folds), ``always_positive`` (score 1: buy every event) and, for classification,
    ``prevalence`` (a constant at the training positive rate). Classification rows have
    :func:`earnest.models.metrics.baseline_table`'s columns; every row adds the strategy's
    ``strategy_mean`` (mean per-date net return), ``strategy_sharpe`` (per period) and ``n_periods``."""
    dates = oos.get_column("entry_date")
    y = oos.get_column("label").to_numpy().astype(np.float64)
    if task == "classification":
        model = baseline_table(y, oos.get_column("score"), dates, prevalence=prevalence)
        logistic = baseline_table(y, oos.get_column("baseline_score"), dates, prevalence=prevalence)
        table = pl.concat(
            [model[:1], logistic[:1].with_columns(pl.lit("logistic").alias("scorer")), model[1:]]
        )
    else:
        rows = []
        for name, col in (("model", "score"), ("logistic", "baseline_score")):
            s = ic_summary(y, oos.get_column(col), dates)
            rows.append({"scorer": name, "n": oos.height, "ic_mean": s.ic.mean, "ic_t": s.ic.t_stat,
                         "rank_ic_mean": s.rank_ic.mean, "rank_ic_t": s.rank_ic.t_stat,
                         "n_dates": s.n_dates})  # fmt: skip
        rows.append({"scorer": "always_positive", "n": oos.height, "ic_mean": math.nan, "ic_t": math.nan,
                     "rank_ic_mean": math.nan, "rank_ic_t": math.nan, "n_dates": rows[0]["n_dates"]})  # fmt: skip
        table = pl.DataFrame(rows)
    strategy = {
        "model": _strategy(oos, "score", top_fraction),
        "logistic": _strategy(oos, "baseline_score", top_fraction),
        "always_positive": _strategy(oos, None, top_fraction),
    }
    empty = {"strategy_mean": math.nan, "strategy_sharpe": math.nan, "n_periods": 0}
    extra = pl.DataFrame([strategy.get(s, empty) for s in table.get_column("scorer").to_list()])
    return pl.concat([table, extra], how="horizontal")


def _lineage(config: TrainConfig, ts: TrainingSet, receipt: Receipt) -> dict[str, Any]:
    owners = {out: spec for spec in default_registry().specs for out in spec.outputs}
    features = [
        {"name": f, "spec": owners[f].name, "version": owners[f].version, "spec_hash": owners[f].spec_hash}
        if f in owners
        else {"name": f, "spec": "event field", "version": None, "spec_hash": None}
        for f in ts.features
    ]
    h = config.hypothesis
    return {
        "data_hash": receipt.data_hash,
        "features": features,
        "label": {
            "name": ts.label,
            "horizon_sessions": ts.horizon,
            "entry": h.entry.model_dump(mode="json"),
            "costs": h.costs.model_dump(mode="json"),
            "benchmark": h.benchmark.model_dump(mode="json"),
        },
        "hypothesis": {"name": h.name, "question": h.question},
        "config_hash": receipt.config_hash,
        "code_version": code_version(),
        "seed": config.model.seed,
        "rows": ts.n,
        "counts": dataclasses.asdict(ts.counts),
    }


def load_training_set(
    store: SqlStore, config: TrainConfig, *, progress: Callable[[str], None] | None = None
) -> TrainingSet:
    """The training set of ``config`` from the store: the hypothesis's events (bars loaded to cover
    the dataset's horizon), the features as known at each knowledge time, labels and net returns.

    The features are computed for the selected events only (the others keep nulls: they are never
    rows of the training set, only part of the lab's estimation-window bookkeeping)."""
    h = config.hypothesis
    loading = h.model_copy(update={"horizons": (config.dataset.horizon,)})  # bars cover the horizon
    data = load_study_data(store, loading, progress=progress)
    check_feature_names(config.dataset.features, data.events.columns)
    events = data.events.with_row_index("_event_row")
    _, chosen = select_events(h, events)
    added = [f for f in config.dataset.features if f not in events.columns]
    valued = with_feature_fields(store, h, chosen, progress=progress, extra=added)
    events = (
        events.join(valued.select("_event_row", *added), on="_event_row", how="left")
        .sort("_event_row")
        .drop("_event_row")
    )
    return build_dataset(h, dataclasses.replace(data, events=events), config.dataset)


def _best_params(
    ts: TrainingSet, folds: Folds, config: TrainConfig, store: SqlStore, *, trials: int,
    executor: Executor, receipt: Receipt, progress: Progress,
) -> tuple[dict[str, Any], SearchResult | None]:  # fmt: skip
    """The search's best parameters (every trial recorded), or ``[model] params`` without a search."""
    if trials < 1:
        return dict(config.model.params), None
    search = run_search(
        ts, folds, config, store=store, executor=executor, n_trials=trials,
        receipt=receipt.to_dict(), progress=progress,
    )  # fmt: skip
    return search.best_params, search


def run_training(
    store: SqlStore,
    config: TrainConfig,
    *,
    executor: Executor | None = None,
    progress: Progress | None = None,
    n_trials: int | None = None,
) -> TrainResult:
    """Train ``config`` on the store's data (see the module docstring); ``n_trials`` overrides
    ``[search] n_trials``; folds and trials run on ``executor`` (in process by default)."""
    run = executor or InProcessExecutor()
    trials = config.search.n_trials if n_trials is None else n_trials
    total = trials + 4
    say: Progress = progress or (lambda _done, _total, _what: None)
    say(0, total, "events and features")
    ts = load_training_set(store, config, progress=lambda what: say(0, total, what))
    say(1, total, f"folds over {ts.n} events ({ts.counts.null_label} dropped: null label)")
    folds = make_folds(ts, config.validation, sessions=nse_calendar().sessions)
    receipt = Receipt.make(data_hash=ts.data_hash, config=config.canonical(), seed=config.model.seed)
    params, search = _best_params(
        ts, folds, config, store, trials=trials, executor=run, receipt=receipt,
        progress=lambda n, _t, what: say(2 + n, total, what),
    )  # fmt: skip
    say(2 + trials, total, "out-of-sample scores: model and logistic baseline")
    oos = _oos(ts, folds, config, params, run)
    score = evaluate(ts, oos.select("row", "score"), metric=config.metric,
                     top_fraction=config.validation.top_fraction)  # fmt: skip
    record_model_trials(store, [model_trial(config, ts, params, score, receipt.to_dict())])
    metrics = metrics_table(
        oos,
        task=config.task,
        top_fraction=config.validation.top_fraction,
        prevalence=_training_prevalence(ts, folds) if config.task == "classification" else None,
    )
    say(3 + trials, total, "final model on every event")
    estimator = make_estimator(config.model.kind, config.task, seed=config.model.seed, params=params)
    estimator.fit(ts.x(), ts.y())
    say(total, total, "done")
    return TrainResult(
        estimator=estimator,
        features=ts.features,
        oos=oos.drop("row"),
        metrics=metrics,
        lineage=_lineage(config, ts, receipt),
        receipt=receipt,
        config=config,
        params=params,
        search=search,
        dataset=ts,
    )


def _oos(
    ts: TrainingSet, folds: Folds, config: TrainConfig, params: Mapping[str, Any], executor: Executor
) -> pl.DataFrame:
    """Model and logistic-baseline scores on the same folds, joined to the events they score."""
    seed, task = config.model.seed, config.task
    model = functools.partial(make_estimator, config.model.kind, task, seed=seed, params=dict(params))
    baseline = functools.partial(make_estimator, "logistic", task, seed=seed, params={})
    ours = oos_scores(ts, folds, model, executor=executor)
    theirs = oos_scores(ts, folds, baseline, executor=executor).select(
        "row", pl.col("score").alias("baseline_score")
    )
    rows = ts.frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    keep = ["row", "entry_date", "symbol", "knowledge_time", "label", "net_return"]
    return (
        ours.join(theirs, on="row", how="inner")
        .join(rows.select(keep), on="row", how="left")
        .select(*keep, "score", "baseline_score", pl.col("fold").cast(pl.Int64))
        .sort("entry_date", "row")
    )


_SHOWN = {
    "classification": (
        "scorer",
        "n",
        "roc_auc",
        "log_loss",
        "brier",
        "rank_ic_mean",
    ),
    "regression": ("scorer", "n", "ic_mean", "ic_t", "rank_ic_mean", "rank_ic_t"),
}


def render_training(console: Console, result: TrainResult) -> None:
    """The training set's counts, the search, and the out-of-sample table next to the baselines."""
    c, cfg = result.dataset.counts, result.config
    console.print(
        f"[bold]{cfg.name}[/]: {c.rows:,} events of {c.selected:,} selected by {cfg.hypothesis.name!r} "
        f"({c.entry_blocked:,} blocked at the upper circuit, {c.null_label:,} dropped: null label); "
        f"label {cfg.dataset.label} over {cfg.dataset.horizon} sessions, net of costs; "
        f"{cfg.model.kind} ({cfg.task}), {cfg.validation.splitter} with {cfg.validation.n_splits} splits"
    )
    if result.search is not None:
        s = result.search
        console.print(
            f"search: {s.trials.height} trial(s), best {cfg.metric} {s.best_value:.4g}; "
            + (f"{s.ledger.n_trials} trial(s) in question {s.ledger.question!r}" if s.ledger else "")
        )
    shown = [*_SHOWN[cfg.task], "strategy_mean", "strategy_sharpe", "n_periods"]
    picked = result.metrics.select([c for c in shown if c in result.metrics.columns])
    rows = [{k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in r.items()} for r in picked.to_dicts()]
    console.print(table_of(rows, title="out of sample, next to the baselines (strategy: per entry date)"))
    console.print(f"receipt: data {result.receipt.data_hash[:12]}, config {result.receipt.config_hash[:12]}, "
                  f"{result.receipt.code_version}, seed {result.receipt.seed}")  # fmt: skip


DEMO_TRAIN: dict[str, Any] = {
    "name": "surprise drift model",
    "description": "Scores SUE > 1 announcements by their chance of a positive 5-session net return.",
    "hypothesis": {
        "name": "positive earnings surprise drifts",
        "question": "demo-surprise-drift",
        "horizons": [5],
        "event": {"type": "results", "selector": "sue > 1"},
    },
    "dataset": {
        "features": ["sue", "revenue_yoy", "pat_yoy", "rsi_14", "ret_20d", "vol_20d", "rel_ret_20d"],
        "label": "win",
        "horizon": 5,
    },
    "model": {"kind": "lightgbm", "seed": 0, "params": {"n_estimators": 100}},
    "validation": {
        "splitter": "walk_forward",
        "window": "expanding",
        "n_splits": 4,
        "embargo": 2,
        "min_train_size": 100,
        "top_fraction": 0.5,
    },
    "search": {"n_trials": 10, "metric": "roc_auc"},
    "register": {"name": "demo-surprise-drift"},
}
"""``examples/train_demo.toml`` without its period (a test keeps the two equal)."""


def demo_train_config(*, start: dt.date, end: dt.date) -> TrainConfig:
    """The demo's training run (:data:`DEMO_TRAIN`, the demo's surprise-drift hypothesis) over
    ``start``..``end`` (the demo derives its period from the simulated bars)."""
    data = {**DEMO_TRAIN, "hypothesis": {**DEMO_TRAIN["hypothesis"], "period": {"start": start, "end": end}}}
    return train_config_from_dict(data, source="demo")
