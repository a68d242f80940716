"""The model the service scores with, where it comes from, and how a new one is swapped in.

- :class:`ServedModel`: what a request needs of a model: its name and version, the feature columns
  it reads (in order), what its score means, a ``predict_scores(frame)`` and, when known, the
  reference distribution of each feature over its training window (for drift, :mod:`.drift`).
- :class:`ModelSource`: where served models come from: ``current()`` (load the model to serve) and
  ``version_token()`` (a cheap string that changes when ``current()`` would return another model).
  :class:`InMemoryModelSource` holds one set by code (tests, notebooks);
  :class:`RegistryModelSource` serves the production version of a registered model.
- :class:`ModelHolder`: the running service's current model. A watcher polls the source's token
  and swaps the reference in one assignment; a request reads the reference once and keeps the model
  it started with, so a swap never fails an in-flight request.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import polars as pl

from earnest.core.errors import EarnestError
from earnest.service.drift import Reference

ScoreKind = Literal["probability", "score"]
"""``probability``: P(positive class) of a classifier; ``score``: a regressor's prediction."""


class ModelLoadError(EarnestError):
    """The model source failed to load the model to serve."""

    exit_code = 7


@dataclass(frozen=True)
class ServedModel:
    """A fitted model ready to score rows of feature values.

    ``features`` are the output columns of registered features (``earnest features list``) the
    model reads, in the order it was fitted on; ``kind`` says what a score means; ``reference``
    maps a feature to its training-window distribution (empty: no drift is reported);
    ``lineage`` is free-form provenance (run id, training window, data hash) shown by ``/v1/models``.
    """

    name: str
    version: str
    features: tuple[str, ...]
    estimator: Any
    kind: ScoreKind = "probability"
    reference: Mapping[str, Reference] = field(default_factory=dict)
    lineage: Mapping[str, Any] = field(default_factory=dict)
    scorer: Callable[[pl.DataFrame], np.ndarray] | None = None

    def predict_scores(self, frame: pl.DataFrame) -> np.ndarray:
        """One score per row of ``frame`` (which holds at least :attr:`features`, without nulls)."""
        if self.scorer is not None:
            return np.asarray(self.scorer(frame), dtype=np.float64)
        X = frame.select(self.features).to_numpy().astype(np.float64)  # noqa: N806
        if self.kind == "probability":
            return np.asarray(self.estimator.predict_proba(X)[:, -1], dtype=np.float64)
        return np.asarray(self.estimator.predict(X), dtype=np.float64)


@runtime_checkable
class ModelSource(Protocol):
    """Where the service's model comes from."""

    def current(self) -> ServedModel | None:
        """The model to serve now (loading it may be slow), or None when there is none."""
        ...

    def version_token(self) -> str | None:
        """A cheap token that changes whenever :meth:`current` would return another model."""
        ...


class InMemoryModelSource:
    """A model source holding one model set by code; :meth:`set` is a promotion."""

    def __init__(self, model: ServedModel | None = None) -> None:
        self._model = model
        self._count = 0

    def set(self, model: ServedModel | None) -> None:
        """Serve ``model`` from now on (the watcher picks it up at its next poll)."""
        self._model = model
        self._count += 1

    def current(self) -> ServedModel | None:
        return self._model

    def version_token(self) -> str | None:
        model = self._model
        return None if model is None else f"{model.name}:{model.version}:{self._count}"


class LoadedModelLike(Protocol):
    """What :class:`RegistryModelSource` needs of the registry's loaded model
    (``earnest.models.registry.LoadedModel``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> Any: ...
    @property
    def features(self) -> Sequence[str]: ...
    @property
    def lineage(self) -> Any: ...
    @property
    def estimator(self) -> Any: ...
    def predict_scores(self, frame: pl.DataFrame) -> Any: ...


class ProductionRegistry(Protocol):
    """What :class:`RegistryModelSource` needs of the model registry."""

    def production(self, name: str) -> Any: ...


def _lineage_dict(lineage: Any) -> dict[str, Any]:
    if isinstance(lineage, Mapping):
        return dict(lineage)
    to_dict = getattr(lineage, "to_dict", None)
    if callable(to_dict):
        got = to_dict()
        return dict(got) if isinstance(got, Mapping) else {}
    return {}


def served_from_loaded(loaded: LoadedModelLike) -> ServedModel:
    """A :class:`ServedModel` from the registry's loaded model (scores with its ``predict_scores``).
    A ``feature_reference`` entry of the lineage (feature -> {edges, shares}) becomes the drift
    reference; without one the service builds it from the stored features of the training window."""
    lineage = _lineage_dict(loaded.lineage)
    raw_ref = lineage.pop("feature_reference", None)
    reference = (
        {str(k): Reference.from_dict(v) for k, v in raw_ref.items()} if isinstance(raw_ref, Mapping) else {}
    )
    kind: ScoreKind = "probability" if hasattr(loaded.estimator, "predict_proba") else "score"
    return ServedModel(
        name=str(loaded.name),
        version=str(loaded.version),
        features=tuple(loaded.features),
        estimator=loaded.estimator,
        kind=kind,
        reference=reference,
        lineage=lineage,
        scorer=lambda frame: np.asarray(loaded.predict_scores(frame), dtype=np.float64),
    )


class RegistryModelSource:
    """The production version of registered model ``name`` in ``registry``
    (:class:`earnest.models.registry.Registry` or anything with its ``production(name)``).

    :meth:`version_token` asks for the production version only when the registry offers a cheap
    ``production_version(name)``; otherwise it loads ``production(name)`` and keeps the loaded
    model, so :meth:`current` after a changed token does not load it a second time.
    """

    def __init__(self, registry: ProductionRegistry, name: str) -> None:
        self.registry = registry
        self.name = name
        self._loaded: Any = None

    def _call(self, what: str, fn: Callable[[str], Any]) -> Any:
        try:
            return fn(self.name)
        except EarnestError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"cannot {what} model {self.name!r} from the registry: {exc}",
                remedy="check the registry (EARNEST_HOME/mlflow) and that the model is registered and promoted",
            ) from exc

    def version_token(self) -> str | None:
        cheap = getattr(self.registry, "production_version", None)
        if callable(cheap):
            got = self._call("ask the production version of", cheap)
            return None if got is None else str(got)
        self._loaded = self._call("load the production version of", self.registry.production)
        return None if self._loaded is None else str(self._loaded.version)

    def current(self) -> ServedModel | None:
        loaded = self._loaded
        if loaded is None:
            loaded = self._call("load the production version of", self.registry.production)
        self._loaded = None
        return None if loaded is None else served_from_loaded(loaded)

    def oos(self, model: ServedModel) -> pl.DataFrame | None:
        """The out-of-sample predictions registered with ``model``'s version (None when the registry
        keeps none); ``GET /v1/alerts/performance`` derives the backtest's expectation from them."""
        get = getattr(self.registry, "oos", None)
        if not callable(get):
            return None
        got = self._call(
            "read the out-of-sample predictions of", lambda name: get(name, version=int(model.version))
        )
        return got if isinstance(got, pl.DataFrame) else None


def registry_source(uri: str | None, *, home: Path, name: str) -> RegistryModelSource:
    """The production version of ``name`` in the registry at ``uri`` (the local SQLite registry
    under ``home`` when None; :meth:`earnest.models.registry.Registry.open`)."""
    from earnest.models.registry import Registry

    return RegistryModelSource(Registry.open(uri, home=home), name)


@dataclass(frozen=True)
class Swap:
    """One model change seen by the service: from which version to which, and when."""

    at: dt.datetime
    from_version: str | None
    to_version: str | None


class ModelHolder:
    """The service's current model, swapped atomically when the source's token changes.

    :attr:`active` is a (model, prepared) pair read in one attribute access: a request reads it once
    and keeps that pair, so a swap during the request changes nothing for it. :meth:`poll` (the
    watcher's step) loads the new model and runs ``prepare`` on it (the service builds its online
    features there) before replacing the reference; a failed load or preparation keeps the old
    model and is remembered in :attr:`last_error`.
    """

    def __init__(self, source: ModelSource, *, prepare: Callable[[ServedModel], Any] | None = None) -> None:
        self.source = source
        self.prepare = prepare
        self.active: tuple[ServedModel, Any] | None = None
        self.token: str | None = None
        self.last_error: str | None = None
        self.swaps: list[Swap] = []
        self._lock = threading.Lock()

    @property
    def model(self) -> ServedModel | None:
        active = self.active
        return None if active is None else active[0]

    def poll(self) -> bool:
        """Load and swap in the source's model if its token changed; True when it swapped."""
        with self._lock:
            try:
                token = self.source.version_token()
                if token == self.token:
                    return False
                new = self.source.current() if token is not None else None
                prepared = self.prepare(new) if new is not None and self.prepare is not None else None
            except EarnestError as exc:
                self.last_error = str(exc)
                return False
            old = self.model
            self.active = None if new is None else (new, prepared)  # the swap: one assignment
            self.token = token
            self.last_error = None
            self.swaps.append(
                Swap(dt.datetime.now(dt.UTC), old.version if old else None, new.version if new else None)
            )
            del self.swaps[:-50]
            return True


__all__ = [
    "InMemoryModelSource",
    "LoadedModelLike",
    "ModelHolder",
    "ModelLoadError",
    "ModelSource",
    "ProductionRegistry",
    "RegistryModelSource",
    "ScoreKind",
    "ServedModel",
    "Swap",
    "registry_source",
    "served_from_loaded",
]
