"""PostgreSQL backend (psycopg 3), for server deployments shared by several users or processes.

The connection runs in autocommit mode with the session time zone set to UTC; :meth:`transaction`
opens a real transaction and nested uses become savepoints inside it, so everything commits (or
rolls back) with the outermost block. Frames are staged into ``TEMP`` tables filled with
``COPY ... FROM STDIN`` in CSV (~0.5 s for 100k bars rows on a small machine).
Result sets come back as polars frames whose dtypes follow the column types PostgreSQL reports.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import psycopg
from psycopg import pq
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from earnest.core.errors import StoreError
from earnest.store.base import SqlStore

CONNECT_TIMEOUT_S = 10
"""Seconds to wait for the server before giving up (unless the URL sets ``connect_timeout``)."""

COPY_CHUNK_ROWS = 100_000
"""Rows serialised to CSV at a time while staging, to bound memory on large frames."""

# Builtin type OIDs (stable across PostgreSQL versions) and the polars dtype a column of that type gets.
_DTYPES: dict[int, pl.DataType] = {
    16: pl.Boolean(),
    20: pl.Int64(),
    21: pl.Int16(),
    23: pl.Int32(),
    700: pl.Float32(),
    701: pl.Float64(),
    18: pl.String(),
    19: pl.String(),
    25: pl.String(),
    1042: pl.String(),
    1043: pl.String(),
    1082: pl.Date(),
}
_NUMERIC_OID = 1700
_TIMESTAMP_DTYPES: dict[int, pl.DataType] = {1114: pl.Datetime("us"), 1184: pl.Datetime("us", "UTC")}
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's epoch, in microseconds since 1970-01-01
_PG_INFINITY = (2**63 - 1, -(2**63))


class _MicrosLoader(Loader):
    """Loads a binary ``timestamp``/``timestamptz`` as microseconds since 1970 (``infinity`` as null).

    Polars builds a datetime column from integers many times faster than from ``datetime`` objects.
    """

    format = pq.Format.BINARY

    def load(self, data: Buffer) -> int | None:
        micros = int.from_bytes(data, "big", signed=True)
        return None if micros in _PG_INFINITY else micros + _PG_EPOCH_US


_RECONNECT_REMEDY = (
    "check that the PostgreSQL server is running and reachable and that EARNEST_STORE "
    "(postgresql://user:password@host:port/database) names an existing database this user may use"
)

_PASSWORD_PARAM = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)

# Single-quoted literals, double-quoted identifiers, a placeholder, or a percent sign.
_SQL_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%")


def _translate(sql: str) -> str:
    """Turn ``?`` placeholders into psycopg's ``%s`` and escape literal ``%`` (outside quotes)."""

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "?":
            return "%s"
        if tok == "%":
            return "%%"
        return tok.replace("%", "%%")

    return _SQL_TOKENS.sub(repl, sql)


def redact(url: str) -> str:
    """``url`` (or a ``key=value`` conninfo) with any password replaced by ``***``, safe to show."""
    url = _PASSWORD_PARAM.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}"))


def _is_whole(value: Any) -> bool:
    if not isinstance(value, Decimal) or not value.is_finite():
        return False
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= 0 and abs(value) < 2**63


def _numeric_series(name: str, values: Sequence[Any]) -> pl.Series:
    """NUMERIC values as Int64 when all are written without fractional digits (``sum()`` of a
    BIGINT), else Float64 (``avg()``, which always carries fractional digits, even ``2.000``)."""
    present = [v for v in values if v is not None]
    if all(_is_whole(v) for v in present):
        return pl.Series(name, [None if v is None else int(v) for v in values], dtype=pl.Int64)
    return pl.Series(name, [None if v is None else float(v) for v in values], dtype=pl.Float64)


def _series(name: str, oid: int, values: Sequence[Any]) -> pl.Series:
    if oid == _NUMERIC_OID:
        return _numeric_series(name, values)
    if oid in _TIMESTAMP_DTYPES:
        return pl.Series(name, values, dtype=pl.Int64).cast(_TIMESTAMP_DTYPES[oid])
    dtype = _DTYPES.get(oid)
    if dtype is not None:
        return pl.Series(name, values, dtype=dtype)
    try:
        return pl.Series(name, values)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def _csv_chunks(frame: pl.DataFrame) -> Iterator[bytes]:
    """``frame`` as CSV for ``COPY ... (FORMAT CSV)``: strings quoted, nulls as bare empty fields.

    PostgreSQL reads an unquoted empty field as NULL and ``""`` as the empty string, so the two stay
    distinct. Timestamps carry their UTC offset; floats are written in round-trip precision.
    """
    for start in range(0, frame.height, COPY_CHUNK_ROWS):
        chunk = frame.slice(start, COPY_CHUNK_ROWS)
        buf = io.BytesIO()
        chunk.write_csv(buf, include_header=False, quote_style="non_numeric", null_value="")
        yield buf.getvalue()


class PostgresStore(SqlStore):
    """A store in a PostgreSQL database, e.g. ``postgresql://earnest@db.internal:5432/earnest``."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = redact(url)
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in url:
            options["connect_timeout"] = CONNECT_TIMEOUT_S
        try:
            self._con = psycopg.connect(url, **options)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the PostgreSQL store {self.url}: {str(exc).strip()}",
                remedy=_RECONNECT_REMEDY,
            ) from exc
        self._lock = threading.RLock()
        for name in ("timestamp", "timestamptz"):
            self._con.adapters.register_loader(name, _MicrosLoader)
        self._execute("SET TIME ZONE 'UTC'")

    # ---- primitives -------------------------------------------------------------------------
    def _error(self, exc: psycopg.Error, sql: str) -> StoreError:
        first = " ".join(sql.split())[:120]
        if isinstance(exc, psycopg.OperationalError) or self._con.closed:
            remedy = f"the connection to {self.url} failed; {_RECONNECT_REMEDY}, then retry"
        else:
            remedy = "the statement wrote nothing and any open transaction was rolled back"
        code = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
        text = exc.diag.message_primary or str(exc).strip()
        if exc.diag.message_detail:
            text += f"; {exc.diag.message_detail}"
        return StoreError(f"PostgreSQL error{code}: {text} (in: {first})", remedy=remedy)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._lock:
            try:
                if params:
                    self._con.execute(_translate(sql), list(params))
                else:
                    self._con.execute(sql)
            except psycopg.Error as exc:
                raise self._error(exc, sql) from exc

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
        with self._lock:
            try:
                with self._con.cursor(binary=True) as cur:
                    if params:
                        cur.execute(_translate(sql), list(params))
                    else:
                        cur.execute(sql)
                    if cur.description is None:
                        return pl.DataFrame()
                    rows = cur.fetchall()
                    described = [(c.name, c.type_code) for c in cur.description]
            except psycopg.Error as exc:
                raise self._error(exc, sql) from exc
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in described]
        return pl.DataFrame(
            [_series(name, oid, values) for (name, oid), values in zip(described, columns, strict=True)]
        )

    def _stage(self, name: str, frame: pl.DataFrame, like: str) -> None:
        """Copy ``frame`` into a temporary table ``name`` with the columns (and NOT NULLs) of ``like``."""
        cols = ", ".join(frame.columns)
        self._execute(f"DROP TABLE IF EXISTS pg_temp.{name}")
        self._execute(f"CREATE TEMP TABLE {name} (LIKE {like} INCLUDING DEFAULTS)")
        sql = f"COPY {name} ({cols}) FROM STDIN (FORMAT CSV)"
        with self._lock:
            try:
                with self._con.cursor() as cur, cur.copy(sql) as copy:
                    for data in _csv_chunks(frame):
                        copy.write(data)
            except psycopg.Error as exc:
                raise self._error(exc, sql) from exc

    def _unstage(self, name: str) -> None:
        # After a failed statement the transaction only accepts ROLLBACK, which also removes the
        # temporary table (it was created inside that transaction); dropping it now would mask
        # the original error.
        if self._con.closed or self._con.info.transaction_status == pq.TransactionStatus.INERROR:
            return
        self._execute(f"DROP TABLE IF EXISTS pg_temp.{name}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together; a nested block is a savepoint in the outer one."""
        with self._lock:
            try:
                with self._con.transaction():
                    yield
            except psycopg.Error as exc:
                raise self._error(exc, "COMMIT") from exc

    def close(self) -> None:
        with self._lock:
            self._con.close()


__all__ = ["PostgresStore", "redact"]
