"""Out-of-sample evaluation on fixed folds and the Optuna hyperparameter search.

- :func:`make_folds` turns a :class:`~earnest.models.dataset.TrainingSet` and the ``[validation]``
  section into concrete ``(train, test)`` row folds, built once and shared by every trial, the final
  model and the logistic baseline (a rolling walk-forward window keeps the latest training rows, as
  many as the first fold has). Label spans are ``[entry_date, span_end + embargo sessions]``, so
  every splitter purges a training event whose label (plus the embargo) reaches into a test block.
  Each fold must keep ``min_train_size`` training rows after purging.
- :func:`oos_scores` fits one fresh estimator per fold (on any :class:`~earnest.parallel.Executor`)
  and returns one out-of-sample score per scored row (the mean over folds when combinatorial CV
  tests a row more than once).
- :func:`evaluate` gives the search metric and the out-of-sample strategy's per-period Sharpe ratio:
  on each entry date the strategy buys the ``top_fraction`` (rounded up, at least one) of that
  date's events with the highest scores and earns their mean net return; the Sharpe ratio is the
  mean over dates divided by the standard deviation (ddof 1), *not* annualised (dates are irregular;
  the deflated Sharpe ratio works on per-period figures).
- :func:`run_search` is Optuna with ``TPESampler(seed)`` over the model kind's space (ask and tell,
  ``batch_size`` trials at a time; every fold of every trial of a batch is one executor job, so a
  Dask cluster runs them side by side and the answer does not depend on the executor). Every trial
  is recorded in the trial ledger (:func:`earnest.lab.ledger.record_model_trials`) under the
  hypothesis's research question, keyed by the hash of (hypothesis, dataset, validation, model kind,
  task, parameters, seed): running the same search again counts runs, never new trials.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from earnest.core.errors import ConfigError, DataError
from earnest.lab.ledger import LedgerView, ModelTrial, record_model_trials
from earnest.models.config import METRICS, ParamRange, TrainConfig, Validation
from earnest.models.dataset import TrainingSet
from earnest.models.estimators import make_estimator
from earnest.models.metrics import brier, ic_summary, log_loss, pr_auc, roc_auc
from earnest.models.splits import CombinatorialPurgedCV, PurgedKFold, WalkForward
from earnest.models.train import FoldJob, FoldResult, fit_score_fold
from earnest.parallel import Executor, InProcessExecutor
from earnest.store.base import Store

__all__ = [
    "Folds",
    "SearchResult",
    "TrialScore",
    "evaluate",
    "make_folds",
    "model_trial",
    "oos_scores",
    "per_period_sharpe",
    "run_search",
    "strategy_returns",
    "trial_spec",
]

_WHERE = "earnest.models.search"
IntArray = npt.NDArray[np.int64]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Folds:
    """Concrete folds with the scikit-learn splitter API (``split`` yields the stored folds)."""

    folds: tuple[tuple[IntArray, IntArray], ...]

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[tuple[IntArray, IntArray]]:  # noqa: N803 (scikit-learn API)
        """Yield each ``(train_idx, test_idx)``."""
        yield from self.folds

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:  # noqa: N803 (scikit-learn API)
        """Number of folds."""
        return len(self.folds)


def _spans(ts: TrainingSet, sessions: list[Any], embargo: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    t0 = ts.frame.get_column("entry_date").to_numpy().astype("datetime64[D]")
    t1 = ts.frame.get_column("span_end").to_numpy().astype("datetime64[D]")
    if embargo:
        days = np.asarray(sessions, dtype="datetime64[D]")
        pos = np.searchsorted(days, t1) + embargo
        far = t1 + np.timedelta64(embargo * 2, "D")  # past the calendar: calendar days, generously
        t1 = np.where(pos < days.size, days[np.clip(pos, 0, days.size - 1)], far)
    return t0, t1


def _walk_forward_start(t0: npt.NDArray[Any], t1: npt.NDArray[Any], min_train: int) -> int:
    """The first row a test block may start at: min_train earlier labels are known before it."""
    for s in range(min_train, len(t0)):
        if int(np.sum(t1[:s] < t0[s])) >= min_train:
            return s
    return len(t0)


def _splitter(ts: TrainingSet, v: Validation, t0: npt.NDArray[Any], t1: npt.NDArray[Any]) -> Any:
    if v.splitter == "purged_kfold":
        return PurgedKFold(v.n_splits, t0=t0, t1=t1)
    if v.splitter == "cpcv":
        return CombinatorialPurgedCV(v.n_splits, v.n_test_groups, t0=t0, t1=t1)
    start = _walk_forward_start(t0, t1, v.min_train_size)
    test_size = (ts.n - start) // v.n_splits
    if test_size < 1:
        raise DataError(
            f"{ts.n} rows leave no room for {v.n_splits} walk-forward test blocks after "
            f"{v.min_train_size} training rows (known before the first block: row {start})",
            remedy="lower validation.min_train_size or validation.n_splits, or widen the period",
            field="validation.min_train_size",
        )
    return WalkForward(v.n_splits, t0=t0, t1=t1, expanding=True, test_size=test_size)


def make_folds(ts: TrainingSet, validation: Validation, *, sessions: list[Any]) -> Folds:
    """The folds of ``validation`` over ``ts`` (``sessions``: the trading calendar, for the embargo)."""
    if ts.n == 0:
        raise DataError("the training set has no rows", remedy="widen the period or the selector")
    t0, t1 = _spans(ts, sessions, validation.embargo)
    splitter = _splitter(ts, validation, t0, t1)
    folds = []
    for i, (train, test) in enumerate(splitter.split(np.empty((ts.n, 0)))):
        if len(train) < validation.min_train_size:
            raise DataError(
                f"fold {i} keeps {len(train)} training rows after purging, fewer than "
                f"validation.min_train_size = {validation.min_train_size}",
                remedy="use fewer splits, a smaller embargo or min_train_size, or more events",
                field="validation.min_train_size",
            )
        folds.append((np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64)))
    if validation.splitter == "walk_forward" and validation.window == "rolling":
        size = len(folds[0][0])  # the latest purged rows, as many as the first fold trains on
        folds = [(train[-size:], test) for train, test in folds]
    return Folds(tuple(folds))


def _fold_jobs(ts: TrainingSet, folds: Folds, factory: Callable[[], Any], first: int = 0) -> list[FoldJob]:
    x, y = ts.x(), ts.y()
    return [
        FoldJob(first + i, x[train], y[train], x[test], test, factory)
        for i, (train, test) in enumerate(folds.folds)
    ]


def _collect(ts: TrainingSet, results: list[FoldResult]) -> pl.DataFrame:
    """``row`` (position in the training set) and ``score`` (mean over the folds that scored it)."""
    if not results:
        return pl.DataFrame(schema={"row": pl.Int64, "score": pl.Float64, "n_folds": pl.UInt32})
    frame = pl.DataFrame(
        {
            "row": np.concatenate([r.test_idx for r in results]),
            "fold": np.concatenate([np.full(len(r.test_idx), r.fold, dtype=np.int64) for r in results]),
            "score": np.concatenate([r.scores for r in results]),
        }
    )
    return (
        frame.group_by("row")
        .agg(pl.col("score").mean(), pl.col("fold").min(), pl.len().alias("n_folds"))
        .sort("row")
    )


def _factory(config: TrainConfig, kind: str, params: Mapping[str, Any]) -> Callable[[], Any]:
    return functools.partial(make_estimator, kind, config.task, seed=config.model.seed, params=dict(params))


def oos_scores(
    ts: TrainingSet,
    folds: Folds,
    factory: Callable[[], Any],
    *,
    executor: Executor | None = None,
) -> pl.DataFrame:
    """Out-of-sample scores: columns ``row``, ``score``, ``fold`` (first fold that scored the row)
    and ``n_folds``, one row per scored training row, sorted by row."""
    results = (executor or InProcessExecutor()).map(fit_score_fold, _fold_jobs(ts, folds, factory))
    return _collect(ts, results)


def strategy_returns(frame: pl.DataFrame, *, top_fraction: float) -> pl.DataFrame:
    """Per entry date, the mean ``net_return`` of the ``ceil(top_fraction * n)`` highest-``score``
    rows of that date (ties kept in row order). Columns ``entry_date``, ``ret``, ``n_bought``."""
    ranked = frame.with_columns(
        pl.col("score").rank("ordinal", descending=True).over("entry_date").alias("_rank"),
        (pl.len().over("entry_date") * top_fraction).ceil().alias("_k"),
    )
    return (
        ranked.filter(pl.col("_rank") <= pl.col("_k"))
        .group_by("entry_date")
        .agg(pl.col("net_return").mean().alias("ret"), pl.len().alias("n_bought"))
        .sort("entry_date")
    )


def per_period_sharpe(returns: npt.ArrayLike) -> tuple[float, int]:
    """(mean / sd with ddof 1, number of periods); NaN with fewer than two periods or no variation."""
    arr = np.asarray(returns, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n < 2:
        return math.nan, n
    sd = float(arr.std(ddof=1))
    return (float(arr.mean()) / sd if sd > 0 else math.nan), n


@dataclass(frozen=True)
class TrialScore:
    """One evaluation: the metric's value, the strategy's per-period Sharpe and periods, rows scored."""

    metric: float
    sharpe: float
    n_periods: int
    n_scored: int


def _metric(name: str, y: npt.NDArray[np.float64], s: npt.NDArray[np.float64], dates: pl.Series) -> float:
    if name == "roc_auc":
        return roc_auc(y, s)
    if name == "pr_auc":
        return pr_auc(y, s)
    if name == "log_loss":
        return log_loss(y, np.clip(s, 0.0, 1.0))
    if name == "brier":
        return brier(y, np.clip(s, 0.0, 1.0))
    if name == "rank_ic":
        return ic_summary(y, s, dates).rank_ic.mean
    raise ConfigError(f"unknown metric {name!r}", remedy=f"use one of {', '.join(METRICS)}", field="metric")


def evaluate(ts: TrainingSet, scores: pl.DataFrame, *, metric: str, top_fraction: float) -> TrialScore:
    """The ``metric`` and the strategy Sharpe of out-of-sample ``scores`` (from :func:`oos_scores`)."""
    rows = scores.get_column("row").to_numpy()
    scored = ts.frame[rows].with_columns(scores.get_column("score"))
    strat = strategy_returns(scored, top_fraction=top_fraction)
    sharpe, n_periods = per_period_sharpe(strat.get_column("ret").to_numpy())
    if metric == "sharpe":
        value = sharpe
    else:
        y = scored.get_column("label").to_numpy().astype(np.float64)
        s = scored.get_column("score").to_numpy().astype(np.float64)
        value = _metric(metric, y, s, scored.get_column("entry_date"))
    return TrialScore(float(value), sharpe, n_periods, scored.height)


def trial_spec(config: TrainConfig, ts: TrainingSet, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What defines a model trial (hashed into its ledger key): the hypothesis's selection, entry,
    benchmark and costs, the dataset, the validation, the model kind, task, parameters and seed."""
    hypothesis = config.hypothesis.model_dump(
        mode="json", exclude={"name", "description", "horizons", "outcome", "stats"}
    )
    return {
        "hypothesis": hypothesis,
        "dataset": ts.spec(),
        "validation": config.validation.model_dump(mode="json"),
        "model_kind": kind,
        "task": config.task,
        "params": dict(sorted(params.items())),
        "seed": config.model.seed,
    }


def _suggest(trial: Any, name: str, r: ParamRange) -> Any:
    if r.type == "categorical":
        return trial.suggest_categorical(name, list(r.choices or ()))
    low, high = float(r.low or 0.0), float(r.high or 0.0)  # both set: checked by ParamRange
    if r.type == "int":
        return trial.suggest_int(name, int(low), int(high), log=r.log)
    return trial.suggest_float(name, low, high, log=r.log)


def model_trial(
    config: TrainConfig,
    ts: TrainingSet,
    params: Mapping[str, Any],
    score: TrialScore,
    receipt: Mapping[str, Any] | None = None,
) -> ModelTrial:
    """The ledger entry of one evaluated parameter set (under the hypothesis's research question)."""
    return ModelTrial(
        question=config.hypothesis.question,
        name=config.name,
        spec=trial_spec(config, ts, config.model.kind, params),
        horizon=ts.horizon,
        label=ts.label,
        n_events=score.n_scored,
        metric=score.metric,
        sharpe=score.sharpe,
        n_periods=score.n_periods,
        receipt=dict(receipt or {}),
    )


@dataclass(frozen=True)
class SearchResult:
    """The search's best parameters (fixed ``[model] params`` included) and value, one row per trial
    (``number``, ``params`` as JSON, ``metric``, ``sharpe``, ``n_periods``, ``state``) and the
    research question's ledger after recording them (None when no store was given)."""

    best_params: dict[str, Any]
    best_value: float
    trials: pl.DataFrame
    ledger: LedgerView | None


def _score_batch(
    ts: TrainingSet, folds: Folds, config: TrainConfig, batch: list[dict[str, Any]], executor: Executor
) -> list[TrialScore]:
    n_folds = len(folds.folds)
    jobs = []
    for i, params in enumerate(batch):
        jobs += _fold_jobs(ts, folds, _factory(config, config.model.kind, params), first=i * n_folds)
    results = executor.map(fit_score_fold, jobs)
    out = []
    for i in range(len(batch)):
        mine = [r for r in results if i * n_folds <= r.fold < (i + 1) * n_folds]
        scores = _collect(ts, mine)
        out.append(evaluate(ts, scores, metric=config.metric, top_fraction=config.validation.top_fraction))
    return out


def run_search(
    ts: TrainingSet,
    folds: Folds,
    config: TrainConfig,
    *,
    store: Store | None = None,
    executor: Executor | None = None,
    n_trials: int | None = None,
    batch_size: int = 1,
    receipt: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Optuna search over ``config.space()`` (parameters fixed in ``[model] params`` are not searched);
    ``n_trials`` overrides ``[search] n_trials``. Each trial is scored out of sample on ``folds`` and,
    with a ``store``, recorded in the trial ledger. ``[search] timeout_s`` stops asking new batches."""
    import optuna

    total = config.search.n_trials if n_trials is None else n_trials
    if total < 1:
        raise ConfigError("a search needs n_trials >= 1", field="search.n_trials", file=_WHERE)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}", field="batch_size", file=_WHERE)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fixed = dict(config.model.params)
    space = {k: v for k, v in config.space().items() if k not in fixed}
    study = optuna.create_study(
        direction=METRICS[config.metric], sampler=optuna.samplers.TPESampler(seed=config.model.seed)
    )
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    trials: list[ModelTrial] = []
    while len(rows) < total:
        if config.search.timeout_s is not None and time.monotonic() - started > config.search.timeout_s:
            break
        asked = [study.ask() for _ in range(min(batch_size, total - len(rows)))]
        batch = [{**{k: _suggest(t, k, r) for k, r in space.items()}, **fixed} for t in asked]
        for t, params, score in zip(
            asked, batch, _score_batch(ts, folds, config, batch, executor or InProcessExecutor()), strict=True
        ):
            ok = math.isfinite(score.metric)
            study.tell(t, score.metric if ok else None, state=None if ok else optuna.trial.TrialState.FAIL)
            rows.append(
                {
                    "number": t.number,
                    "params": json.dumps(params, sort_keys=True),
                    "metric": score.metric,
                    "sharpe": score.sharpe,
                    "n_periods": score.n_periods,
                    "state": "complete" if ok else "failed",
                }
            )
            trials.append(model_trial(config, ts, params, score, receipt))
            if progress:
                progress(len(rows), total, f"trial {t.number}: {config.metric} {score.metric:.4g}")
    view = record_model_trials(store, trials) if store is not None and trials else None
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise DataError(
            f"no trial of {len(rows)} gave a finite {config.metric}",
            remedy="check the label has both classes in every test block, or use another metric",
            field="search.metric",
        )
    best = study.best_trial
    value = math.nan if best.value is None else float(best.value)
    return SearchResult({**best.params, **fixed}, value, pl.DataFrame(rows), view)
