"""Numeric kernels of the market simulation: returns, band-capped price paths, intraday prices
and trading activity.

Axis convention: every 2-D array is ``(T, N)``, sessions by companies. Prices are integer
**paise** (1/100 rupee) so that tick rounding and band limits are exact; the frames built from
them divide by 100. NSE's tick is 5 paise; the closing price is a volume-weighted average of the
last half hour, so it is any paisa value inside the day's range, while open, high, low and last
trade are on the tick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TICK = 5
"""NSE's price tick in paise (Rs 0.05)."""

NO_BAND_CAP = 0.20
"""Stocks without a fixed band (F&O names) have dynamic bands; the simulation caps their daily
move at 20%, the widest a dynamic band is flexed to."""

MAX_CARRY = 0.5
"""A move a circuit held back is carried into the next session, up to this much (log return)."""


@dataclass(frozen=True)
class FactorModel:
    """Parameters of the daily return model (log returns).

    ``r[t, i] = beta_i * m[t] + gamma_i * s[t, sector_i] + sigma_i * sqrt(h[t]) * e[t, i]``, where
    ``m`` is a GARCH(1,1) market factor with Student-t shocks, ``s`` a sector factor, ``h`` the
    market's variance relative to its long-run level (so every stock feels a volatile market) and
    ``e`` Student-t shocks with ``idio_df`` degrees of freedom scaled to unit variance.
    """

    market_vol: float = 0.0095
    market_drift: float = 0.12 / 250
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    sector_vol: float = 0.006
    idio_df: float = 4.0


@dataclass(frozen=True)
class Factors:
    """Simulated returns: ``logret`` (T, N) before results news, the market factor ``market``
    (T,), its conditional volatility ``market_sigma`` (T,), each stock's idiosyncratic volatility
    ``sigma`` (N,) and the standardised idiosyncratic shocks ``shock`` (T, N)."""

    logret: np.ndarray
    market: np.ndarray
    market_sigma: np.ndarray
    sigma: np.ndarray
    shock: np.ndarray


def _unit_t(rng: np.random.Generator, df: float, size: tuple[int, ...] | int) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return np.asarray(rng.standard_t(df, size=size) * np.sqrt((df - 2.0) / df))


def factor_returns(
    rng: np.random.Generator,
    n_sessions: int,
    sectors: np.ndarray,
    size_rank: np.ndarray,
    model: FactorModel,
    *,
    max_sigma: np.ndarray | None = None,
) -> Factors:
    """Daily log returns of the factor model for ``len(sectors)`` stocks.

    ``size_rank`` runs from 0 (largest) to 1 (smallest): small companies get higher
    idiosyncratic volatility (about 1.1% a day for the largest, 2.6% for the smallest), capped
    at ``max_sigma`` (N,) where given: NSE puts quiet, illiquid scrips in its narrowest bands.
    """
    big_t, n = n_sessions, len(sectors)
    var_target = model.market_vol**2
    omega = var_target * (1.0 - model.garch_alpha - model.garch_beta)
    z = _unit_t(rng, 5.0, big_t)
    var = np.empty(big_t)
    eps = np.empty(big_t)
    v = var_target
    for t in range(big_t):
        var[t] = v
        eps[t] = np.sqrt(v) * z[t]
        v = omega + model.garch_alpha * eps[t] ** 2 + model.garch_beta * v
    regime = np.sqrt(var / var_target)
    market = model.market_drift + eps
    n_sectors = int(sectors.max()) + 1 if n else 0
    sector_ret = rng.normal(0.0, model.sector_vol, size=(big_t, n_sectors)) * regime[:, None]
    beta = np.clip(rng.normal(1.0, 0.25, size=n), 0.4, 1.8)
    gamma = np.clip(rng.normal(1.0, 0.3, size=n), 0.2, 1.8)
    sigma = (0.011 + 0.015 * size_rank) * np.exp(rng.normal(0.0, 0.15, size=n))
    if max_sigma is not None:
        sigma = np.minimum(sigma, max_sigma)
    shock = _unit_t(rng, model.idio_df, (big_t, n))
    idio = shock * sigma[None, :] * np.sqrt(regime)[:, None]
    logret = beta[None, :] * market[:, None] + gamma[None, :] * sector_ret[:, sectors] + idio
    return Factors(logret, market, np.sqrt(var), sigma, shock)


@dataclass(frozen=True)
class Paths:
    """Band-capped closing prices in paise, each (T, N): ``base`` is the previous close as NSE
    writes it (adjusted by the split or bonus factor on an ex-date), ``close`` the close, ``up``
    and ``lo`` the day's circuit limits (on the tick)."""

    base: np.ndarray
    close: np.ndarray
    up: np.ndarray
    lo: np.ndarray


@dataclass(frozen=True)
class PathInputs:
    """What :func:`price_paths` needs, each (T, N) unless noted.

    ``start_paise`` (N,) is the close before the first session (the issue price for a company
    listing later); ``factor`` the split/bonus price factor on ex-dates (1 elsewhere);
    ``dividend_paise`` the dividend going ex that day; ``band_pct`` the fixed band (NaN = none);
    ``alive`` whether the company trades; ``first`` (T, N) true on a company's listing session
    inside the period, where ``listing_gain`` (N,) replaces the day's return.
    """

    start_paise: np.ndarray
    logret: np.ndarray
    factor: np.ndarray
    dividend_paise: np.ndarray
    band_pct: np.ndarray
    alive: np.ndarray
    first: np.ndarray
    listing_gain: np.ndarray


def price_paths(inp: PathInputs) -> Paths:
    """Closing prices session by session, each move capped at the day's circuit limits.

    The limits are the previous close (``base``) plus or minus the band, rounded inwards to the
    tick, so a capped close never moves beyond the band. A move the circuit held back is carried
    into the next session (a stock can lock at its upper circuit several days running). A
    dividend lowers the price by its amount on the ex-date; NSE does not adjust the previous close
    for it, so it counts against the band like any move.
    """
    big_t, n = inp.logret.shape
    prev = inp.start_paise.astype(np.float64)
    carry = np.zeros(n)
    out = {k: np.zeros((big_t, n), dtype=np.int64) for k in ("base", "close", "up", "lo")}
    for t in range(big_t):
        base = np.maximum(np.rint(prev * inp.factor[t]), TICK)
        div = np.minimum(inp.dividend_paise[t], 0.1 * base)
        want = inp.logret[t] + carry + np.log1p(-div / base)
        want = np.where(inp.first[t], inp.listing_gain, want)
        band = np.where(np.isnan(inp.band_pct[t]), NO_BAND_CAP, inp.band_pct[t] / 100.0)
        up = np.floor(base * (1.0 + band) / TICK + 1e-9) * TICK
        lo = np.maximum(np.ceil(base * (1.0 - band) / TICK - 1e-9) * TICK, TICK)
        close = np.clip(np.rint(base * np.exp(want)), lo, up)
        alive = inp.alive[t]
        carry = np.where(alive, np.clip(want - np.log(close / base), -MAX_CARRY, MAX_CARRY), 0.0)
        prev = np.where(alive, close, prev)
        for key, arr in (("base", base), ("close", close), ("up", up), ("lo", lo)):
            out[key][t] = arr.astype(np.int64)
    return Paths(**out)


@dataclass(frozen=True)
class Intraday:
    """The day's other prices in paise, each (T, N): open, high, low, last trade and the
    volume-weighted average price ``avg``."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    last: np.ndarray
    avg: np.ndarray


def _to_tick(x: np.ndarray, how: str) -> np.ndarray:
    fn = {"round": np.rint, "ceil": np.ceil, "floor": np.floor}[how]
    return np.asarray(fn(x / TICK) * TICK)


def intraday(rng: np.random.Generator, paths: Paths, sigma: np.ndarray, gap_share: np.ndarray) -> Intraday:
    """Open, high, low, last and average price around the simulated close.

    The open carries ``gap_share`` of the day's move plus noise (news released outside market
    hours shows up in the open); the high and low extend beyond the open and close by half-normal
    amounts scaled to the stock's volatility. Everything stays inside the circuit limits, and a
    stock that closes locked at a limit trades its high (or low) and last at it.
    """
    base, close, up, lo = (a.astype(np.float64) for a in (paths.base, paths.close, paths.up, paths.lo))
    shape = close.shape
    s = sigma[None, :]
    move = np.log(close / base)
    opn = np.clip(
        _to_tick(base * np.exp(gap_share * move + rng.normal(0.0, 0.3, shape) * s), "round"), lo, up
    )
    top, bottom = np.maximum(opn, close), np.minimum(opn, close)
    high = np.minimum(_to_tick(top * np.exp(np.abs(rng.normal(0.0, 0.45, shape)) * s), "ceil"), up)
    low = np.maximum(_to_tick(bottom * np.exp(-np.abs(rng.normal(0.0, 0.45, shape)) * s), "floor"), lo)
    last = np.clip(_to_tick(close * np.exp(rng.normal(0.0, 0.12, shape) * s), "round"), low, high)
    at_up, at_lo = close >= up, close <= lo
    high = np.where(at_up, up, high)
    low = np.where(at_lo, lo, low)
    last = np.where(at_up, up, np.where(at_lo, lo, last))
    avg = np.rint((2.0 * close + opn + (high + low) / 2.0) / 4.0 * np.exp(rng.normal(0.0, 0.08, shape) * s))
    avg = np.clip(avg, low, high)
    as_int = [a.astype(np.int64) for a in (opn, high, low, last, avg)]
    return Intraday(*as_int)


@dataclass(frozen=True)
class Activity:
    """Traded quantity, value (paise), number of trades and delivered quantity (-1 = not
    reported, as for trade-for-trade ``BE`` series), each (T, N) int64."""

    volume: np.ndarray
    turnover_paise: np.ndarray
    trades: np.ndarray
    delivery: np.ndarray


@dataclass(frozen=True)
class ActivityInputs:
    """Per-stock levels (N,): typical daily value traded in rupees ``turnover_rs``, average trade
    size in rupees ``ticket_rs``, mean delivery share ``delivery_share`` and whether the series
    reports delivery (``has_delivery``); per session (T, N): ``shock`` the standardised
    idiosyncratic shock, ``news`` extra log-activity on results days, ``locked`` circuit locks."""

    turnover_rs: np.ndarray
    ticket_rs: np.ndarray
    delivery_share: np.ndarray
    has_delivery: np.ndarray
    shock: np.ndarray
    news: np.ndarray
    locked: np.ndarray


def activity(rng: np.random.Generator, avg_paise: np.ndarray, inp: ActivityInputs) -> Activity:
    """Volumes that are lognormal around each stock's level and rise with the size of the day's
    idiosyncratic move and with results news; a stock locked at a circuit trades little."""
    shape = avg_paise.shape
    log_mult = rng.normal(0.0, 0.35, shape) + 0.45 * (np.abs(inp.shock) - 0.8) + inp.news
    mult = np.exp(log_mult) * np.where(inp.locked, 0.35, 1.0)
    value_rs = inp.turnover_rs[None, :] * mult
    volume = np.maximum(np.rint(value_rs / (avg_paise / 100.0)), 1).astype(np.int64)
    turnover = volume * avg_paise
    ticket = inp.ticket_rs[None, :] * np.exp(rng.normal(0.0, 0.15, shape))
    trades = np.clip(np.rint(turnover / 100.0 / ticket), 1, volume).astype(np.int64)
    logit = np.log(inp.delivery_share / (1.0 - inp.delivery_share))[None, :] + rng.normal(0.0, 0.35, shape)
    share = 1.0 / (1.0 + np.exp(-logit))
    delivery = np.where(inp.has_delivery[None, :], np.floor(volume * share), -1).astype(np.int64)
    return Activity(volume, turnover.astype(np.int64), trades, delivery)


__all__ = [
    "MAX_CARRY",
    "NO_BAND_CAP",
    "TICK",
    "Activity",
    "ActivityInputs",
    "FactorModel",
    "Factors",
    "Intraday",
    "PathInputs",
    "Paths",
    "activity",
    "factor_returns",
    "intraday",
    "price_paths",
]
