"""Estimators with scikit-learn conventions, built by one factory.

:func:`make_estimator` returns an unfitted estimator (``fit`` / ``predict`` / ``predict_proba``):

- ``"logistic"``: the baseline, a scikit-learn ``Pipeline`` of ``SimpleImputer`` (missing values
  replaced by the training median), ``StandardScaler`` and ``LogisticRegression`` (classification) or
  ``Ridge`` (regression). The imputer and the scaler are pipeline steps, so they are fitted on the
  training window only, never on the rows they later score.
- ``"lightgbm"``: ``LGBMClassifier`` / ``LGBMRegressor``.
- ``"xgboost"``: ``XGBClassifier`` / ``XGBRegressor`` (histogram method, CPU).
- ``"lstm"``: an LSTM with additive attention pooling on PyTorch (CPU),
  :class:`earnest.models.sequence.LSTMAttentionClassifier` / ``LSTMAttentionRegressor``; 2-D ``X``
  needs ``params={"seq_len": ...}`` (columns as ``seq_len`` blocks of features, oldest first).

Every estimator is deterministic for a given ``seed``: the seed goes to every random source, the
number of threads is fixed (``n_jobs``, default 1) and LightGBM runs with ``deterministic=True``.
Fixing the thread count matters: gradient sums taken in a different order round differently, so the
same seed on a different number of threads may give slightly different trees. ``params`` overrides
the defaults key by key (for the pipeline, they go to the final model).

LightGBM and XGBoost are in the ``ml`` extra, PyTorch in the ``deep`` extra; they are imported when
asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from earnest.core.errors import ConfigError

__all__ = ["ESTIMATOR_KINDS", "TASKS", "EstimatorKind", "Task", "make_estimator", "score"]

EstimatorKind = Literal["logistic", "lightgbm", "xgboost", "lstm"]
"""Which model family: the logistic (or ridge) baseline, LightGBM, XGBoost or the LSTM sequence model."""
Task = Literal["classification", "regression"]
"""Classification (win, circuit hit, triple-barrier sign) or regression (forward or abnormal return)."""

ESTIMATOR_KINDS: tuple[str, ...] = ("logistic", "lightgbm", "xgboost", "lstm")
TASKS: tuple[str, ...] = ("classification", "regression")

_WHERE = "earnest.models.estimators"


def _logistic(task: str, *, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression, Ridge  # type: ignore[import-untyped]
    from sklearn.pipeline import Pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    model: Any
    if task == "classification":
        model = LogisticRegression(**{"max_iter": 1000, "C": 1.0, "random_state": seed, **params})
    else:
        model = Ridge(**{"alpha": 1.0, "random_state": seed, **params})
    impute = SimpleImputer(strategy="median", keep_empty_features=True)  # all-missing column -> 0
    return Pipeline([("impute", impute), ("scale", StandardScaler()), ("model", model)])


def _lightgbm(task: str, *, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    import lightgbm as lgb

    defaults: dict[str, Any] = {
        "n_estimators": 200,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "random_state": seed,
        "n_jobs": n_jobs,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
    return cls(**{**defaults, **params})


def _xgboost(task: str, *, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    import xgboost as xgb

    defaults: dict[str, Any] = {
        "n_estimators": 200,
        "learning_rate": 0.05,
        "max_depth": 6,
        "tree_method": "hist",
        "device": "cpu",
        "random_state": seed,
        "n_jobs": n_jobs,
        "verbosity": 0,
    }
    cls = xgb.XGBClassifier if task == "classification" else xgb.XGBRegressor
    return cls(**{**defaults, **params})


def _lstm(task: str, *, seed: int, n_jobs: int, params: Mapping[str, Any]) -> Any:
    # Raises ConfigError naming ``pip install 'earnest[deep]'`` when PyTorch is missing.
    from earnest.models.sequence import LSTMAttentionClassifier, LSTMAttentionRegressor

    cls = LSTMAttentionClassifier if task == "classification" else LSTMAttentionRegressor
    return cls(**{"seed": seed, "n_jobs": n_jobs, **params})


_BUILDERS = {"logistic": _logistic, "lightgbm": _lightgbm, "xgboost": _xgboost, "lstm": _lstm}


def make_estimator(
    kind: str,
    task: str,
    *,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
) -> Any:
    """A new, unfitted, deterministic estimator of ``kind`` for ``task``.

    ``kind`` is one of :data:`ESTIMATOR_KINDS`, ``task`` one of :data:`TASKS`. ``seed`` seeds every
    random source; ``n_jobs`` fixes the thread count (keep it fixed to reproduce results exactly);
    ``params`` overrides the family's defaults.
    """
    if kind not in _BUILDERS:
        raise ConfigError(
            f"unknown estimator kind {kind!r}",
            remedy=f"use one of {', '.join(ESTIMATOR_KINDS)}",
            field="kind",
            file=_WHERE,
        )
    if task not in TASKS:
        raise ConfigError(
            f"unknown task {task!r}", remedy=f"use one of {', '.join(TASKS)}", field="task", file=_WHERE
        )
    if n_jobs < 1:
        raise ConfigError(f"n_jobs must be >= 1, got {n_jobs}", field="n_jobs", file=_WHERE)
    return _BUILDERS[kind](task, seed=seed, n_jobs=n_jobs, params=dict(params or {}))


def score(estimator: Any, X: Any) -> Any:  # noqa: N803 (scikit-learn convention)
    """The model's score for each row of ``X``: P(positive class) for a classifier, else ``predict``.

    For a binary classifier this is the second column of ``predict_proba`` (the class that sorts
    last, e.g. ``1`` or ``True``).
    """
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)[:, -1]
    return estimator.predict(X)
