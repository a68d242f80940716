"""File names and folder layout of a simulated market, shared by the simulator and the writers.

The simulator needs the names too: a planted data error is reported as (file, line), so both sides
must agree on each file's name and on the order of its rows (:data:`ROW_ORDER`).
"""

from __future__ import annotations

import datetime as dt

ROW_ORDER = ("symbol", "series")
"""Rows of every per-session price file are sorted by these columns, as NSE sorts its files."""

BHAVCOPY_DIR = "bhavcopy"
FULL_DIR = "full"
INDICES_DIR = "indices"
BANDS_DIR = "bands"
ACTIONS_DIR = "corporate_actions"
MASTERS_DIR = "masters"

LEGACY_KIND = "legacy"
UDIFF_KIND = "udiff"
FULL_KIND = "full"
"""The three per-session price formats (``PlantedError.kind``)."""


def legacy_csv(day: dt.date) -> str:
    """``cm05JUL2024bhav.csv``: the legacy CM bhavcopy (NSE serves it zipped, same name + ``.zip``)."""
    return f"cm{day.strftime('%d%b%Y').upper()}bhav.csv"


def udiff_csv(day: dt.date) -> str:
    """``BhavCopy_NSE_CM_0_0_0_20240708_F_0000.csv``: the UDiFF CM bhavcopy (served zipped too)."""
    return f"BhavCopy_NSE_CM_0_0_0_{day:%Y%m%d}_F_0000.csv"


def full_csv(day: dt.date) -> str:
    """``sec_bhavdata_full_05072024.csv``: the full bhavcopy with delivery data."""
    return f"sec_bhavdata_full_{day:%d%m%Y}.csv"


def index_csv(day: dt.date) -> str:
    """``ind_close_all_05072024.csv``: the daily closing values of NSE indices."""
    return f"ind_close_all_{day:%d%m%Y}.csv"


def bands_csv(day: dt.date) -> str:
    """``sec_list_05072024.csv``: the price band (circuit limit) of every security."""
    return f"sec_list_{day:%d%m%Y}.csv"


def actions_csv(day: dt.date) -> str:
    """``bc05072024.csv``: the corporate-actions file of NSE's daily PR bundle."""
    return f"bc{day:%d%m%Y}.csv"


def price_file(kind: str, day: dt.date) -> str:
    """The CSV name of the per-session price file of ``kind`` (one of the ``*_KIND`` constants)."""
    names = {LEGACY_KIND: legacy_csv, UDIFF_KIND: udiff_csv, FULL_KIND: full_csv}
    return names[kind](day)


__all__ = [
    "ACTIONS_DIR",
    "BANDS_DIR",
    "BHAVCOPY_DIR",
    "FULL_DIR",
    "FULL_KIND",
    "INDICES_DIR",
    "LEGACY_KIND",
    "MASTERS_DIR",
    "ROW_ORDER",
    "UDIFF_KIND",
    "actions_csv",
    "bands_csv",
    "full_csv",
    "index_csv",
    "legacy_csv",
    "price_file",
    "udiff_csv",
]
