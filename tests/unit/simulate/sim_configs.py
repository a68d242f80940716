"""Configs of the simulated markets the simulator's tests share."""

from __future__ import annotations

import datetime as dt

from earnest.simulate import SimConfig

SMALL = SimConfig(seed=11, n_symbols=60, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31))
"""60 companies over 2024: crosses the 2024-07-08 switch from legacy to UDiFF bhavcopies."""
