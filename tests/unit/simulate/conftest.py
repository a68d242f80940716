"""Simulated markets shared by the simulator's tests (built once per session: they take a second)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from earnest.simulate import SimConfig, SimMarket, simulate_market, write_market

SMALL = SimConfig(seed=11, n_symbols=60, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31))
"""60 companies over 2024: crosses the 2024-07-08 switch from legacy to UDiFF bhavcopies."""


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
