"""The feature registry: an immutable collection of :class:`~earnest.features.spec.FeatureSpec`.

There is no module-level registry that code mutates on import. A :class:`Registry` is a value:
build one from specs (``Registry(specs)``), extend it into a new one (``registry.with_specs(...)``),
and pass it where it is needed. :func:`default_registry` builds the registry of the features earnest
ships by importing each module of :data:`FEATURE_MODULES` and collecting its ``SPECS`` tuple.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from earnest.features.spec import FeatureError, FeatureSpec

FEATURE_MODULES: tuple[str, ...] = (
    "earnest.features.seasonality",
    "earnest.features.technical",
    "earnest.features.weekly",
    "earnest.features.earnings",
    "earnest.features.relative",
    "earnest.features.sentiment",
)
"""Modules whose ``SPECS: tuple[FeatureSpec, ...]`` make up the shipped features, in listing order.
A module of this list that does not exist (yet) is skipped; one that exists but fails to import,
or has no valid ``SPECS``, is an error: a broken feature module is never silently left out."""


class Registry:
    """Feature specs by name, in registration order. Spec names and output column names are each
    unique across the registry (an output names one stored feature column)."""

    def __init__(self, specs: Iterable[FeatureSpec] = ()) -> None:
        self._specs: dict[str, FeatureSpec] = {}
        self._owner: dict[str, str] = {}
        for spec in specs:
            if not isinstance(spec, FeatureSpec):
                raise FeatureError(
                    f"registry entry {spec!r} is a {type(spec).__name__}, not a FeatureSpec",
                    remedy="wrap the feature function in FeatureSpec(...)",
                )
            if spec.name in self._specs:
                raise FeatureError(
                    f"two features are named {spec.name!r}",
                    remedy="give each spec a unique name",
                    field="name",
                )
            for out in spec.outputs:
                if out in self._owner:
                    raise FeatureError(
                        f"output {out!r} of feature {spec.name!r} is already an output of {self._owner[out]!r}",
                        remedy="output names must be unique: put the parameters in the name",
                        field="outputs",
                    )
                self._owner[out] = spec.name
            self._specs[spec.name] = spec

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[FeatureSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __repr__(self) -> str:
        return f"Registry({len(self)} features: {', '.join(self._specs)})"

    @property
    def specs(self) -> tuple[FeatureSpec, ...]:
        return tuple(self._specs.values())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every output column, in registration order."""
        return tuple(self._owner)

    def with_specs(self, *specs: FeatureSpec) -> Registry:
        """A new registry with ``specs`` added after these (this one is unchanged)."""
        return Registry((*self._specs.values(), *specs))

    def get(self, name: str) -> FeatureSpec:
        """The spec named ``name``, or the spec that outputs the column ``name``."""
        if name in self._specs:
            return self._specs[name]
        if name in self._owner:
            return self._specs[self._owner[name]]
        close = difflib.get_close_matches(name, [*self._specs, *self._owner], n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "run `earnest features list`"
        raise FeatureError(f"no feature named {name!r}", remedy=hint, field="name")

    def select(self, names: Sequence[str] | None = None) -> tuple[FeatureSpec, ...]:
        """Specs for ``names`` (spec or output names; each spec once, in registry order); all specs
        when ``names`` is None."""
        if names is None:
            return self.specs
        wanted = {self.get(n).name for n in names}
        return tuple(s for s in self._specs.values() if s.name in wanted)

    def rows(self) -> list[dict[str, Any]]:
        """One row per feature for ``earnest features list``: name, inputs, lookback, outputs,
        known_at, description."""
        return [
            {
                "name": s.name,
                "inputs": ", ".join(s.inputs),
                "lookback_sessions": s.lookback_sessions,
                "outputs": ", ".join(s.outputs),
                "known_at": s.known_at,
                "description": s.description,
            }
            for s in self._specs.values()
        ]


def module_specs(module_name: str) -> tuple[FeatureSpec, ...] | None:
    """The ``SPECS`` of ``module_name``; None when no such module exists. Import errors inside an
    existing module propagate."""
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        found = None
    if found is None:
        return None
    module = importlib.import_module(module_name)
    specs = getattr(module, "SPECS", None)
    if not isinstance(specs, tuple) or not all(isinstance(s, FeatureSpec) for s in specs):
        raise FeatureError(
            f"feature module {module_name} has no SPECS tuple of FeatureSpec (got {type(specs).__name__})",
            remedy="define SPECS: tuple[FeatureSpec, ...] at the module's top level",
            file=module_name,
        )
    return specs


@lru_cache(maxsize=8)
def default_registry(modules: tuple[str, ...] = FEATURE_MODULES) -> Registry:
    """The registry of shipped features: the ``SPECS`` of each existing module of ``modules``.

    Cached: a :class:`Registry` is immutable, so every caller can share it."""
    specs: list[FeatureSpec] = []
    for name in modules:
        found = module_specs(name)
        if found is not None:
            specs.extend(found)
    return Registry(specs)


__all__ = ["FEATURE_MODULES", "Registry", "default_registry", "module_specs"]
