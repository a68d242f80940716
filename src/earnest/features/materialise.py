"""Materialised features: the store's long ``features`` table, built incrementally, read long or wide.

Table ``features`` (migration ``0004_features.sql``): one row per (``instrument_id``, ``date``,
``feature``) where ``feature`` is an output column name (``rsi_14``), with ``value`` (null where
unknown), ``known_at`` (UTC), ``spec_hash`` (see :func:`stored_hash`) and ``computed_at``.

Incremental build (:func:`build_features`): for each spec, the sessions already stored are found per
instrument (the latest stored date of its first output); only later sessions are computed, on a
panel that starts ``lookback_sessions`` rows of each instrument before the first pending session
(those rows are input only, never rewritten). A second run with no new bars computes nothing, and
writing is an upsert on the key, so a build is idempotent. The panel has one bar per instrument and
session: the ``EQ`` series where there is one, then NSE before BSE; the other inputs come from
:func:`earnest.features.loading.load_inputs`, and a spec whose input the store lacks is skipped with
the reason in :attr:`BuildReport.skipped`.

Rebuild (``rebuild=True``): every session is recomputed and written again; the store replaces a
stored row with the same key (``features`` is in :data:`earnest.store.base.REPLACE_ON_CONFLICT`), so
values computed from changed inputs (a corrected bar, a newly confirmed corporate action, a changed
spec) overwrite the old ones on both backends.

Raw or adjusted input is explicit (``adjusted``): with ``True`` the price columns are
corporate-action-adjusted with the actions known when the build runs
(:func:`earnest.marketdata.adjust.adjusted_bars`). Run daily, each new value is then computed with
the factors known that day; a full rebuild re-expresses history in today's share units, which leaves
scale-free features (returns, RSI, %B, ATR in %) unchanged but not price-level ones. The basis is
part of ``spec_hash``, so raw and adjusted values are never mixed silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.core.hashing import sha256_json
from earnest.features.engine import KEY, LONG_COLUMNS, compute_each, empty_long, to_wide
from earnest.features.loading import (
    bar_spans,
    in_clause,
    load_inputs,
    load_panel,
    missing_input,
    one_bar_per_session,
)
from earnest.features.spec import FeatureError, FeatureSpec
from earnest.store.base import Store

TABLE = "features"
FEATURES = schemas.FEATURES
FEATURE_KEY = schemas.FEATURE_KEY
WRITE_CHUNK_ROWS = 2_000_000

Progress = Callable[[int, int, str], None]
"""Called after each spec as ``progress(specs_done, specs_total, spec_name)`` (the CLI's progress bar)."""


@dataclass(frozen=True)
class BuildReport:
    """What a build did: new rows per spec, the first session computed per spec (None: from the
    start of history; absent: nothing was pending), the specs skipped with the reason, and the rows
    the store inserted."""

    rows_written: dict[str, int] = field(default_factory=dict)
    computed_from: dict[str, dt.date | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    rows_inserted: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows_written.values())

    @property
    def rows_replaced(self) -> int:
        """Rows written over stored ones with the same key (a rebuild)."""
        return self.total_rows - self.rows_inserted


def stored_hash(spec: FeatureSpec, *, adjusted: bool) -> str:
    """The ``spec_hash`` stored with a spec's values: its identity plus the input basis."""
    return sha256_json({"spec": spec.identity(), "adjusted": adjusted})


_STATE: schemas.Schema = {
    "feature": pl.Utf8,
    "instrument_id": pl.Utf8,
    "last_date": pl.Date,
    "hash_min": pl.Utf8,
    "hash_max": pl.Utf8,
}


def materialised_state(store: Store, features: Sequence[str]) -> pl.DataFrame:
    """(``feature``, ``instrument_id``, ``last_date``, ``hash_min``, ``hash_max``) of stored rows."""
    if not features:
        return schemas.empty(_STATE)
    clause, params = in_clause("feature", features)
    got = store.query(
        "SELECT feature, instrument_id, max(date) AS last_date, min(spec_hash) AS hash_min, "
        f"max(spec_hash) AS hash_max FROM {TABLE} WHERE {clause} GROUP BY feature, instrument_id",
        params,
    )
    return schemas.conform(got, _STATE, name="features state")


@dataclass(frozen=True)
class _Pending:
    spec: FeatureSpec
    start: dt.date | None
    done: pl.DataFrame  # (instrument_id, last_date) already stored; empty for a full (re)build


def _pending(
    spec: FeatureSpec, state: pl.DataFrame, spans: pl.DataFrame, *, adjusted: bool, rebuild: bool
) -> _Pending | None:
    """What of ``spec`` is still to compute: None when every instrument is up to date."""
    mine = state.filter(pl.col("feature") == spec.outputs[0])
    expected = stored_hash(spec, adjusted=adjusted)
    stale = mine.filter((pl.col("hash_min") != expected) | (pl.col("hash_max") != expected))
    if rebuild or mine.is_empty():
        return _Pending(spec, None, mine.clear().select("instrument_id", "last_date"))
    if stale.height:
        raise FeatureError(
            f"feature {spec.name!r} is stored for {stale.height} instrument(s) with another spec or input "
            "basis (raw vs adjusted) than asked now",
            remedy="rebuild it (earnest features build --rebuild), or build with the basis it was built with",
            field="spec_hash",
        )
    done = mine.select("instrument_id", pl.col("last_date").alias("_done"))
    starts = spans.join(done, on="instrument_id", how="left").select(
        pl.when(pl.col("_done").is_null())
        .then(pl.col("first_date"))
        .when(pl.col("_done") < pl.col("last_date"))
        .then(pl.col("_done") + pl.duration(days=1))
        .alias("start")
    )
    start = starts.get_column("start").min()
    if start is None:
        return None
    assert isinstance(start, dt.date)
    return _Pending(spec, start, mine.select("instrument_id", "last_date"))


def write_features(store: Store, long: pl.DataFrame, *, spec_hash: str, computed_at: dt.datetime) -> int:
    """Upsert a long frame (:data:`LONG_COLUMNS`) into ``features``; returns the rows inserted."""
    writer = _Writer(store, computed_at)
    writer.add(long, spec_hash)
    return writer.flush()


class _Writer:
    """Buffers long rows of several specs and upserts them in chunks of about
    :data:`WRITE_CHUNK_ROWS`: each upsert probes the whole table for existing keys, so a daily
    build writes every spec's new rows in one statement rather than one per spec."""

    def __init__(self, store: Store, computed_at: dt.datetime) -> None:
        self.store, self.computed_at = store, computed_at
        self.parts: list[pl.DataFrame] = []
        self.buffered = 0
        self.inserted = 0

    def add(self, long: pl.DataFrame, spec_hash: str) -> None:
        if long.is_empty():
            return
        self.parts.append(
            long.with_columns(
                pl.lit(spec_hash).alias("spec_hash"),
                pl.lit(self.computed_at, dtype=schemas.UTC_TS).alias("computed_at"),
            )
        )
        self.buffered += long.height
        if self.buffered >= WRITE_CHUNK_ROWS:
            self.flush()

    def flush(self) -> int:
        if self.parts:
            rows = pl.concat(self.parts)
            self.parts, self.buffered = [], 0
            for offset in range(0, rows.height, WRITE_CHUNK_ROWS):
                self.inserted += self.store.upsert(TABLE, rows.slice(offset, WRITE_CHUNK_ROWS))
        return self.inserted


def _long_rows(spec: FeatureSpec, frame: pl.DataFrame, done: pl.DataFrame) -> pl.DataFrame:
    """The spec's result as long rows, without the sessions already stored."""
    if done.height:
        frame = (
            frame.join(done, on="instrument_id", how="left")
            .filter(pl.col("last_date").is_null() | (pl.col("date") > pl.col("last_date")))
            .drop("last_date")
        )
    return frame.unpivot(index=[*KEY, "known_at"], on=list(spec.outputs), variable_name="feature").select(
        LONG_COLUMNS
    )


def _plan(
    store: Store,
    specs: Sequence[FeatureSpec],
    state: pl.DataFrame,
    spans: pl.DataFrame,
    *,
    adjusted: bool,
    rebuild: bool,
    symbols: Sequence[str] | None,
    report: BuildReport,
) -> list[_Pending]:
    """What each spec has pending. A spec stored with another hash raises before anything is
    written, unless the store cannot feed it anyway (then it is skipped with that reason and its
    stored rows are left as they are)."""
    plan: list[_Pending] = []
    stale: dict[str, tuple[FeatureSpec, FeatureError]] = {}
    for spec in specs:
        try:
            item = _pending(spec, state, spans, adjusted=adjusted, rebuild=rebuild)
        except FeatureError as exc:
            stale[spec.name] = (spec, exc)
            continue
        if item is not None:
            plan.append(item)
    if stale:
        inputs = load_inputs(store, [n for s, _ in stale.values() for n in s.inputs], symbols=symbols)
        for spec, error in stale.values():
            why = missing_input(spec, inputs)
            if why is None:
                raise error
            report.skipped[spec.name] = why
    return plan


def build_features(
    store: Store,
    specs: Sequence[FeatureSpec],
    *,
    symbols: Sequence[str] | None = None,
    adjusted: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> BuildReport:
    """Compute and store the sessions of ``specs`` not stored yet (all of them with ``rebuild``).

    ``symbols`` limits the build to those instruments (cross-sectional features then rank among
    them only, and a rebuild overwrites their universe-wide values). ``adjusted`` chooses the input
    basis (module docstring). A spec stored with another hash (changed spec or basis) raises
    :class:`FeatureError` unless ``rebuild``, which replaces the stored values.
    """
    state = materialised_state(store, [s.outputs[0] for s in specs])
    spans = bar_spans(store, symbols=symbols)
    report = BuildReport()
    plan = _plan(
        store, specs, state, spans, adjusted=adjusted, rebuild=rebuild, symbols=symbols, report=report
    )
    groups: dict[dt.date | None, list[_Pending]] = {}
    for item in plan:
        groups.setdefault(item.start, []).append(item)
    done = len(specs) - sum(len(g) for g in groups.values())
    writer = _Writer(store, dt.datetime.now(dt.UTC))
    for start, items in groups.items():
        inputs = load_inputs(store, [n for i in items for n in i.spec.inputs], symbols=symbols)
        ready = []
        for item in items:
            why = missing_input(item.spec, inputs)
            if why is None:
                ready.append(item)
            else:
                report.skipped[item.spec.name] = why
        done += len(items) - len(ready)
        if not ready:
            continue
        lookback = max(i.spec.lookback_sessions for i in ready)
        panel = load_panel(store, symbols=symbols, start=start, lookback=lookback, adjusted=adjusted)
        for item in ready:
            ((spec, frame),) = compute_each(panel, [item.spec], start=start, inputs=inputs)
            rows = _long_rows(spec, frame, item.done)
            writer.add(rows, stored_hash(spec, adjusted=adjusted))
            report.rows_written[spec.name] = rows.height
            report.computed_from[spec.name] = start
            done += 1
            if progress is not None:
                progress(done, len(specs), spec.name)
    return replace(report, rows_inserted=writer.flush())


def read_features(
    store: Store,
    *,
    features: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    wide: bool = False,
) -> pl.DataFrame:
    """Stored feature values: long (:data:`LONG_COLUMNS`, sorted by instrument, date, feature) or,
    with ``wide``, one row per (instrument_id, date) and one column per feature. ``features`` are
    output names (``rsi_14``); ``symbols`` are matched against the instruments' current symbols."""
    clauses: list[str] = []
    params: list[Any] = []
    if features is not None:
        if not features:
            return to_wide(empty_long()) if wide else empty_long()
        clause, values = in_clause("feature", features)
        clauses.append(clause)
        params += values
    if symbols is not None:
        if not symbols:
            return to_wide(empty_long()) if wide else empty_long()
        clause, values = in_clause("symbol", [s.upper() for s in symbols])
        clauses.append(f"instrument_id IN (SELECT instrument_id FROM instruments WHERE {clause})")
        params += values
    for op, day in ((">=", start), ("<=", end)):
        if day is not None:
            clauses.append(f"date {op} ?")
            params.append(day)
    sql = f"SELECT {', '.join(LONG_COLUMNS)} FROM {TABLE}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    got = store.query(sql + " ORDER BY instrument_id, date, feature", params)
    long = schemas.conform(got, {c: FEATURES[c] for c in LONG_COLUMNS}, name=TABLE)
    return to_wide(long) if wide else long


__all__ = [
    "FEATURES",
    "FEATURE_KEY",
    "TABLE",
    "BuildReport",
    "Progress",
    "build_features",
    "load_inputs",
    "load_panel",
    "materialised_state",
    "one_bar_per_session",
    "read_features",
    "stored_hash",
    "write_features",
]
