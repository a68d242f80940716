"""Stores: one protocol, two backends (DuckDB embedded by default, PostgreSQL for servers)."""

from __future__ import annotations

from pathlib import Path

from earnest.core.errors import StoreError
from earnest.store.base import (
    KEYS,
    LATEST_VERSION,
    TABLES,
    IngestBatch,
    IngestOutcome,
    SqlStore,
    Store,
)


def open_store(url: str, *, migrate: bool = True) -> SqlStore:
    """Open the store at ``url`` (``duckdb:///path``, ``duckdb:///:memory:`` or ``postgresql://...``).

    With ``migrate`` (the default) pending schema migrations are applied first.
    """
    store: SqlStore
    if url.startswith("duckdb://"):
        from earnest.store.duckdb import DuckDBStore

        path = url.removeprefix("duckdb://")
        path = path[1:] if path.startswith("/") and path[1:] == ":memory:" else path
        store = DuckDBStore(Path(path) if path != ":memory:" else ":memory:")
    elif url.startswith(("postgresql://", "postgres://")):
        from earnest.store.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise StoreError(
            f"unsupported store URL {url!r}",
            remedy="use duckdb:///path/to/file.duckdb or postgresql://user@host/db in EARNEST_STORE",
        )
    if migrate:
        store.migrate()
    return store


__all__ = [
    "KEYS",
    "LATEST_VERSION",
    "TABLES",
    "IngestBatch",
    "IngestOutcome",
    "SqlStore",
    "Store",
    "open_store",
]
