"""Materialised features: the store's long ``features`` table, built incrementally, read long or wide.

Table ``features`` (migration ``0004_features.sql``): one row per (``instrument_id``, ``date``,
``feature``) where ``feature`` is an output column name (``rsi_14``), with ``value`` (null where
unknown), ``known_at`` (UTC), ``spec_hash`` (see :func:`stored_hash`) and ``computed_at``.

Incremental build (:func:`build_features`): for each spec, the sessions already stored are found per
instrument (the latest stored date of its first output); only later sessions are computed, on a
panel that starts ``lookback_sessions`` rows of each instrument before the first pending session
(those rows are input only, never rewritten). A second run with no new bars computes nothing, and
writing is an upsert on the key, so a build is idempotent. The panel has one bar per instrument and
session: the ``EQ`` series where there is one, then NSE before BSE.

Raw or adjusted input is explicit (``adjusted``): with ``True`` the price columns are
corporate-action-adjusted with the actions known when the build runs
(:func:`earnest.marketdata.adjust.adjusted_bars`). Run daily, each new value is then computed with
the factors known that day; a full rebuild re-expresses history in today's share units, which leaves
scale-free features (returns, RSI, %B, ATR in %) unchanged but not price-level ones. The basis is
part of ``spec_hash``, so raw and adjusted values are never mixed silently.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import nse_calendar
from earnest.core.hashing import sha256_json
from earnest.features.engine import KEY, LONG_COLUMNS, compute_each, to_wide
from earnest.features.spec import FeatureError, FeatureSpec
from earnest.store.base import Store

TABLE = "features"
FEATURES = schemas.FEATURES
FEATURE_KEY = schemas.FEATURE_KEY
WRITE_CHUNK_ROWS = 2_000_000
_PRICE_COLUMNS = ("open", "high", "low", "close", "last", "prev_close")

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


def stored_hash(spec: FeatureSpec, *, adjusted: bool) -> str:
    """The ``spec_hash`` stored with a spec's values: its identity plus the input basis."""
    return sha256_json({"spec": spec.identity(), "adjusted": adjusted})


def _in(col: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    return f"{col} IN ({', '.join('?' for _ in values)})", list(values)


def materialised_state(store: Store, features: Sequence[str]) -> pl.DataFrame:
    """(``feature``, ``instrument_id``, ``last_date``, ``hash_min``, ``hash_max``) of stored rows."""
    if not features:
        return pl.DataFrame(
            schema={
                "feature": pl.Utf8,
                "instrument_id": pl.Utf8,
                "last_date": pl.Date,
                "hash_min": pl.Utf8,
                "hash_max": pl.Utf8,
            }
        )
    clause, params = _in("feature", features)
    got = store.query(
        "SELECT feature, instrument_id, max(date) AS last_date, min(spec_hash) AS hash_min, "
        f"max(spec_hash) AS hash_max FROM {TABLE} WHERE {clause} GROUP BY feature, instrument_id",
        params,
    )
    return schemas.conform(
        got,
        {
            "feature": pl.Utf8,
            "instrument_id": pl.Utf8,
            "last_date": pl.Date,
            "hash_min": pl.Utf8,
            "hash_max": pl.Utf8,
        },
        name="features state",
    )


def _bar_spans(store: Store, symbols: Sequence[str] | None) -> pl.DataFrame:
    """(``instrument_id``, ``first_date``, ``last_date``) of the stored bars."""
    sql = "SELECT instrument_id, min(date) AS first_date, max(date) AS last_date FROM bars"
    params: list[Any] = []
    if symbols is not None:
        clause, params = _in("symbol", [s.upper() for s in symbols])
        sql += f" WHERE {clause}"
    got = store.query(sql + " GROUP BY instrument_id", params)
    return schemas.conform(
        got, {"instrument_id": pl.Utf8, "first_date": pl.Date, "last_date": pl.Date}, name="bar spans"
    )


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


def one_bar_per_session(bars: pl.DataFrame) -> pl.DataFrame:
    """One row per (instrument_id, date): the ``EQ`` series first, then NSE; sorted by both."""
    return bars.sort(["instrument_id", "date", pl.col("series") != "EQ", pl.col("exchange") != "NSE"]).unique(
        subset=["instrument_id", "date"], keep="first", maintain_order=True
    )


def _read_bars(
    store: Store,
    *,
    symbols: Sequence[str] | None,
    ids: Sequence[str] | None,
    start: dt.date | None,
    adjusted: bool,
) -> pl.DataFrame:
    if adjusted:
        from earnest.marketdata.adjust import adjusted_bars

        bars = adjusted_bars(store, symbols=symbols, instrument_ids=ids, start=start)
        bars = bars.with_columns(
            *[pl.col(f"adj_{c}").alias(c) for c in _PRICE_COLUMNS],
            pl.col("adj_volume").alias("volume"),
            (pl.col("delivery_qty") / pl.col("adj_factor")).alias("delivery_qty"),
        ).drop([c for c in bars.columns if c.startswith("adj_")])
    else:
        bars = store.bars(symbols=symbols, instrument_ids=ids, start=start)
    return one_bar_per_session(bars)


def load_panel(
    store: Store,
    *,
    symbols: Sequence[str] | None = None,
    start: dt.date | None = None,
    lookback: int = 0,
    adjusted: bool = False,
) -> pl.DataFrame:
    """The bars panel for computing sessions from ``start`` on: every bar from ``start`` plus at
    least ``lookback`` bars of each instrument before it (all history when ``start`` is None).

    Bars are read from a calendar window with a margin; instruments with fewer than ``lookback``
    bars before ``start`` in it (long suspensions) are read again from their first bar.
    """
    if start is None:
        return _read_bars(store, symbols=symbols, ids=None, start=None, adjusted=adjusted)
    sessions = nse_calendar().sessions
    back = lookback + lookback // 2 + 10
    load_from = sessions[max(0, bisect_left(sessions, start) - back)]
    panel = _read_bars(store, symbols=symbols, ids=None, start=load_from, adjusted=adjusted)
    if lookback == 0 or panel.is_empty():
        return panel
    spans = _bar_spans(store, symbols)
    short = (
        panel.group_by("instrument_id")
        .agg((pl.col("date") < start).sum().alias("n_before"))
        .join(spans, on="instrument_id")
        .filter((pl.col("n_before") < lookback) & (pl.col("first_date") < load_from))
        .get_column("instrument_id")
        .to_list()
    )
    if short:
        again = _read_bars(store, symbols=None, ids=short, start=None, adjusted=adjusted)
        panel = pl.concat(
            [panel.filter(~pl.col("instrument_id").is_in(short)), again], how="vertical_relaxed"
        )
        panel = panel.sort(list(KEY))
    return panel


def load_inputs(
    store: Store, names: Sequence[str], *, symbols: Sequence[str] | None = None
) -> dict[str, pl.DataFrame]:
    """The non-bars inputs ``names`` from the store: ``index`` (all ``index_bars``), ``bands``
    (``price_bands``) and ``events`` (results events with their quarter's derived figures, as
    :func:`earnest.features.earnings.results_with_figures` builds them)."""
    out: dict[str, pl.DataFrame] = {}
    where = {"symbol": [s.upper() for s in symbols]} if symbols is not None else None
    for name in dict.fromkeys(names):
        if name == "bars":
            continue
        if name == "index":
            out[name] = store.read("index_bars", order_by=("index_name", "date"))
        elif name == "bands":
            out[name] = store.read("price_bands", where=where)
        elif name == "events":
            from earnest.events import load_events
            from earnest.events.fundamentals import load_figures
            from earnest.features.earnings import results_with_figures

            events = load_events(store, symbols=symbols)
            out[name] = results_with_figures(events, load_figures(store, symbols=symbols))
        else:
            raise FeatureError(f"no loader for input {name!r}", remedy="use bars, index, events or bands")
    return out


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


def _store_replaces() -> bool:
    """Whether the store's upsert overwrites a stored feature row with the same key."""
    from earnest.store import base

    return TABLE in getattr(base, "REPLACE_ON_CONFLICT", ())


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
    them only). ``adjusted`` chooses the input basis (module docstring). A spec stored with
    another hash (changed spec or basis) raises :class:`FeatureError` unless ``rebuild``.
    """
    state = materialised_state(store, [s.outputs[0] for s in specs])
    spans = _bar_spans(store, symbols)
    if rebuild and state.height and not _store_replaces():
        raise FeatureError(
            "this earnest's store cannot overwrite stored feature values yet, so a rebuild would keep them",
            remedy="add 'features' to REPLACE_ON_CONFLICT in earnest.store.base (see the features docs)",
        )
    plan = [_pending(s, state, spans, adjusted=adjusted, rebuild=rebuild) for s in specs]
    groups: dict[dt.date | None, list[_Pending]] = {}
    for item in plan:
        if item is not None:
            groups.setdefault(item.start, []).append(item)
    report = BuildReport()
    done = len(specs) - sum(len(g) for g in groups.values())
    writer = _Writer(store, dt.datetime.now(dt.UTC))
    for start, items in groups.items():
        inputs = load_inputs(store, [n for i in items for n in i.spec.inputs], symbols=symbols)
        ready = [i for i in items if not _missing_inputs(i.spec, inputs, report)]
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


def _missing_inputs(spec: FeatureSpec, inputs: Mapping[str, pl.DataFrame], report: BuildReport) -> bool:
    """Whether an input of ``spec`` has no rows in the store (then it is skipped, not stored as
    nulls that a later incremental build would never revisit); records the reason."""
    empty = [n for n in spec.inputs if n != "bars" and inputs[n].is_empty()]
    if empty:
        report.skipped[spec.name] = f"no {', '.join(empty)} data in the store"
    return bool(empty)


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
            return to_wide(_empty_long()) if wide else _empty_long()
        clause, values = _in("feature", features)
        clauses.append(clause)
        params += values
    if symbols is not None:
        if not symbols:
            return to_wide(_empty_long()) if wide else _empty_long()
        clause, values = _in("symbol", [s.upper() for s in symbols])
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


def _empty_long() -> pl.DataFrame:
    return schemas.empty({c: FEATURES[c] for c in LONG_COLUMNS})


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
