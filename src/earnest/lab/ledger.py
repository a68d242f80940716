"""The trial ledger: every hypothesis variant ever evaluated, per research question, in the store.

Trying many variants of an idea (selectors, horizons, outcomes) and reporting the best is the
classic way to find an edge in noise. The ledger (table ``lab_trials``) remembers each variant
tried, keyed by :meth:`earnest.lab.spec.Variant.key` (a hash of its definition), so the lab can
adjust each p-value for *all* the trials of its research question, not only those of today's run:

- :func:`record_trials` upserts a run's trials. A variant seen before is not a new trial: its row
  keeps ``first_run_at``, gets ``runs + 1``, the latest ``last_run_at`` and the latest figures and
  receipt. A key repeated within one call counts once.
- :func:`ledger` lists a question's trials; :func:`adjusted_p` adds ``p_adjusted``, the
  Benjamini-Hochberg adjustment (:func:`earnest.lab.stats.benjamini_hochberg`, i.e. statsmodels'
  ``fdr_bh``) across every trial of the question that has a p-value. A trial without one (no usable
  events) is listed and counted as tried, but tested nothing, so it is not in the BH family.
- :func:`record_model_trials` upserts model-training trials (``kind = 'model'``, one per
  hyperparameter set, :class:`ModelTrial`) with their out-of-sample Sharpe ratio and number of
  periods; they have no p-value. :func:`trial_sharpes` gives what the deflated Sharpe ratio needs:
  the number of trials of a question with a Sharpe ratio and the variance of those ratios.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from pydantic import ValidationError

from earnest.core import schemas
from earnest.core.errors import DataError
from earnest.core.hashing import sha256_json
from earnest.lab.spec import Variant
from earnest.lab.stats import benjamini_hochberg
from earnest.store.base import Store

TABLE = "lab_trials"


@dataclass(frozen=True)
class TrialResult:
    """One variant's figures from one run: events used, the effect (mean outcome) and its p-value
    (None or NaN when the variant had no usable events), and the run's receipt."""

    variant: Variant
    n_events: int
    effect: float | None
    p_value: float | None
    receipt: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_events < 0:
            raise DataError(f"n_events must be >= 0, got {self.n_events}", field="n_events")
        p = _finite(self.p_value)
        if p is not None and not 0.0 <= p <= 1.0:
            raise DataError(
                f"p_value must lie in [0, 1], got {p}",
                remedy="pass the test's p-value, or None when there was no test",
                field="p_value",
            )

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TrialResult:
        """From a ledger row as :func:`earnest.lab.study.trial_rows` builds it (``variant_json``,
        ``n_events``, ``effect``, ``p_value``, ``receipt`` or ``receipt_json``); a ``trial_key``,
        when given, must be the variant's key."""
        missing = [k for k in ("variant_json", "n_events", "effect", "p_value") if k not in row]
        if missing:
            raise DataError(
                f"trial row lacks {missing}", remedy="pass rows with those keys", field=missing[0]
            )
        try:
            variant = Variant.model_validate_json(str(row["variant_json"]))
        except ValidationError as exc:
            raise DataError(
                f"trial row's variant_json is not a variant: {exc.errors()[0]['msg']}",
                remedy="pass Variant.model_dump_json() of the variant evaluated",
                field="variant_json",
            ) from exc
        key = row.get("trial_key")
        if key is not None and key != variant.key():
            raise DataError(
                f"trial_key {key} is not the key of its variant_json ({variant.key()})",
                remedy="take trial_key from Variant.key() of the same variant",
                field="trial_key",
            )
        receipt = row.get("receipt")
        if receipt is None and row.get("receipt_json"):
            receipt = json.loads(str(row["receipt_json"]))
        return cls(variant, int(row["n_events"]), row["effect"], row["p_value"], receipt or {})


@dataclass(frozen=True)
class LedgerView:
    """A question's ledger after :func:`record_trials`: ``trials`` is :func:`adjusted_p`'s frame
    (every trial of the question, with ``p_adjusted``), ``recorded`` the keys of this call and
    ``new`` those of them that were not in the ledger before."""

    question: str
    trials: pl.DataFrame
    recorded: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def n_trials(self) -> int:
        """Variants of the question tried so far (with or without a p-value)."""
        return self.trials.height

    @property
    def n_tested(self) -> int:
        """Trials with a p-value: the size of the Benjamini-Hochberg family."""
        return self.trials.get_column("p_value").drop_nulls().len()

    @property
    def n_reruns(self) -> int:
        """Variants of this call that had been recorded before."""
        return len(self.recorded) - len(self.new)

    def adjusted(self) -> dict[str, float]:
        """``trial_key`` to BH-adjusted p-value (NaN where the trial has none)."""
        return {
            k: (math.nan if p is None else float(p))
            for k, p in self.trials.select("trial_key", "p_adjusted").iter_rows()
        }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _as_result(item: TrialResult | Mapping[str, Any]) -> TrialResult:
    return item if isinstance(item, TrialResult) else TrialResult.from_row(item)


def _rows(results: list[TrialResult], now: dt.datetime) -> pl.DataFrame:
    rows = [
        {
            "trial_key": r.variant.key(),
            "question": r.variant.question,
            "hypothesis_name": r.variant.name,
            "variant_json": r.variant.model_dump_json(),
            "horizon": r.variant.horizon,
            "outcome": r.variant.outcome,
            "n_events": r.n_events,
            "effect": _finite(r.effect),
            "p_value": _finite(r.p_value),
            "first_run_at": now,
            "last_run_at": now,
            "runs": 1,
            "receipt_json": json.dumps(dict(r.receipt), sort_keys=True, default=str),
            "kind": "hypothesis",
        }
        for r in results
    ]
    return schemas.conform(pl.DataFrame(rows, schema=schemas.LAB_TRIALS), schemas.LAB_TRIALS, name=TABLE)


def _one_question(questions: list[str]) -> list[str]:
    """The distinct questions of one call's trials, refused unless there is exactly one."""
    distinct = sorted(set(questions))
    if len(distinct) > 1:
        raise DataError(
            f"trials of {len(distinct)} research questions in one call: {distinct}",
            remedy="record each question's trials separately",
            field="question",
        )
    return distinct


def _upsert(store: Store, rows: pl.DataFrame, question: str) -> LedgerView:
    """Upsert ``rows`` by ``trial_key`` (a key repeated in the call counts once) and return the
    question's ledger with what was recorded and what was new."""
    frame = rows.unique("trial_key", keep="first", maintain_order=True)
    keys = tuple(frame.get_column("trial_key").to_list())
    before = set(store.read(TABLE, where={"trial_key": list(keys)}).get_column("trial_key").to_list())
    store.upsert(TABLE, frame)
    return LedgerView(
        question=question,
        trials=adjusted_p(store, question),
        recorded=keys,
        new=tuple(k for k in keys if k not in before),
    )


def record_trials(
    store: Store, results: Iterable[TrialResult | Mapping[str, Any]], *, now: dt.datetime | None = None
) -> LedgerView:
    """Record one run's trials (all of one research question) and return the question's ledger.

    ``results`` are :class:`TrialResult` values or rows as :func:`earnest.lab.study.trial_rows` gives
    them. ``now`` (UTC, default the current time) is the run's time. Upsert by ``trial_key``, in one
    transaction: a known variant gets ``runs + 1`` and its latest figures, never a second row.
    """
    items = [_as_result(r) for r in results]
    if not items:
        raise DataError("no trials to record", remedy="pass the variants a study evaluated")
    questions = _one_question([r.variant.question for r in items])
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return _upsert(store, _rows(items, when), questions[0])


def ledger(store: Store, question: str | None) -> pl.DataFrame:
    """Every trial of ``question`` (of every question when None), schema
    :data:`earnest.core.schemas.LAB_TRIALS`, oldest first."""
    where = None if question is None else {"question": question}
    return store.read(TABLE, where=where, order_by=("first_run_at", "trial_key"))


def adjusted_p(store: Store, question: str) -> pl.DataFrame:
    """:func:`ledger` with ``p_adjusted``: Benjamini-Hochberg across all trials of ``question`` that
    have a p-value (null for those without one)."""
    trials = ledger(store, question)
    p = trials.get_column("p_value").fill_null(np.nan).to_numpy().astype(np.float64)
    adjusted = benjamini_hochberg(p) if p.size else np.empty(0)
    return trials.with_columns(pl.Series("p_adjusted", adjusted, dtype=pl.Float64).fill_nan(None))


MODEL_TRIAL_KEY_VERSION = 1
"""Version of the hashed model-trial layout (part of :meth:`ModelTrial.key`'s input)."""


@dataclass(frozen=True)
class ModelTrial:
    """One model-training trial: a hyperparameter set evaluated out of sample on one dataset.

    ``spec`` is what defines the trial as JSON-ready data (dataset spec, validation, model kind, task,
    parameters, seed): :meth:`key` hashes it with the ``question``. ``name`` is the training run's name,
    ``horizon`` and ``label`` the dataset's; ``n_events`` the out-of-sample rows scored; ``metric`` the
    search metric's value (stored as ``effect``); ``sharpe`` the per-period Sharpe ratio of the
    out-of-sample strategy over ``n_periods`` periods (None when undefined).
    """

    question: str
    name: str
    spec: Mapping[str, Any]
    horizon: int
    label: str
    n_events: int
    metric: float | None
    sharpe: float | None
    n_periods: int
    receipt: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "model"

    def __post_init__(self) -> None:
        if self.n_events < 0 or self.n_periods < 0:
            raise DataError(
                f"n_events and n_periods must be >= 0, got {self.n_events} and {self.n_periods}",
                field="n_periods" if self.n_periods < 0 else "n_events",
            )
        if not self.question.strip():
            raise DataError("a model trial needs a research question", field="question")
        if self.kind not in ("model", "backtest"):
            raise DataError(f"unknown trial kind {self.kind!r}", remedy="use model or backtest", field="kind")

    def canonical(self) -> dict[str, Any]:
        """The hashed definition: question, spec and :data:`MODEL_TRIAL_KEY_VERSION`."""
        return {
            "kind": self.kind,
            "question": self.question,
            "spec": dict(self.spec),
            "key_version": MODEL_TRIAL_KEY_VERSION,
        }

    def key(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`canonical`."""
        return sha256_json(self.canonical())


def _model_rows(trials: list[ModelTrial], now: dt.datetime) -> pl.DataFrame:
    rows = [
        {
            "trial_key": t.key(),
            "question": t.question,
            "hypothesis_name": t.name,
            "variant_json": json.dumps(t.canonical(), sort_keys=True, default=str),
            "horizon": t.horizon,
            "outcome": t.label,
            "n_events": t.n_events,
            "effect": _finite(t.metric),
            "p_value": None,
            "first_run_at": now,
            "last_run_at": now,
            "runs": 1,
            "receipt_json": json.dumps(dict(t.receipt), sort_keys=True, default=str),
            "kind": t.kind,
            "sharpe": _finite(t.sharpe),
            "n_periods": t.n_periods,
        }
        for t in trials
    ]
    return schemas.conform(pl.DataFrame(rows, schema=schemas.LAB_TRIALS), schemas.LAB_TRIALS, name=TABLE)


def record_model_trials(
    store: Store, trials: Iterable[ModelTrial], *, now: dt.datetime | None = None
) -> LedgerView:
    """Record model-training trials (all of one research question) and return the question's ledger.

    Upsert by :meth:`ModelTrial.key` as :func:`record_trials` does: the same hyperparameters on the
    same dataset again count a run, never a second trial.
    """
    items = list(trials)
    if not items:
        raise DataError("no trials to record", remedy="pass the trials a search evaluated")
    questions = _one_question([t.question for t in items])
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return _upsert(store, _model_rows(items, when), questions[0])


def trial_sharpes(store: Store, question: str) -> tuple[int, float]:
    """``(n_trials, var_sharpe)`` of ``question``: how many of its trials have a finite Sharpe ratio
    (model trials) and the sample variance (ddof 1) of those per-period Sharpe ratios (NaN with
    fewer than two). The deflated Sharpe ratio's N and V[SR] (Bailey and López de Prado 2014)."""
    values = trial_counts(store, question, kind="model")[1]
    n = int(values.size)
    return n, float(np.var(values, ddof=1)) if n >= 2 else math.nan


def record_backtest_trial(
    store: Store,
    *,
    question: str,
    name: str,
    spec: Mapping[str, Any],
    net: npt.ArrayLike,
    receipt: Mapping[str, Any],
    now: dt.datetime | None = None,
) -> LedgerView:
    """Record one backtest (``kind = 'backtest'``) of ``question``: keyed by its ``spec`` (the
    portfolio, execution and cost settings with the signal), with the daily net returns' per-period
    Sharpe ratio (mean / sd, ddof 1) over ``len(net)`` sessions. Running the same spec again counts a
    run; a new setting is a new trial, which raises the deflation of every later Sharpe ratio."""
    r = np.asarray(net, dtype=np.float64)
    r = r[np.isfinite(r)]
    sd = float(np.std(r, ddof=1)) if r.size >= 2 else math.nan
    sharpe = float(np.mean(r)) / sd if r.size >= 2 and sd > 0 else None
    trial = ModelTrial(
        question=question,
        name=name,
        spec=dict(spec),
        horizon=0,
        label="daily_net_return",
        n_events=int(r.size),
        metric=float(np.mean(r)) if r.size else None,
        sharpe=sharpe,
        n_periods=int(r.size),
        receipt=receipt,
        kind="backtest",
    )
    return record_model_trials(store, [trial], now=now)


def trial_counts(
    store: Store, question: str, *, kind: str = "backtest"
) -> tuple[int, npt.NDArray[np.float64]]:
    """``(every trial of the question, the finite per-period Sharpe ratios of its trials of kind)``:
    the deflated Sharpe ratio's N counts all variants tried (hypotheses, model trials, backtests);
    its V[SR] must compare Sharpe ratios of one kind and periodicity (e.g. daily backtests)."""
    trials = ledger(store, question)
    values = trials.filter(pl.col("kind") == kind).get_column("sharpe").drop_nulls().to_numpy()
    values = values.astype(np.float64)
    return trials.height, values[np.isfinite(values)]


__all__ = [
    "MODEL_TRIAL_KEY_VERSION",
    "TABLE",
    "LedgerView",
    "ModelTrial",
    "TrialResult",
    "adjusted_p",
    "ledger",
    "record_backtest_trial",
    "record_model_trials",
    "record_trials",
    "trial_counts",
    "trial_sharpes",
]
