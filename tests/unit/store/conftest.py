"""Stores on both backends for the contract suite: a DuckDB file and a real PostgreSQL database.

Each test gets its own empty store; the PostgreSQL parameter is marked ``postgres`` and uses the
server that :mod:`pg` starts once per test process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_builders import Opener

from earnest.store import SqlStore, open_store
from pg import postgres_admin_url, postgres_migrated_url, postgres_template, postgres_url  # noqa: F401

BACKENDS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty (unmigrated) store on each backend."""
    if backend == "duckdb":
        return f"duckdb:///{tmp_path / 'earnest.duckdb'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def open_url(store_url: str) -> Iterator[Opener]:
    """Open (and later close) stores on ``store_url``; ``migrate=False`` leaves the schema alone."""
    opened: list[SqlStore] = []

    def opener(*, migrate: bool = True) -> SqlStore:
        store = open_store(store_url, migrate=migrate)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated store without rows on each backend (on PostgreSQL, a copy of a migrated template).

    Independent of :func:`open_url`: a test uses one or the other.
    """
    if backend == "duckdb":
        url = f"duckdb:///{tmp_path / 'earnest.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_migrated_url")
    with open_store(url) as opened:
        yield opened
