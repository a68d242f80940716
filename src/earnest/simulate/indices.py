"""Indices of the simulated market, built from their constituents like NSE builds them.

NIFTY 50 is the free-float-weighted (here: market-cap-weighted) price index of the 50 largest
companies that trade through the whole period; each sector index weights the sector's companies
the same way. India VIX follows the market factor's conditional volatility. Valuation ratios
(P/E, P/B, dividend yield) move with the index level and drift with assumed earnings growth.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from earnest.simulate.paths import Activity, Intraday, Paths

NIFTY_50 = "Nifty 50"
INDIA_VIX = "India VIX"
NIFTY_BASE = 17_350.0
"""NIFTY 50's level on the eve of the simulation (about where it stood at the start of 2022)."""

INDEX_SCHEMA = {
    "index_name": pl.Utf8,
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "prev_close": pl.Float64,
    "volume": pl.Int64,
    "turnover_cr": pl.Float64,
    "pe": pl.Float64,
    "pb": pl.Float64,
    "div_yield": pl.Float64,
}
"""One row per index and session; ``index_name`` is spelled as NSE's daily index file spells it
(``Nifty 50``); volume, turnover and ratios are null for India VIX."""


@dataclass(frozen=True)
class IndexSpec:
    """An index: its name, its constituents (column indices), its base level and valuation."""

    name: str
    members: np.ndarray
    base: float
    pe: float
    pb: float
    div_yield: float


@dataclass(frozen=True)
class Market:
    """The simulated prices and activity the indices are computed from."""

    sessions: list[dt.date]
    paths: Paths
    intraday: Intraday
    activity: Activity
    market_sigma: np.ndarray
    mcap_cr: np.ndarray


def _ratios(level: np.ndarray, spec: IndexSpec, years: np.ndarray) -> dict[str, np.ndarray]:
    rel = level / spec.base
    return {
        "pe": np.round(spec.pe * rel * np.exp(-0.12 * years), 2),
        "pb": np.round(spec.pb * rel * np.exp(-0.09 * years), 2),
        "div_yield": np.round(spec.div_yield / rel * np.exp(0.08 * years), 2),
    }


def index_rows(rng: np.random.Generator, spec: IndexSpec, mkt: Market) -> pl.DataFrame:
    """Daily OHLC of a cap-weighted index of ``spec.members`` (who trade every session).

    The day's return is the weighted mean of the members' returns over their previous close (as
    NSE writes it, so splits do not move the index), weights being the previous day's market caps.
    The open is the weighted mean of the members' opens; high and low extend beyond open and close
    by a half-normal fraction of the market's volatility.
    """
    m = spec.members
    base = mkt.paths.base[:, m].astype(np.float64)
    ret = mkt.paths.close[:, m] / base - 1.0
    open_ret = mkt.intraday.open[:, m] / base - 1.0
    caps = spec_caps(mkt.mcap_cr[m], ret)
    weights = caps / caps.sum(axis=1, keepdims=True)
    level = spec.base * np.cumprod(1.0 + (weights * ret).sum(axis=1))
    prev = np.concatenate([[spec.base], level[:-1]])
    opn = prev * (1.0 + (weights * open_ret).sum(axis=1))
    spread = np.abs(rng.normal(0.0, 0.35, size=(2, len(level)))) * mkt.market_sigma
    high = np.maximum(opn, level) * (1.0 + spread[0])
    low = np.minimum(opn, level) * (1.0 - spread[1])
    years = np.array([(d - mkt.sessions[0]).days / 365.25 for d in mkt.sessions])
    frame = pl.DataFrame(
        {
            "index_name": spec.name,
            "date": mkt.sessions,
            "open": np.round(opn, 2),
            "high": np.round(high, 2),
            "low": np.round(low, 2),
            "close": np.round(level, 2),
            "prev_close": np.round(prev, 2),
            "volume": mkt.activity.volume[:, m].sum(axis=1),
            "turnover_cr": np.round(mkt.activity.turnover_paise[:, m].sum(axis=1) / 1e9, 2),
            **_ratios(level, spec, years),
        }
    )
    return frame.cast(INDEX_SCHEMA)  # type: ignore[arg-type]


def spec_caps(start_caps: np.ndarray, ret: np.ndarray) -> np.ndarray:
    """Market caps at each session's previous close: the start caps grown by past returns."""
    growth = np.cumprod(1.0 + ret, axis=0)
    return np.vstack([start_caps[None, :], start_caps[None, :] * growth[:-1]])


def vix_rows(rng: np.random.Generator, mkt: Market) -> pl.DataFrame:
    """India VIX: the market's annualised conditional volatility in percent, plus a premium."""
    n = len(mkt.sessions)
    close = 100.0 * np.sqrt(252.0) * mkt.market_sigma * 1.15 * np.exp(rng.normal(0.0, 0.05, n))
    prev = np.concatenate([[close[0] * np.exp(rng.normal(0.0, 0.03))], close[:-1]])
    opn = prev * np.exp(rng.normal(0.0, 0.03, n))
    high = np.maximum(opn, close) * np.exp(np.abs(rng.normal(0.0, 0.04, n)))
    low = np.minimum(opn, close) * np.exp(-np.abs(rng.normal(0.0, 0.04, n)))
    frame = pl.DataFrame(
        {
            "index_name": INDIA_VIX,
            "date": mkt.sessions,
            "open": np.round(opn, 4),
            "high": np.round(high, 4),
            "low": np.round(low, 4),
            "close": np.round(close, 4),
            "prev_close": np.round(prev, 4),
        }
    )
    return frame.with_columns(
        *[pl.lit(None).alias(c) for c in ("volume", "turnover_cr", "pe", "pb", "div_yield")]
    ).cast(INDEX_SCHEMA)  # type: ignore[arg-type]


def build_indices(rng: np.random.Generator, specs: list[IndexSpec], mkt: Market) -> pl.DataFrame:
    """Every index of ``specs`` plus India VIX, by date, each day in the order of ``specs`` (NIFTY
    50 first, as NSE lists it) with India VIX last."""
    frames = [index_rows(rng, spec, mkt) for spec in specs if spec.members.size]
    frames.append(vix_rows(rng, mkt))
    return pl.concat(frames).sort("date", maintain_order=True)


__all__ = ["INDEX_SCHEMA", "INDIA_VIX", "NIFTY_50", "IndexSpec", "Market", "build_indices"]
