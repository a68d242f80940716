"""Simulated markets shared by the simulator's tests (built once per session: they take a second)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_configs import SMALL

from earnest.simulate import SimConfig, SimMarket, simulate_market, write_market


@pytest.fixture(scope="session")
def small_market() -> SimMarket:
    return simulate_market(SMALL)


@pytest.fixture(scope="session")
def small_files(small_market: SimMarket, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    write_market(small_market, folder)
    return folder


@pytest.fixture(scope="session")
def demo_market() -> SimMarket:
    """The market ``make demo`` simulates (default config): 150 companies, 2022 to 2024."""
    return simulate_market(SimConfig())
