"""Models: splitters aware of label spans (:mod:`earnest.models.splits`: walk-forward, purged k-fold
with embargo, combinatorial purged CV) and out-of-sample metrics next to baselines
(:mod:`earnest.models.metrics`), deterministic estimators behind one factory
(:mod:`earnest.models.estimators`) and walk-forward out-of-sample predictions on any executor
(:mod:`earnest.models.train`), the MLflow model registry with lineage and model cards
(:mod:`earnest.models.registry`, :mod:`earnest.models.card`) and the statistical promotion gate
(:mod:`earnest.models.gate`)."""

from earnest.models.card import Lineage, ModelCard
from earnest.models.estimators import ESTIMATOR_KINDS, TASKS, make_estimator
from earnest.models.gate import GateResult, promotion_gate
from earnest.models.metrics import (
    ICSummary,
    NeweyWestMean,
    baseline_table,
    brier,
    calibration_table,
    default_nw_lags,
    f1_at,
    ic_by_date,
    ic_summary,
    log_loss,
    newey_west_mean,
    pr_auc,
    precision_at_k,
    roc_auc,
)
from earnest.models.registry import (
    PRODUCTION,
    LoadedModel,
    ModelInfo,
    PromotionRefusedError,
    RegisteredModel,
    Registry,
)
from earnest.models.splits import (
    CombinatorialPurgedCV,
    PurgedKFold,
    SpanColumns,
    WalkForward,
    spans_from_frame,
)
from earnest.models.train import FoldJob, FoldResult, fit_score_fold, walk_forward_predict

__all__ = [
    "ESTIMATOR_KINDS",
    "PRODUCTION",
    "TASKS",
    "CombinatorialPurgedCV",
    "FoldJob",
    "FoldResult",
    "GateResult",
    "ICSummary",
    "Lineage",
    "LoadedModel",
    "ModelCard",
    "ModelInfo",
    "NeweyWestMean",
    "PromotionRefusedError",
    "PurgedKFold",
    "RegisteredModel",
    "Registry",
    "SpanColumns",
    "WalkForward",
    "baseline_table",
    "brier",
    "calibration_table",
    "default_nw_lags",
    "f1_at",
    "fit_score_fold",
    "ic_by_date",
    "ic_summary",
    "log_loss",
    "make_estimator",
    "newey_west_mean",
    "pr_auc",
    "precision_at_k",
    "promotion_gate",
    "roc_auc",
    "spans_from_frame",
    "walk_forward_predict",
]
