"""The store protocol and the SQL logic shared by every backend.

A backend supplies five primitives (execute, fetch, stage a frame, unstage, transaction); all
behaviour (migrations, atomic idempotent ingestion, upsert rules, typed reads) lives here, once,
so DuckDB and PostgreSQL behave identically and pass one contract test suite.

Placeholders in SQL are written ``?``; backends translate them if their driver wants another style.
"""

from __future__ import annotations

import datetime as dt
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar, Protocol, runtime_checkable

import polars as pl

from earnest.core import schemas as S
from earnest.core.errors import MigrationError, StoreError

TABLES: dict[str, S.Schema] = {
    "bars": S.BARS,
    "derivative_bars": S.DERIVATIVE_BARS,
    "index_bars": S.INDEX_BARS,
    "instruments": S.INSTRUMENTS,
    "symbol_changes": S.SYMBOL_CHANGES,
    "corporate_actions": S.CORPORATE_ACTIONS,
    "price_bands": S.PRICE_BANDS,
    "quarantine": S.QUARANTINE,
    "quality_findings": S.FINDINGS,
    "ingested_files": S.INGESTED_FILES,
    "results_listings": S.RESULTS_LISTINGS,
    "financial_facts": S.FINANCIAL_FACTS,
    "custom_events": S.CUSTOM_EVENTS,
    "features": S.FEATURES,
    "lab_trials": S.LAB_TRIALS,
    "alerts": S.ALERTS,
    "alert_deliveries": S.ALERT_DELIVERIES,
    "alert_outcomes": S.ALERT_OUTCOMES,
    "api_keys": S.API_KEYS,
    "signals": S.SIGNALS,
    "pipeline_runs": S.PIPELINE_RUNS,
}

KEYS: dict[str, tuple[str, ...]] = {
    "bars": S.BAR_KEY,
    "derivative_bars": S.DERIVATIVE_KEY,
    "index_bars": S.INDEX_KEY,
    "instruments": ("instrument_id",),
    "symbol_changes": ("old_symbol", "new_symbol", "change_date"),
    "corporate_actions": ("action_id",),
    "price_bands": ("symbol", "series", "effective_date"),
    "ingested_files": ("sha256",),
    "results_listings": S.RESULTS_LISTING_KEY,
    "financial_facts": S.FINANCIAL_FACT_KEY,
    "custom_events": S.CUSTOM_EVENT_KEY,
    "features": S.FEATURE_KEY,
    "lab_trials": S.LAB_TRIAL_KEY,
    "alerts": S.ALERT_KEY,
    "alert_deliveries": S.ALERT_DELIVERY_KEY,
    "alert_outcomes": S.ALERT_OUTCOME_KEY,
    "api_keys": S.API_KEY_KEY,
    "signals": S.SIGNAL_KEY,
    "pipeline_runs": S.PIPELINE_RUN_KEY,
}

# On a key conflict these columns are filled from the new row only where the stored one is null
# (a second source for the same session can add delivery quantity, never overwrite a price).
FILL_ON_CONFLICT: dict[str, tuple[str, ...]] = {
    "bars": ("isin", "last", "prev_close", "volume", "turnover", "trades", "delivery_qty"),
    "index_bars": ("open", "high", "low", "volume", "turnover"),
    "instruments": ("isin", "name", "series", "listing_date", "delisting_date", "face_value"),
}

# On a key conflict these columns take the new row's values: a derived row recomputed from changed
# inputs (``earnest features build --rebuild``) replaces the stored one.
REPLACE_ON_CONFLICT: dict[str, tuple[str, ...]] = {
    "features": ("value", "known_at", "spec_hash", "computed_at"),
    "api_keys": ("name", "revoked_at", "rate_limit"),
    "signals": ("isin", "model_version", "score", "features_json", "receipt_json", "created_at"),
    "pipeline_runs": ("status", "attempts", "started_at", "finished_at", "detail_json", "error"),
}

# On a key conflict these columns are set to SQL expressions of the stored row (``{t}``) and the new
# one (``excluded``): re-running a lab trial counts the run and keeps its first run time.
UPDATE_ON_CONFLICT: dict[str, dict[str, str]] = {
    "lab_trials": {
        "hypothesis_name": "excluded.hypothesis_name",
        "variant_json": "excluded.variant_json",
        "n_events": "excluded.n_events",
        "effect": "excluded.effect",
        "p_value": "excluded.p_value",
        "receipt_json": "excluded.receipt_json",
        "sharpe": "excluded.sharpe",
        "n_periods": "excluded.n_periods",
        "first_run_at": "LEAST({t}.first_run_at, excluded.first_run_at)",
        "last_run_at": "GREATEST({t}.last_run_at, excluded.last_run_at)",
        "runs": "{t}.runs + excluded.runs",
    },
    # an alert delivery marked sent is final: later writes (a stale retry) cannot undo it
    "alert_deliveries": {
        c: f"CASE WHEN {{t}}.status = 'sent' THEN {{t}}.{c} ELSE excluded.{c} END"
        for c in (
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "provider_message_id",
            "sent_at",
            "updated_at",
        )
    },
    # an outcome measured against an equal-weight stand-in is re-measured against the index once
    # the index's bars arrive; one measured against an index is final
    "alert_outcomes": {
        c: f"CASE WHEN {{t}}.benchmark <> 'EQUAL_WEIGHT' THEN {{t}}.{c} ELSE excluded.{c} END"
        for c in ("benchmark", "benchmark_return", "excess_return", "known_at", "computed_at")
    },
}

APPEND_ONLY = ("quarantine", "quality_findings")

# Tables whose rows are the file's data rows (instruments derived from bars files are extra rows).
COUNTED_TABLES = frozenset(
    {
        "bars",
        "derivative_bars",
        "index_bars",
        "price_bands",
        "corporate_actions",
        "results_listings",
        "financial_facts",
        "custom_events",
    }
)


@dataclass(frozen=True)
class IngestBatch:
    """Everything one input file contributes, written in one transaction or not at all."""

    sha256: str
    file_name: str
    kind: str
    rows_total: int
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    quarantine: pl.DataFrame = field(default_factory=lambda: S.empty(S.QUARANTINE))
    findings: pl.DataFrame = field(default_factory=lambda: S.empty(S.FINDINGS))
    code_version: str = "unknown"


@dataclass(frozen=True)
class IngestOutcome:
    """What an ingest did. ``rows_stored + rows_merged + rows_quarantined == rows_total``."""

    sha256: str
    file_name: str
    kind: str
    rows_total: int
    rows_stored: int
    rows_merged: int
    rows_quarantined: int
    skipped: bool = False


@runtime_checkable
class Store(Protocol):
    """What every stage may ask of a store."""

    url: str

    def migrate(self) -> int: ...
    def schema_version(self) -> int: ...
    def close(self) -> None: ...
    def file_seen(self, sha256: str) -> bool: ...
    def files_seen(self, shas: Sequence[str]) -> set[str]: ...
    def ingest(self, batch: IngestBatch) -> IngestOutcome: ...
    def ingest_many(self, batches: Sequence[IngestBatch]) -> list[IngestOutcome]: ...
    def read(
        self, table: str, *, where: Mapping[str, Any] | None = None, order_by: Sequence[str] = ()
    ) -> pl.DataFrame: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame: ...
    def bars(
        self,
        *,
        symbols: Sequence[str] | None = None,
        instrument_ids: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        exchange: str | None = None,
        series: Sequence[str] | None = None,
    ) -> pl.DataFrame: ...
    def count(self, table: str) -> int: ...
    def set_action_status(self, action_ids: Sequence[str], status: str) -> int: ...
    def upsert(self, table: str, frame: pl.DataFrame) -> int: ...


_BATCH, _COUNTED, _PASS = "__batch", "__counted", "__pass"


def _conflict_action(table: str) -> str:
    """The ON CONFLICT clause of ``table``: replace, merge-fill (and instrument rules) or do nothing."""
    update = UPDATE_ON_CONFLICT.get(table)
    if update:
        return "DO UPDATE SET " + ", ".join(f"{c} = {e.format(t=table)}" for c, e in update.items())
    replace = REPLACE_ON_CONFLICT.get(table, ())
    if replace:
        return "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in replace)
    fill = FILL_ON_CONFLICT.get(table, ())
    if table == "instruments":
        sets = [f"{c} = COALESCE({table}.{c}, excluded.{c})" for c in fill]
        sets += [
            f"first_seen = LEAST({table}.first_seen, excluded.first_seen)",
            f"last_seen = GREATEST({table}.last_seen, excluded.last_seen)",
            f"symbol = CASE WHEN excluded.last_seen IS NOT NULL AND ({table}.last_seen IS NULL "
            f"OR excluded.last_seen >= {table}.last_seen) THEN excluded.symbol ELSE {table}.symbol END",
            f"status = CASE WHEN excluded.status = 'unknown' THEN {table}.status ELSE excluded.status END",
        ]
        return "DO UPDATE SET " + ", ".join(sets)
    if fill:
        return "DO UPDATE SET " + ", ".join(f"{c} = COALESCE({table}.{c}, excluded.{c})" for c in fill)
    return "DO NOTHING"


def _collapse_instruments(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per instrument from rows in batch order, equal to merging them one by one with
    :func:`_conflict_action`: fill columns take the first non-null value, ``first_seen`` the
    minimum, ``last_seen`` the maximum, ``symbol`` the one seen last (else the first), ``status``
    the last one that is not ``unknown`` (else the first); other columns the first row's."""
    fill = set(FILL_ON_CONFLICT["instruments"])
    last = pl.col("last_seen")
    latest = pl.col("symbol").filter(last == last.max())
    aggs = []
    for c in frame.columns:
        if c == "instrument_id":
            continue
        if c in fill:
            aggs.append(pl.col(c).drop_nulls().first())
        elif c == "first_seen":
            aggs.append(pl.col(c).min())
        elif c == "last_seen":
            aggs.append(last.max())
        elif c == "symbol":
            aggs.append(pl.coalesce(latest.last(), pl.col(c).first()).alias(c))
        elif c == "status":
            known = pl.col(c).filter(pl.col(c) != "unknown")
            aggs.append(pl.coalesce(known.last(), pl.col(c).first()).alias(c))
        else:
            aggs.append(pl.col(c).first())
    out = frame.sort(_BATCH, maintain_order=True).group_by("instrument_id", maintain_order=True).agg(aggs)
    return out.select(frame.columns)


def _conformed(frame: pl.DataFrame, schema: S.Schema, *, name: str) -> pl.DataFrame:
    """:func:`~earnest.core.schemas.conform`, skipped when ``frame`` already has exactly the
    schema's columns, in order, with types it treats as equal (what the gate hands over)."""
    if frame.columns == list(schema) and frame.dtypes == list(schema.values()):
        return frame
    return S.conform(frame, schema, name=name)


def _file_record(out: IngestOutcome, code_version: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "sha256": out.sha256,
        "file_name": out.file_name,
        "kind": out.kind,
        "rows_total": out.rows_total,
        "rows_stored": out.rows_stored,
        "rows_merged": out.rows_merged,
        "rows_quarantined": out.rows_quarantined,
        "ingested_at": now,
        "code_version": code_version,
    }


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every shipped migration, in order."""
    out = []
    pkg = resources.files("earnest.store").joinpath("migrations")
    for entry in pkg.iterdir():
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(out)


LATEST_VERSION = max(v for v, _, _ in migrations())


_DIALECT_MARK = re.compile(r"--\s*dialect:\s*(\w+)")


def _split_sql(script: str, *, dialect: str) -> list[str]:
    """The statements of a migration script that run on ``dialect``.

    Comment lines are dropped; a ``-- dialect: NAME`` comment line makes the next statement run
    on the backend whose :attr:`SqlStore.dialect` is ``NAME`` only (e.g. an index that helps one
    engine and slows the other down).
    """
    out: list[str] = []
    current: list[str] = []
    only: str | None = None
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            mark = _DIALECT_MARK.fullmatch(stripped)
            only = mark.group(1) if mark else only
            continue
        *ended, rest = line.split(";")
        for part in ended:
            stmt = "\n".join([*current, part]).strip()
            current = []
            if stmt:
                if only in (None, dialect):
                    out.append(stmt)
                only = None
        current.append(rest)
    stmt = "\n".join(current).strip()
    if stmt and only in (None, dialect):
        out.append(stmt)
    return out


class SqlStore(ABC):
    """Shared behaviour of the SQL backends. Subclasses implement the primitives only."""

    url: str
    dialect: ClassVar[str] = "sql"
    """The SQL engine (``duckdb``, ``postgresql``), for migration statements marked for one engine."""

    # ---- primitives -------------------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame: ...

    @abstractmethod
    def _stage(self, name: str, frame: pl.DataFrame, like: str) -> None:
        """Make ``frame`` queryable as ``name`` (a temporary table or view shaped like ``like``)."""

    @abstractmethod
    def _unstage(self, name: str) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def close(self) -> None: ...

    # ---- schema -----------------------------------------------------------------------------
    def schema_version(self) -> int:
        exists = self._fetch(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        )
        if int(exists.item(0, 0)) == 0:
            return 0
        got = self._fetch("SELECT max(version) AS v FROM schema_migrations")
        value = got.item(0, 0)
        return int(value) if value is not None else 0

    def migrate(self) -> int:
        """Apply every shipped migration the store has not applied yet, in order, each in its own
        transaction (a missing lower number is applied too: migrations are independent files).
        Returns the version."""
        current = self.schema_version()
        if current > LATEST_VERSION:
            raise MigrationError(
                f"the store at {self.url} has schema version {current}, newer than this earnest "
                f"({LATEST_VERSION})",
                remedy="upgrade earnest, or point EARNEST_STORE at another store",
            )
        if current == 0:
            self._execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
        applied = (
            set(self._fetch("SELECT version FROM schema_migrations").get_column("version").to_list())
            if current
            else set()
        )
        for version, name, sql in migrations():
            if version in applied:
                continue
            try:
                with self.transaction():
                    for stmt in _split_sql(sql, dialect=self.dialect):
                        self._execute(stmt)
                    self._execute(
                        "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                        (version, name, dt.datetime.now(dt.UTC)),
                    )
            except StoreError:
                raise
            except Exception as exc:
                raise MigrationError(f"migration {version:04d}_{name} failed: {exc}") from exc
        return self.schema_version()

    # ---- writes -----------------------------------------------------------------------------
    def file_seen(self, sha256: str) -> bool:
        got = self._fetch("SELECT count(*) AS n FROM ingested_files WHERE sha256 = ?", (sha256,))
        return int(got.item(0, 0)) > 0

    def files_seen(self, shas: Sequence[str]) -> set[str]:
        """The content hashes among ``shas`` that are already ingested (one query per 500)."""
        return self._known_files(shas)

    def ingest(self, batch: IngestBatch) -> IngestOutcome:
        return self.ingest_many([batch])[0]

    def ingest_many(self, batches: Sequence[IngestBatch]) -> list[IngestOutcome]:
        """Write several files' batches in one transaction: all of them or none.

        The result is the same as ingesting the batches one after another (a key that two
        batches share is inserted by the first and merged by the second), but each table is
        written with one statement per call, not one per file. A file already ingested (same
        content hash), or repeated within ``batches``, is skipped and reported as such.
        """
        with self.transaction():
            known = self._known_files([b.sha256 for b in batches])
            live: list[tuple[int, IngestBatch]] = []
            for i, batch in enumerate(batches):
                if batch.sha256 not in known:
                    known.add(batch.sha256)
                    live.append((i, batch))
            counts = self._write_tables([b for _, b in live])
            outcomes: dict[int, IngestOutcome] = {}
            for j, (i, batch) in enumerate(live):
                stored, merged = counts.get(j, (0, 0))
                outcomes[i] = self._checked_outcome(batch, stored, merged)
            self._append_all("quarantine", [b.quarantine for _, b in live])
            self._append_all("quality_findings", [b.findings for _, b in live])
            now = dt.datetime.now(dt.UTC)
            records = [_file_record(outcomes[i], batch.code_version, now) for i, batch in live]
            if records:
                self._append("ingested_files", pl.DataFrame(records))
        return [
            outcomes.get(i)
            or IngestOutcome(b.sha256, b.file_name, b.kind, b.rows_total, 0, 0, 0, skipped=True)
            for i, b in enumerate(batches)
        ]

    def _known_files(self, shas: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for chunk in iter_chunks(sorted(set(shas)), 500):
            marks = ", ".join("?" for _ in chunk)
            got = self._fetch(f"SELECT sha256 FROM ingested_files WHERE sha256 IN ({marks})", tuple(chunk))
            known.update(got.get_column("sha256").to_list() if got.height else [])
        return known

    def _write_tables(self, batches: Sequence[IngestBatch]) -> dict[int, tuple[int, int]]:
        """Upsert every table of ``batches``; (stored, merged) per batch index of counted rows."""
        counts: dict[int, list[int]] = {}
        tables: dict[str, list[pl.DataFrame]] = {}
        for j, batch in enumerate(batches):
            masters_only = set(batch.tables) <= {"instruments", "symbol_changes"} and bool(batch.tables)
            for table, frame in batch.tables.items():
                if table not in TABLES or table in APPEND_ONLY or table == "ingested_files":
                    raise StoreError(f"cannot ingest into table {table!r}")
                if frame.is_empty():
                    continue
                counted = table in COUNTED_TABLES or masters_only
                tables.setdefault(table, []).append(
                    _conformed(frame, TABLES[table], name=table).with_columns(
                        pl.lit(j).alias(_BATCH), pl.lit(counted).alias(_COUNTED)
                    )
                )
        for table, frames in tables.items():
            per_batch = self._upsert_batches(table, pl.concat(frames))
            for row in per_batch.iter_rows(named=True):
                c = counts.setdefault(row[_BATCH], [0, 0])
                c[0] += row["inserted"]
                c[1] += row["matched"]
        return {j: (c[0], c[1]) for j, c in counts.items()}

    def _upsert_batches(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """Upsert rows tagged with their batch; returns counted (inserted, matched) per batch.

        Rows of one batch with the same key count once (the first), as a single-file ingest
        would. Where batches share a key, the rows are written in passes in batch order, so
        the later batch merges into what the earlier one inserted. Uncounted instrument rows
        (derived from price files) are first collapsed per instrument, with the same result as
        merging them one by one.
        """
        key = list(KEYS[table])
        passes = [frame]
        if frame.select(pl.struct(key).is_duplicated().any()).item():  # else one pass (the usual case)
            frame = frame.unique(subset=[*key, _BATCH], keep="first", maintain_order=True)
            if table == "instruments" and not frame.get_column(_COUNTED).any():
                frame = _collapse_instruments(frame)
            frame = frame.with_columns(pl.int_range(pl.len()).over(key).alias(_PASS))
            n_passes = int(frame.get_column(_PASS).max() or 0) + 1  # type: ignore[arg-type]
            passes = [frame.filter(pl.col(_PASS) == p).drop(_PASS) for p in range(n_passes)]
        results = []
        for part in passes:
            matched = self._upsert_keys(table, part.drop(_BATCH, _COUNTED))
            hit = part.join(matched, on=key, how="semi") if matched.height else part.clear()
            results.append(
                part.filter(pl.col(_COUNTED))
                .group_by(_BATCH)
                .agg(pl.len().alias("rows"))
                .join(
                    hit.filter(pl.col(_COUNTED)).group_by(_BATCH).agg(pl.len().alias("matched")),
                    on=_BATCH,
                    how="left",
                )
                .select(
                    _BATCH,
                    (pl.col("rows") - pl.col("matched").fill_null(0)).alias("inserted"),
                    pl.col("matched").fill_null(0),
                )
            )
        return pl.concat(results) if results else pl.DataFrame()

    def _checked_outcome(self, batch: IngestBatch, stored: int, merged: int) -> IngestOutcome:
        n_q = batch.quarantine.height
        counted = stored + merged + n_q
        if counted != batch.rows_total:
            raise StoreError(
                f"{batch.file_name}: {batch.rows_total} data rows but {stored} stored + {merged} merged + "
                f"{n_q} quarantined = {counted}; refusing to lose rows",
                remedy="this is a bug in earnest; the store was left unchanged",
                file=batch.file_name,
            )
        return IngestOutcome(batch.sha256, batch.file_name, batch.kind, batch.rows_total, stored, merged, n_q)

    def upsert(self, table: str, frame: pl.DataFrame) -> int:
        """Insert or merge rows outside of a file ingest (user-confirmed actions, masters)."""
        with self.transaction():
            frame = S.conform(frame, TABLES[table], name=table)
            frame = frame.unique(subset=list(KEYS[table]), keep="first", maintain_order=True)
            matched = self._upsert_keys(table, frame)
        return frame.height - matched.height

    def _append_all(self, table: str, frames: Sequence[pl.DataFrame]) -> None:
        parts = [f for f in frames if f.height]
        if parts:
            self._append(table, pl.concat([_conformed(f, TABLES[table], name=table) for f in parts]))

    def _append(self, table: str, frame: pl.DataFrame) -> None:
        frame = _conformed(frame, TABLES[table], name=table)
        name = f"stage_{table}"
        self._stage(name, frame, table)
        try:
            cols = ", ".join(frame.columns)
            self._execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
        finally:
            self._unstage(name)

    def _upsert_keys(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """Insert new keys, merge existing ones (``frame`` has unique keys). Returns the keys
        that already existed."""
        key = KEYS[table]
        name = f"stage_{table}"
        self._stage(name, frame, table)
        try:
            on = " AND ".join(f"t.{k} = s.{k}" for k in key)
            matched = self._fetch(
                f"SELECT {', '.join(f's.{k}' for k in key)} FROM {table} t JOIN {name} s ON {on}"
            )
            cols = ", ".join(frame.columns)
            insert = f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}"
            if matched.height:
                insert += f" ON CONFLICT ({', '.join(key)}) {_conflict_action(table)}"
            # else every key is new (the key constraint still refuses a duplicate): a plain
            # insert, which DuckDB writes faster than one that checks for conflicts
            self._execute(insert)
        finally:
            self._unstage(name)
        if matched.height:
            matched = S.conform(matched, {k: TABLES[table][k] for k in key}, name=table)
        return matched

    def set_action_status(self, action_ids: Sequence[str], status: str) -> int:
        """Confirm or reject corporate actions (typically inferred ones) by id."""
        if status not in {"confirmed", "rejected", "inferred"}:
            raise StoreError(
                f"unknown action status {status!r}", remedy="use confirmed, rejected or inferred"
            )
        if not action_ids:
            return 0
        marks = ", ".join("?" for _ in action_ids)
        with self.transaction():
            before = self._fetch(
                f"SELECT count(*) AS n FROM corporate_actions WHERE action_id IN ({marks})", tuple(action_ids)
            )
            self._execute(
                f"UPDATE corporate_actions SET status = ? WHERE action_id IN ({marks})", (status, *action_ids)
            )
        return int(before.item(0, 0))

    # ---- reads ------------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        """Run a read-only SQL query written in the portable subset with ``?`` placeholders."""
        return self._fetch(sql, params)

    def read(
        self, table: str, *, where: Mapping[str, Any] | None = None, order_by: Sequence[str] = ()
    ) -> pl.DataFrame:
        """Rows of a table, conformed to its schema. ``where`` values may be scalars or lists."""
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}", remedy=f"use one of {sorted(TABLES)}")
        clauses: list[str] = []
        params: list[Any] = []
        for col, value in (where or {}).items():
            if col not in TABLES[table]:
                raise StoreError(f"table {table} has no column {col!r}")
            if isinstance(value, list | tuple | set | frozenset):
                values = list(value)
                if not values:
                    return S.empty(TABLES[table])
                clauses.append(f"{col} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
            elif value is None:
                clauses.append(f"{col} IS NULL")
            else:
                clauses.append(f"{col} = ?")
                params.append(value)
        sql = f"SELECT {', '.join(TABLES[table])} FROM {table}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if order_by:
            sql += " ORDER BY " + ", ".join(order_by)
        return S.conform(self._fetch(sql, params), TABLES[table], name=table)

    def bars(
        self,
        *,
        symbols: Sequence[str] | None = None,
        instrument_ids: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        exchange: str | None = None,
        series: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Unadjusted daily bars, sorted by instrument and date."""
        clauses: list[str] = []
        params: list[Any] = []
        for col, values in (("symbol", symbols), ("instrument_id", instrument_ids), ("series", series)):
            if values is not None:
                vals = list(values)
                if not vals:
                    return S.empty(S.BARS)
                clauses.append(f"{col} IN ({', '.join('?' for _ in vals)})")
                params.extend(vals)
        if start is not None:
            clauses.append("date >= ?")
            params.append(start)
        if end is not None:
            clauses.append("date <= ?")
            params.append(end)
        if exchange is not None:
            clauses.append("exchange = ?")
            params.append(exchange)
        sql = f"SELECT {', '.join(S.BARS)} FROM bars"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY exchange, instrument_id, series, date"
        return S.conform(self._fetch(sql, params), S.BARS, name="bars")

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}")
        return int(self._fetch(f"SELECT count(*) AS n FROM {table}").item(0, 0))

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


__all__ = [
    "APPEND_ONLY",
    "KEYS",
    "LATEST_VERSION",
    "REPLACE_ON_CONFLICT",
    "TABLES",
    "UPDATE_ON_CONFLICT",
    "IngestBatch",
    "IngestOutcome",
    "SqlStore",
    "Store",
    "iter_chunks",
    "migrations",
]
