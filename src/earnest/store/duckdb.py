"""DuckDB backend: the embedded default, one file under ``EARNEST_HOME``."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from earnest.core.errors import StoreError
from earnest.store.base import SqlStore


class DuckDBStore(SqlStore):
    """A store in a DuckDB file (or in memory with ``duckdb:///:memory:``)."""

    dialect = "duckdb"

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.url = f"duckdb:///{self.path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open DuckDB store {self.path}: {exc}",
                remedy=(
                    "another earnest process may hold it open for writing; "
                    "close it or use another EARNEST_HOME"
                ),
            ) from exc
        self._con.execute("SET TimeZone = 'UTC'")
        self._depth = 0
        self._stale: list[str] = []
        self._lock = threading.RLock()

    def _error(self, exc: duckdb.Error, sql: str) -> StoreError:
        first = " ".join(sql.split())[:120]
        return StoreError(
            f"DuckDB error in {self.path}: {exc} (in: {first})",
            remedy="the statement wrote nothing and any open transaction was rolled back",
        )

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            try:
                self._con.execute(sql, list(params))
            except duckdb.Error as exc:
                raise self._error(exc, sql) from exc

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        with self._lock:
            try:
                rel = self._con.sql(sql, params=list(params) or None)
                if rel is None:
                    return pl.DataFrame()
                out = pl.from_arrow(rel.to_arrow_table())
            except duckdb.Error as exc:
                raise self._error(exc, sql) from exc
            assert isinstance(out, pl.DataFrame)
            return out

    def _stage(self, name: str, frame: pl.DataFrame, like: str) -> None:
        self._con.register(name, frame.to_arrow())

    def _unstage(self, name: str) -> None:
        try:
            self._con.unregister(name)
        except duckdb.TransactionException:
            # The transaction failed: raising here would mask its error; unregister after ROLLBACK.
            self._stale.append(name)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._con.execute("BEGIN TRANSACTION")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._con.execute("ROLLBACK")
                while self._stale:
                    self._con.unregister(self._stale.pop())
                raise
            else:
                self._con.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        self._con.close()


__all__ = ["DuckDBStore"]
