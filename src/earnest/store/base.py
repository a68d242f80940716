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
from typing import Any, Protocol, runtime_checkable

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
}

# On a key conflict these columns are filled from the new row only where the stored one is null
# (a second source for the same session can add delivery quantity, never overwrite a price).
FILL_ON_CONFLICT: dict[str, tuple[str, ...]] = {
    "bars": ("isin", "last", "prev_close", "volume", "turnover", "trades", "delivery_qty"),
    "index_bars": ("open", "high", "low", "volume", "turnover"),
    "instruments": ("isin", "name", "series", "listing_date", "delisting_date", "face_value"),
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


def _split_sql(script: str) -> list[str]:
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class SqlStore(ABC):
    """Shared behaviour of the SQL backends. Subclasses implement the primitives only."""

    url: str

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
        """Apply pending migrations in order, each in its own transaction. Returns the version."""
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
        for version, name, sql in migrations():
            if version <= current:
                continue
            try:
                with self.transaction():
                    for stmt in _split_sql(sql):
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

    def ingest(self, batch: IngestBatch) -> IngestOutcome:
        return self.ingest_many([batch])[0]

    def ingest_many(self, batches: Sequence[IngestBatch]) -> list[IngestOutcome]:
        """Write several files' batches in one transaction: all of them or none.

        A file already ingested (same content hash) is skipped and reported as such.
        """
        outcomes: list[IngestOutcome] = []
        with self.transaction():
            seen: set[str] = set()
            for batch in batches:
                if batch.sha256 in seen or self.file_seen(batch.sha256):
                    outcomes.append(
                        IngestOutcome(
                            batch.sha256, batch.file_name, batch.kind, batch.rows_total, 0, 0, 0, True
                        )
                    )
                    continue
                seen.add(batch.sha256)
                outcomes.append(self._ingest_one(batch))
        return outcomes

    def _ingest_one(self, batch: IngestBatch) -> IngestOutcome:
        stored = merged = 0
        masters_only = set(batch.tables) <= {"instruments", "symbol_changes"} and bool(batch.tables)
        for table, frame in batch.tables.items():
            if table not in TABLES or table in APPEND_ONLY or table == "ingested_files":
                raise StoreError(f"cannot ingest into table {table!r}")
            if frame.is_empty():
                continue
            inserted, matched = self._upsert(table, frame)
            if table in COUNTED_TABLES or masters_only:
                stored += inserted
                merged += matched
        n_q = batch.quarantine.height
        if n_q:
            self._append("quarantine", batch.quarantine)
        if batch.findings.height:
            self._append("quality_findings", batch.findings)
        counted = stored + merged + n_q
        if counted != batch.rows_total:
            raise StoreError(
                f"{batch.file_name}: {batch.rows_total} data rows but {stored} stored + {merged} merged + "
                f"{n_q} quarantined = {counted}; refusing to lose rows",
                remedy="this is a bug in earnest; the store was left unchanged",
                file=batch.file_name,
            )
        record = pl.DataFrame(
            [
                {
                    "sha256": batch.sha256,
                    "file_name": batch.file_name,
                    "kind": batch.kind,
                    "rows_total": batch.rows_total,
                    "rows_stored": stored,
                    "rows_merged": merged,
                    "rows_quarantined": n_q,
                    "ingested_at": dt.datetime.now(dt.UTC),
                    "code_version": batch.code_version,
                }
            ]
        )
        self._append("ingested_files", record)
        return IngestOutcome(batch.sha256, batch.file_name, batch.kind, batch.rows_total, stored, merged, n_q)

    def upsert(self, table: str, frame: pl.DataFrame) -> int:
        """Insert or merge rows outside of a file ingest (user-confirmed actions, masters)."""
        with self.transaction():
            inserted, _ = self._upsert(table, frame)
        return inserted

    def _append(self, table: str, frame: pl.DataFrame) -> None:
        frame = S.conform(frame, TABLES[table], name=table)
        name = f"stage_{table}"
        self._stage(name, frame, table)
        try:
            cols = ", ".join(frame.columns)
            self._execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
        finally:
            self._unstage(name)

    def _upsert(self, table: str, frame: pl.DataFrame) -> tuple[int, int]:
        """Insert new keys, merge existing ones. Returns (inserted, matched)."""
        frame = S.conform(frame, TABLES[table], name=table)
        key = KEYS[table]
        frame = frame.unique(subset=list(key), keep="first", maintain_order=True)
        name = f"stage_{table}"
        self._stage(name, frame, table)
        try:
            on = " AND ".join(f"t.{k} = s.{k}" for k in key)
            got = self._fetch(f"SELECT count(*) AS n FROM {table} t JOIN {name} s ON {on}")
            matched = int(got.item(0, 0))
            cols = ", ".join(frame.columns)
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
                action = "DO UPDATE SET " + ", ".join(sets)
            elif fill:
                action = "DO UPDATE SET " + ", ".join(
                    f"{c} = COALESCE({table}.{c}, excluded.{c})" for c in fill
                )
            else:
                action = "DO NOTHING"
            self._execute(
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name} "
                f"ON CONFLICT ({', '.join(key)}) {action}"
            )
        finally:
            self._unstage(name)
        return frame.height - matched, matched

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
    "TABLES",
    "IngestBatch",
    "IngestOutcome",
    "SqlStore",
    "Store",
    "iter_chunks",
    "migrations",
]
