"""Online features: the research code's point-in-time values, cached.

There is no second implementation: a value the service scores with comes from
:func:`earnest.features.loading.store_features_at`, the function research uses, for the pair
(instrument, end of the as-of day in IST). Values are cached by (instrument, as-of date, feature
version); the feature version is a hash of the specs' :attr:`~earnest.features.FeatureSpec.spec_hash`,
so a changed feature never serves a stale value. An entry expires after ``ttl_s`` seconds, which
bounds how long a late-ingested row with an earlier knowledge time can be missed.

Threads: the service shares one store (one connection); both backends serialise their statements
on a lock (``DuckDBStore``/``PostgresStore`` hold an ``RLock``), and the polars work between the
statements runs in the calling thread. Misses of one request (a batch) are computed in one call.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from earnest.core.calendar import IST
from earnest.core.errors import NotFoundError
from earnest.core.hashing import sha256_json
from earnest.features.loading import store_features_at
from earnest.features.registry import Registry, default_registry
from earnest.features.spec import FeatureSpec
from earnest.service.drift import Reference, reference_from_values
from earnest.store.base import Store

FeatureRow = dict[str, float | None]
"""A pair's feature values by output column (None: unknown at the as-of instant)."""


@dataclass(frozen=True)
class Instrument:
    """A resolved instrument: its id (the ISIN when known), current symbol and ISIN."""

    instrument_id: str
    symbol: str
    isin: str | None


def as_of_instant(day: dt.date) -> dt.datetime:
    """The instant a prediction "as of ``day``" is made: the end of that day in IST (everything
    published that day, such as its end-of-day bars, is known)."""
    return dt.datetime.combine(day, dt.time(23, 59, 59, 999999), tzinfo=IST)


class InstrumentIndex:
    """Symbol and ISIN lookup over the ``instruments`` table, reloaded on a miss at most every
    ``refresh_s`` seconds (a listing added while the service runs is found after that)."""

    def __init__(self, store: Store, *, refresh_s: float = 30.0) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._by_symbol: dict[str, Instrument] = {}
        self._by_isin: dict[str, Instrument] = {}
        self._loaded_at = -1e18
        self._lock = threading.Lock()

    def _load(self) -> None:
        rows = self.store.query(
            "SELECT instrument_id, symbol, isin, last_seen FROM instruments ORDER BY last_seen NULLS FIRST"
        )
        by_symbol, by_isin = {}, {}
        for iid, symbol, isin, _ in rows.iter_rows():
            inst = Instrument(str(iid), str(symbol).upper(), isin)
            by_symbol[inst.symbol] = inst  # the most recently seen instrument wins a reused symbol
            if isin:
                by_isin[str(isin).upper()] = inst
        self._by_symbol, self._by_isin = by_symbol, by_isin
        self._loaded_at = time.monotonic()

    def resolve(self, *, symbol: str | None = None, isin: str | None = None) -> Instrument:
        """The instrument named by ``symbol`` or ``isin``; :class:`NotFoundError` when none is."""
        key = (isin or symbol or "").upper()

        def lookup() -> Instrument | None:
            return (self._by_isin if isin else self._by_symbol).get(key)

        found = lookup()
        if found is None:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self.refresh_s:
                    self._load()
            found = lookup()
        if found is None:
            what = "ISIN" if isin else "symbol"
            raise NotFoundError(
                f"no instrument with {what} {key!r} in the store",
                remedy="check the spelling; symbols are NSE trading symbols (e.g. INFY)",
                field="isin" if isin else "symbol",
            )
        return found


def feature_version(specs: Sequence[FeatureSpec]) -> str:
    """A hash of the specs that decide the values (their names and spec hashes)."""
    return sha256_json(sorted((s.name, s.spec_hash) for s in specs))[:16]


class OnlineFeatures:
    """Point-in-time values of the output columns ``features`` for (instrument, as-of date) pairs,
    from ``store`` through :func:`store_features_at`, with an LRU cache of ``cache_size`` pairs
    whose entries live ``ttl_s`` seconds."""

    def __init__(
        self,
        store: Store,
        features: Sequence[str],
        *,
        registry: Registry | None = None,
        cache_size: int = 100_000,
        ttl_s: float = 600.0,
        adjusted: bool = False,
    ) -> None:
        self.store = store
        self.features = tuple(features)
        self.specs = (registry or default_registry()).select(list(features))
        self.version = feature_version(self.specs)
        self.cache_size = cache_size
        self.ttl_s = ttl_s
        self.adjusted = adjusted
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[tuple[str, dt.date, str], tuple[float, FeatureRow]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, instrument_id: str, day: dt.date) -> FeatureRow | None:
        """The cached values of a pair, or None (absent or expired)."""
        key = (instrument_id, day, self.version)
        with self._lock:
            got = self._cache.get(key)
            if got is None or got[0] < time.monotonic():
                return None
            self._cache.move_to_end(key)
            return got[1]

    def _put(self, instrument_id: str, day: dt.date, row: FeatureRow) -> None:
        if self.cache_size == 0:
            return
        with self._lock:
            self._cache[(instrument_id, day, self.version)] = (time.monotonic() + self.ttl_s, row)
            self._cache.move_to_end((instrument_id, day, self.version))
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def compute(self, pairs: Sequence[tuple[str, dt.date]]) -> list[FeatureRow]:
        """Values of ``pairs`` computed from the store now (no cache)."""
        if not pairs:
            return []
        frame = pl.DataFrame(
            {
                "instrument_id": [p[0] for p in pairs],
                "as_of": [as_of_instant(p[1]) for p in pairs],
            },
            schema={"instrument_id": pl.Utf8, "as_of": pl.Datetime("us", "UTC")},
        )
        got = store_features_at(self.store, self.specs, frame, adjusted=self.adjusted)
        cols = [c for c in self.features if c in got.columns]
        rows = got.select(cols).to_dicts()
        return [{f: _float(r.get(f)) for f in self.features} for r in rows]

    def values(self, pairs: Sequence[tuple[str, dt.date]]) -> list[FeatureRow]:
        """Values of ``pairs`` in order: cached ones from the cache, the rest in one computation."""
        out: list[FeatureRow | None] = [self.cached(iid, day) for iid, day in pairs]
        todo = sorted({pairs[i] for i, row in enumerate(out) if row is None})
        with self._lock:
            self.hits += len(pairs) - sum(row is None for row in out)
            self.misses += len(todo)
        if todo:
            fresh = dict(zip(todo, self.compute(todo), strict=True))
            for pair, row in fresh.items():
                self._put(pair[0], pair[1], row)
            out = [row if row is not None else fresh[pairs[i]] for i, row in enumerate(out)]
        return [row for row in out if row is not None]


def _float(value: object) -> float | None:
    if value is None or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def newest_bar_known_at(store: Store) -> dt.datetime | None:
    """When the newest stored bar became known (UTC), or None without bars."""
    got = store.query("SELECT max(knowledge_time) AS t FROM bars")
    value = got.item(0, 0) if got.height else None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def training_reference(
    store: Store, features: Sequence[str], *, start: dt.date, end: dt.date, bins: int = 10
) -> dict[str, Reference]:
    """The drift reference of each of ``features`` from the materialised ``features`` table over the
    training window ``start``..``end`` (features without stored values are left out)."""
    out = {}
    for name in features:
        got = store.query(
            "SELECT value FROM features WHERE feature = ? AND date >= ? AND date <= ? AND value IS NOT NULL",
            [name, start, end],
        )
        if got.height:
            out[name] = reference_from_values(got.get_column("value").to_list(), bins=bins)
    return out


__all__ = [
    "FeatureRow",
    "Instrument",
    "InstrumentIndex",
    "OnlineFeatures",
    "as_of_instant",
    "feature_version",
    "newest_bar_known_at",
    "training_reference",
]
