"""Declarative feature specs: what a feature reads, how much history it needs, what it outputs and
when each value becomes known.

A :class:`FeatureSpec` wraps a pure ``compute(panel, **inputs, **params) -> frame`` function. The
engine (:mod:`earnest.features.engine`) never lets a feature choose its data: it slices the inputs
to what was known at the as-of time plus ``lookback_sessions`` rows of history, calls ``compute``
and checks the result against the spec (same rows, declared outputs, no value known after its row's
end of day).

The compute contract (shared with every feature module):

- ``panel`` is a Polars frame, one row per (``instrument_id``, ``date``), sorted by
  (``instrument_id``, ``date``), with ``symbol`` and the ``BARS`` price columns;
- every input named in ``inputs`` other than ``"bars"`` arrives as a keyword argument of the same
  name (``index=``, ``events=``, ``bands=``, ``sectors=``), already sliced; ``params`` arrive as
  keyword arguments too;
- the result has ``instrument_id``, ``date``, ``known_at`` (UTC timestamp) and the ``outputs``
  columns (Float64), same rows in the same order as ``panel``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import polars as pl

from earnest.core.errors import EarnestError
from earnest.core.hashing import sha256_json
from earnest.core.schemas import UTC_TS

KnownAt = Literal["eod", "event"]
"""When a value becomes known: ``eod`` at the end of its row's session (16:00 IST, see
:func:`earnest.core.calendar.eod_known_utc`), ``event`` at the time the feature itself returns in
``known_at`` (an announcement instant), never later than its row's end of day."""

INPUTS = frozenset({"bars", "index", "events", "bands", "sectors", "announcements"})
"""Input kinds the engine knows how to slice and the store loader knows how to load: ``bars`` (the
panel itself), ``index`` (``INDEX_BARS`` rows, e.g. NIFTY 50), ``events`` (earnings events with
``knowledge_time``), ``bands`` (``PRICE_BANDS`` rows), ``sectors`` (``instrument_id``,
``sector`` and, when the classification is dated, ``knowledge_time``) and ``announcements``
(``symbol``, ``knowledge_time``, ``text``: stored custom events that carry text)."""

KNOWN_AT = ("eod", "event")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_KEY_COLUMNS = ("instrument_id", "date", "known_at")
_IST_OFFSET = dt.timedelta(hours=5, minutes=30)
_EOD_UTC = dt.timedelta(hours=16) - _IST_OFFSET


class FeatureError(EarnestError):
    """A feature spec is invalid, or a feature broke its contract (rows, outputs, look-ahead)."""

    exit_code = 2


Compute = Callable[..., pl.DataFrame]


@dataclass(frozen=True)
class FeatureSpec:
    """A feature: ``name`` (unique in a registry), a one-line ``description`` of what the value
    means, the ``compute`` function, its ``inputs`` (subset of :data:`INPUTS`, always including
    ``bars``), ``lookback_sessions`` (rows of an instrument's history before a date that its value
    may depend on; for recursive indicators such as EMAs, a warm-up after which the seed no longer
    matters), ``outputs`` (column names, unique across a registry, carrying parameters and units:
    ``rsi_14``), ``params`` (keyword arguments of ``compute``, JSON-serialisable) and ``known_at``.
    """

    name: str
    description: str
    compute: Compute
    inputs: tuple[str, ...]
    lookback_sessions: int
    outputs: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    known_at: KnownAt = "eod"
    version: int = 1
    """Bump when the computation changes without a change of name, params or function."""
    cross_sectional: bool = False
    """True when a value depends on other instruments' rows of the same date (ranks, z-scores), so
    computing it for a subset of instruments gives other values: the store-level
    :func:`~earnest.features.loading.store_features_at` then reads the whole universe. Not part of
    :attr:`spec_hash` (it says which rows a value depends on, not how it is computed)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        _validate(self)

    @property
    def spec_hash(self) -> str:
        """A hash of everything that decides the values: name, compute function, inputs, lookback,
        outputs, params, known_at and version. Stored with each materialised value, so a changed spec is
        detected instead of silently mixed with old values."""
        return sha256_json(self.identity())

    def identity(self) -> dict[str, Any]:
        """The JSON-able description hashed by :attr:`spec_hash`."""
        fn = self.compute
        return {
            "name": self.name,
            "compute": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}",
            "inputs": list(self.inputs),
            "lookback_sessions": self.lookback_sessions,
            "outputs": list(self.outputs),
            "params": dict(self.params),
            "known_at": self.known_at,
            "version": self.version,
        }


def _fail(spec_name: object, field_name: str, message: str, remedy: str) -> None:
    raise FeatureError(f"feature spec {spec_name!r}: {message}", remedy=remedy, field=field_name)


def _validate(spec: FeatureSpec) -> None:
    """Raise :class:`FeatureError` naming the field when ``spec`` is malformed."""
    if not isinstance(spec.name, str) or not _NAME.fullmatch(spec.name):
        _fail(spec.name, "name", "name must be lower-case letters, digits and _", "rename it, e.g. rsi_14")
    if not isinstance(spec.description, str) or not spec.description.strip():
        _fail(spec.name, "description", "description is empty", "say in one line what the value means")
    if not callable(spec.compute):
        _fail(
            spec.name, "compute", f"compute is {type(spec.compute).__name__}, not callable", "pass a function"
        )
    unknown = [i for i in spec.inputs if i not in INPUTS]
    if unknown or "bars" not in spec.inputs or len(set(spec.inputs)) != len(spec.inputs):
        _fail(
            spec.name,
            "inputs",
            f"inputs {spec.inputs} must include 'bars', once each, from {sorted(INPUTS)}",
            "declare what the feature reads, e.g. ('bars', 'index')",
        )
    lookback = spec.lookback_sessions
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 0:
        _fail(
            spec.name,
            "lookback_sessions",
            f"lookback {lookback!r} is not an integer >= 0",
            "e.g. 13 for rsi_14",
        )
    bad = [o for o in spec.outputs if not isinstance(o, str) or not _NAME.fullmatch(o) or o in _KEY_COLUMNS]
    if not spec.outputs or bad or len(set(spec.outputs)) != len(spec.outputs):
        _fail(
            spec.name,
            "outputs",
            f"outputs {spec.outputs} must be distinct lower-case column names, not {list(_KEY_COLUMNS)}",
            "name outputs with parameters and units, e.g. ('ret_5d',)",
        )
    if spec.known_at not in KNOWN_AT:
        _fail(
            spec.name,
            "known_at",
            f"known_at {spec.known_at!r} is not one of {KNOWN_AT}",
            "use 'eod' or 'event'",
        )
    clash = sorted(set(spec.params) & (INPUTS - {"bars"}))
    if clash:
        _fail(spec.name, "params", f"params {clash} clash with input keyword arguments", "rename the params")
    try:
        sha256_json(dict(spec.params))
    except (TypeError, ValueError) as exc:
        _fail(spec.name, "params", f"params are not JSON-serialisable: {exc}", "use numbers, strings, lists")


def eod_known_at(date: pl.Expr) -> pl.Expr:
    """The UTC instant end-of-day data of ``date`` (a ``pl.Date`` expression) is known: 16:00 IST,
    vectorised :func:`earnest.core.calendar.eod_known_utc` (IST has no daylight saving)."""
    return (date.cast(pl.Datetime("us")) + pl.lit(_EOD_UTC)).dt.replace_time_zone("UTC").cast(UTC_TS)


__all__ = ["INPUTS", "KNOWN_AT", "FeatureError", "FeatureSpec", "KnownAt", "eod_known_at"]
