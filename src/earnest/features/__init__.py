"""Point-in-time features: declarative specs, a registry, the engine and the feature modules.

- :class:`FeatureSpec` (:mod:`earnest.features.spec`): what a feature reads, its lookback, outputs
  and when its values become known;
- :class:`Registry` and :func:`default_registry` (:mod:`earnest.features.registry`): the shipped
  features (seasonality, technical, weekly, earnings, relative);
- :func:`compute_features` and :func:`features_at` (:mod:`earnest.features.engine`): the engine,
  which slices every input to what was known at the as-of time;
- :func:`build_features` and :func:`read_features` (:mod:`earnest.features.materialise`): the
  store's ``features`` table, built incrementally;
- :func:`store_features_at` (:mod:`earnest.features.loading`): point-in-time values for any
  (symbol, as-of) pairs computed from the store's inputs, the prediction service's API.
"""

from __future__ import annotations

from earnest.features.engine import compute_features, features_at, to_long, to_wide
from earnest.features.loading import store_features_at
from earnest.features.materialise import build_features, read_features
from earnest.features.registry import Registry, default_registry
from earnest.features.spec import FeatureError, FeatureSpec

__all__ = [
    "FeatureError",
    "FeatureSpec",
    "Registry",
    "build_features",
    "compute_features",
    "default_registry",
    "features_at",
    "read_features",
    "store_features_at",
    "to_long",
    "to_wide",
]
