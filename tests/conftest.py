"""Shared fixtures: real exchange data location, stores on both backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data_dir() -> Path | None:
    env = os.environ.get("EARNEST_SHARED_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real exchange files in ../shared/data. Skips (or fails in CI) when absent."""
    found = shared_data_dir()
    if found is None:
        if os.environ.get("EARNEST_REQUIRE_REALDATA"):
            pytest.fail("EARNEST_REQUIRE_REALDATA is set but ../shared/data is missing")
        pytest.skip(
            "real exchange files not present: ../shared/data exists only in the project's CI checkout"
        )
    return found


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)


@pytest.fixture
def duckdb_store(tmp_path: Path) -> Iterator[object]:
    from earnest.store import open_store

    store = open_store(f"duckdb:///{tmp_path / 'earnest.duckdb'}")
    try:
        yield store
    finally:
        store.close()
