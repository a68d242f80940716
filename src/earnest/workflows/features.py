"""Features as a user drives them: ``earnest features list`` and ``earnest features build``.

``build`` computes the registered features on bars read from the store and materialises them into
the ``features`` table, incrementally (only sessions not stored yet). The input basis is an explicit
choice: ``adjusted=False`` (the default) uses the unadjusted bars as traded, which is what a
participant saw each day; ``adjusted=True`` uses prices back-adjusted for corporate actions known
when the build runs (see :mod:`earnest.features.materialise` for what that means point in time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from earnest.features.loading import store_features_at
from earnest.features.materialise import BuildReport, Progress, build_features, read_features
from earnest.features.registry import Registry, default_registry
from earnest.store import Store


def list_features(registry: Registry | None = None) -> list[dict[str, Any]]:
    """One row per feature (name, inputs, lookback_sessions, outputs, known_at, description)."""
    return (registry or default_registry()).rows()


def features_frame(registry: Registry | None = None) -> pl.DataFrame:
    """:func:`list_features` as a frame, for the CLI's table/csv/json renderers."""
    rows = list_features(registry)
    columns = ("name", "inputs", "lookback_sessions", "outputs", "known_at", "description")
    return pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.Utf8) | {"lookback_sessions": pl.Int64})


def build(
    store: Store,
    *,
    features: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    adjusted: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    registry: Registry | None = None,
) -> BuildReport:
    """Materialise ``features`` (spec or output names; default all registered) for ``symbols``
    (default all) from the store's bars, raw (default) or ``adjusted``; ``rebuild`` recomputes
    every session instead of only the new ones."""
    specs = (registry or default_registry()).select(features)
    return build_features(
        store, specs, symbols=symbols, adjusted=adjusted, rebuild=rebuild, progress=progress
    )


def read(
    store: Store,
    *,
    features: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    wide: bool = False,
    registry: Registry | None = None,
) -> pl.DataFrame:
    """Stored values of ``features`` (spec or output names) for ``symbols``, long or ``wide``."""
    outputs = None
    if features is not None:
        reg = registry or default_registry()
        outputs = [
            o for spec in reg.select(features) for o in spec.outputs if o in features or spec.name in features
        ]
    return read_features(store, features=outputs, symbols=symbols, wide=wide)


def features_at(
    store: Store,
    pairs: pl.DataFrame,
    *,
    features: Sequence[str] | None = None,
    adjusted: bool = False,
    registry: Registry | None = None,
) -> pl.DataFrame:
    """Point-in-time values of ``features`` (spec or output names; default all registered) for each
    (``symbol`` or ``instrument_id``, ``as_of``) row of ``pairs``, computed from the store
    (:func:`earnest.features.store_features_at`): what the prediction service asks. Features whose
    input the store lacks are null."""
    specs = (registry or default_registry()).select(features)
    return store_features_at(store, specs, pairs, adjusted=adjusted)


__all__ = ["build", "features_at", "features_frame", "list_features", "read"]
