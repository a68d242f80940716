"""Models from training to production: register a trained model with its lineage, card and gate
result; promote a version only when the statistical gate passes against today's trial ledger.

The gate (:func:`earnest.models.gate.promotion_gate`) compares the model's out-of-sample rank IC
with the logistic baseline's on the same rows, per period, with a Newey-West t-test, and adjusts
its p-value with every trial of the research question in the ledger (Benjamini-Hochberg). Event
datasets have few events per day, so the periods are calendar months of the entry date (a rank IC
needs at least two events in a period). Promotion recomputes the gate: trials added to the
question since registration count against the model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from earnest.lab.ledger import adjusted_p
from earnest.models.card import Lineage, ModelCard, metrics_from_table
from earnest.models.gate import GateResult, promotion_gate
from earnest.models.registry import ModelInfo, RegisteredModel, Registry
from earnest.store import SqlStore
from earnest.workflows.train import TrainResult

__all__ = ["GATE_MIN_PERIODS", "Registration", "gate_for", "promote_model", "register_training"]

GATE_MIN_PERIODS = 12
"""The fewest months with a rank IC the gate accepts (a year of out-of-sample evidence)."""


@dataclass(frozen=True)
class Registration:
    """A registered version and the gate computed when it was registered."""

    model: RegisteredModel
    gate: GateResult
    question: str


def _gate_frame(oos: pl.DataFrame) -> pl.DataFrame:
    return oos.select(
        pl.col("entry_date").cast(pl.Date).dt.truncate("1mo").alias("date"),
        pl.col("label").cast(pl.Float64),
        pl.col("score").cast(pl.Float64),
        pl.col("baseline_score").cast(pl.Float64),
    )


def gate_for(store: SqlStore, oos: pl.DataFrame, question: str, *, alpha: float = 0.05) -> GateResult:
    """The promotion gate on ``oos`` (entry_date, label, score, baseline_score) with the question's
    current ledger as the multiple-testing family."""
    family = adjusted_p(store, question)
    return promotion_gate(_gate_frame(oos), ledger_p=family, alpha=alpha, min_dates=GATE_MIN_PERIODS)


def _lineage(result: TrainResult, question: str) -> Lineage:
    features = {
        f["name"]: str(f["version"] if f["version"] is not None else "event")
        for f in result.lineage["features"]
    }
    label = result.lineage["label"]
    dates = result.dataset.frame.get_column("entry_date")
    return Lineage.from_receipt(
        result.receipt,
        features=features,
        label_spec=f"{label['name']}_{label['horizon_sessions']}s_at_{label['entry']['at']}",
        train_start=dates.min() if isinstance(dates.min(), dt.date) else None,  # type: ignore[arg-type]
        train_end=dates.max() if isinstance(dates.max(), dt.date) else None,  # type: ignore[arg-type]
        n_rows=result.dataset.n,
        hypothesis=question,
    )


def register_training(
    store: SqlStore, registry: Registry, result: TrainResult, *, name: str | None = None, alpha: float = 0.05
) -> Registration:
    """Register ``result``'s final model (fitted on every event) as a new version of ``name``
    (default: the config's ``[register] name``) with its lineage, out-of-sample predictions, model
    card and the gate computed now. Registration never promotes."""
    cfg = result.config
    h = cfg.hypothesis
    question = h.question or h.name
    model_name = name or cfg.register_name
    gate = gate_for(store, result.oos, question, alpha=alpha)
    lineage = _lineage(result, question)
    ours, baselines = metrics_from_table(result.metrics)
    card = ModelCard(
        name=model_name,
        intended_use=(
            f"Rank {h.event.type} events{' where ' + h.event.selector if h.event.selector else ''} by "
            f"{cfg.dataset.label} over {cfg.dataset.horizon} sessions after entry ({h.entry.at} of session "
            f"{h.entry.lag_sessions} after the broadcast). Research question: {question}."
        ),
        lineage=lineage,
        oos_metrics=ours,
        baselines=baselines,
        gate=gate,
        caveats=_caveats(result),
        estimator=type(result.estimator).__name__,
    )
    registered = registry.register(
        model_name,
        result.estimator,
        features=list(result.features),
        lineage=lineage,
        metrics=ours,
        oos=result.oos,
        card=card,
        gate=gate,
        config=cfg.model_dump(mode="json", by_alias=True),
    )
    return Registration(registered, gate, question)


def _caveats(result: TrainResult) -> list[str]:
    c = result.dataset.counts
    out = [
        f"{result.dataset.n} events; out-of-sample metrics come from walk-forward folds, the registered "
        "model is refitted on every event",
        f"{c.null_label} events dropped for a null label (no price after entry)",
    ]
    if result.search is not None:
        out.append(
            f"hyperparameters chosen by {len(result.search.trials)} Optuna trials, all in the trial ledger"
        )
    return out


def promote_model(
    store: SqlStore,
    registry: Registry,
    name: str,
    version: int,
    *,
    alpha: float = 0.05,
    by: str | None = None,
) -> tuple[ModelInfo, GateResult]:
    """Recompute the gate for ``version`` with the question's ledger as it is now and promote the
    version to production if it passes (else :class:`earnest.models.registry.PromotionRefusedError`)."""
    info = registry.show(name, version=version)
    oos = registry.oos(name, version=version)
    question = info.lineage.hypothesis or name
    if oos is None or oos.is_empty():
        gate = info.gate
        if gate is None:
            from earnest.core.errors import DataError

            raise DataError(
                f"model {name!r} version {version} has no out-of-sample predictions to gate",
                remedy="register it with `earnest train` (which stores them)",
                field="version",
            )
    else:
        gate = gate_for(store, oos, question, alpha=alpha)
    promoted = registry.promote(name, version, gate=gate, by=by)
    return promoted, gate


def describe_gate(gate: GateResult) -> dict[str, Any]:
    """The gate's figures for terminal output."""
    return gate.to_dict()
