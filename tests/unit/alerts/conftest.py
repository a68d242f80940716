"""Fixtures of the alert tests: a migrated store on both backends, a fake clock, scripted channels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from earnest.store import SqlStore, open_store
from pg import postgres_admin_url, postgres_migrated_url, postgres_template  # noqa: F401


@pytest.fixture(params=[pytest.param("duckdb"), pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated, empty store on each backend."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'earnest.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_migrated_url")
    with open_store(url) as opened:
        yield opened


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated DuckDB store (for tests whose subject is not the backend)."""
    with open_store(f"duckdb:///{tmp_path / 'earnest.duckdb'}") as opened:
        yield opened
