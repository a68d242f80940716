"""Models: splitters aware of label spans (:mod:`earnest.models.splits`: walk-forward, purged k-fold
with embargo, combinatorial purged CV) and out-of-sample metrics next to baselines
(:mod:`earnest.models.metrics`). Estimators, the MLflow registry and Dask execution come next."""

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
from earnest.models.splits import (
    CombinatorialPurgedCV,
    PurgedKFold,
    SpanColumns,
    WalkForward,
    spans_from_frame,
)

__all__ = [
    "CombinatorialPurgedCV",
    "ICSummary",
    "NeweyWestMean",
    "PurgedKFold",
    "SpanColumns",
    "WalkForward",
    "baseline_table",
    "brier",
    "calibration_table",
    "default_nw_lags",
    "f1_at",
    "ic_by_date",
    "ic_summary",
    "log_loss",
    "newey_west_mean",
    "pr_auc",
    "precision_at_k",
    "roc_auc",
    "spans_from_frame",
]
