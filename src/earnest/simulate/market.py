"""A simulated NSE-like equity market, for the demo and for tests: no real prices ship with earnest.

:func:`simulate_market` turns a :class:`SimConfig` (with a seed: the same config always gives the
same market) into a :class:`SimMarket` of frames; :func:`write_market` writes it as files in
NSE's real formats (see :mod:`earnest.simulate.writers`), which the normal ingest path reads like
real files.

What a quant should find plausible:

* real NSE sessions (:func:`earnest.core.calendar.nse_calendar`); by default 2022 to 2024, which
  crosses the bhavcopy's switch from the legacy format to UDiFF on 2024-07-08;
* returns from a factor model (:class:`~earnest.simulate.paths.FactorModel`): a GARCH market
  factor, ten sector factors and Student-t idiosyncratic shocks (fat tails); NIFTY 50 and six
  sector indices built from their constituents, and India VIX;
* quarterly results seasons: each company announces 20 to 60 days after the quarter end, before
  the open, in market hours or after the close; its price reacts with a larger idiosyncratic move
  (``results_jump`` times its daily volatility times a fat-tailed surprise) and then drifts a
  further ``drift_fraction`` of that move over ``drift_sessions`` sessions, a planted
  post-announcement drift that an event study should find (``SimMarket.results``);
* price bands of 2/5/10/20% ("No Band" for the largest, F&O-like names), with every close inside
  the band (moves held back are carried to the next session, so stocks lock at circuits);
* lognormal volumes that rise with the size of the move and on results days, trades, delivery;
* companies listing and delisting mid-period (no survivorship), a symbol change, ``BE`` series,
  splits and bonuses (raw prices jump on the ex-date; NSE's previous close is adjusted), one
  split that no corporate-action file mentions (the ingest must infer it), and dividends;
* a few planted data errors (``SimMarket.planted_errors``) that the quality gate must catch.

Simplification: a real face-value split gives the shares a new ISIN; here the ISIN is kept.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from earnest.core.calendar import nse_calendar
from earnest.core.errors import ConfigError
from earnest.simulate import events
from earnest.simulate.frames import Built, assemble
from earnest.simulate.paths import (
    Activity,
    ActivityInputs,
    FactorModel,
    Factors,
    Intraday,
    PathInputs,
    Paths,
    activity,
    factor_returns,
    intraday,
    price_paths,
)
from earnest.simulate.planting import PlantedError, plant_errors
from earnest.simulate.universe import build_universe, stream

UDIFF_FROM = dt.date(2024, 7, 8)
"""The first session NSE published the CM bhavcopy in the UDiFF format (the legacy
``cmDDMONYYYYbhav.csv`` ends on 2024-07-05)."""

_MIN_COMPANIES = 40
_MIN_SESSIONS = 40
_MAX_GAP_DAYS = 10
"""NSE never closes longer than this; a longer gap means the calendar lacks those sessions."""


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes a simulated market. Counts of special companies are multiplied by
    ``scale`` together with ``n_symbols``; :meth:`full_market_year` is the benchmark size."""

    seed: int = 7
    n_symbols: int = 150
    start: dt.date = dt.date(2022, 1, 1)
    end: dt.date = dt.date(2024, 12, 31)
    scale: float = 1.0
    n_no_band: int = 30
    n_splits: int = 2
    n_bonuses: int = 2
    n_hidden_splits: int = 1
    n_delistings: int = 2
    n_listings: int = 2
    n_symbol_changes: int = 1
    n_be: int = 5
    dividend_payers: float = 0.5
    results_jump: float = 3.0
    drift_fraction: float = 0.15
    drift_sessions: int = 5
    model: FactorModel = field(default_factory=FactorModel)
    udiff_from: dt.date = UDIFF_FROM
    band_every: int = 10
    bc_lead: int = 3
    plant_errors: bool = True

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ConfigError(f"scale {self.scale} must be positive", remedy="use e.g. 1.0", field="scale")
        if self.n_companies < _MIN_COMPANIES:
            raise ConfigError(
                f"{self.n_companies} companies is too few for a market with an index of 50 and special cases",
                remedy=f"use n_symbols * scale >= {_MIN_COMPANIES}",
                field="n_symbols",
            )
        if self.start >= self.end:
            raise ConfigError(f"start {self.start} is not before end {self.end}", field="start")
        if not 1 <= self.band_every <= 15:
            raise ConfigError(
                f"band_every {self.band_every} must be 1 to 15 sessions",
                remedy="the quality gate ignores a price band older than 15 sessions",
                field="band_every",
            )
        if self.bc_lead < 1 or self.drift_sessions < 1:
            raise ConfigError("bc_lead and drift_sessions must be at least 1", field="bc_lead")

    @property
    def n_companies(self) -> int:
        """How many companies the market has: ``n_symbols * scale``, rounded."""
        return round(self.n_symbols * self.scale)

    @property
    def no_band(self) -> int:
        """How many of the largest companies have no fixed band (NSE: about 200 of 3,000)."""
        return min(round(self.n_no_band * self.scale), max(self.n_no_band, self.n_companies // 12))

    def counts(self) -> events.Counts:
        """The special-company counts multiplied by ``scale`` (at least one where asked for)."""

        def scaled(k: int) -> int:
            return max(round(k * self.scale), 1) if k > 0 else 0

        return events.Counts(
            splits=scaled(self.n_splits),
            bonuses=scaled(self.n_bonuses),
            hidden_splits=scaled(self.n_hidden_splits),
            delisted=scaled(self.n_delistings),
            listed=scaled(self.n_listings),
            renamed=scaled(self.n_symbol_changes),
            be=scaled(self.n_be),
        )

    @classmethod
    def full_market_year(cls, *, seed: int = 7, year: int = 2024) -> SimConfig:
        """About 2,500 companies over one calendar year: a full NSE cash market, for benchmarks."""
        return cls(seed=seed, scale=2500 / 150, start=dt.date(year, 1, 1), end=dt.date(year, 12, 31))


@dataclass(frozen=True, eq=False)
class SimMarket:
    """A simulated market. Prices are unadjusted rupees, dates are NSE sessions.

    * ``instruments``: the :data:`~earnest.core.schemas.INSTRUMENTS` columns (current symbol,
      final face value, ``status`` listed/delisted) plus ``short_name``, ``sector_name``,
      ``fin_instrm_id`` (NSE's numeric token) and ``nifty50``;
    * ``bars``: the :data:`~earnest.core.schemas.BARS` columns (``source_*`` empty) plus
      ``avg_price`` (VWAP) and ``band_pct`` (the fixed band that session, null for No Band); the
      symbol is the one in force that day; the rows the exchange published, before any planted
      error;
    * ``index``: see :data:`earnest.simulate.indices.INDEX_SCHEMA`;
    * ``actions``: splits, bonuses and dividends with ``ex_date``, ``record_date``, ``bc_date``
      (the PR-bundle file that announces it), ``price_factor`` (old/new shares; 1 for dividends),
      ``amount`` (rupees per share, dividends), ``purpose`` and ``recorded`` (false: no file
      mentions it, the ingest must infer it);
    * ``bands``: every price-band file's rows (``effective_date``, ``symbol``, ``series``,
      ``name``, ``band_pct`` null for No Band, ``remarks``);
    * ``symbol_changes``: :data:`~earnest.core.schemas.SYMBOL_CHANGES` columns;
    * ``results``: one row per quarterly results announcement: ``instrument_id``, ``symbol``,
      ``period_end``, ``announced_at`` (UTC), ``timing``, ``reaction_date`` (first close that
      reflects it), ``first_tradable_date`` (first open that can trade on it), ``surprise_z``,
      ``jump_ret`` and ``drift_ret`` (the log returns planted on and after the reaction);
    * ``planted_errors``: the corrupted rows the writers put in the price files.
    """

    config: SimConfig
    sessions: tuple[dt.date, ...]
    instruments: pl.DataFrame
    bars: pl.DataFrame
    index: pl.DataFrame
    actions: pl.DataFrame
    bands: pl.DataFrame
    symbol_changes: pl.DataFrame
    results: pl.DataFrame
    planted_errors: tuple[PlantedError, ...]


def _sessions(cfg: SimConfig) -> list[dt.date]:
    cal = nse_calendar()
    if cfg.end > cal.last:
        raise ConfigError(
            f"the simulation ends {cfg.end}, after the last session the calendar knows ({cal.last})",
            remedy="choose an earlier end date",
            field="end",
        )
    sessions = cal.sessions_between(cfg.start, cfg.end)
    if len(sessions) < _MIN_SESSIONS:
        raise ConfigError(
            f"{cfg.start} to {cfg.end} holds {len(sessions)} NSE sessions; "
            f"the simulation needs {_MIN_SESSIONS}",
            remedy="choose a longer period",
            field="end",
        )
    holes = [(a, b) for a, b in itertools.pairwise(sessions) if (b - a).days > _MAX_GAP_DAYS]
    if holes:
        raise ConfigError(
            f"the NSE calendar has no sessions between {holes[0][0]} and {holes[0][1]}",
            remedy="choose a period the calendar covers, or upgrade nse-trading-calendar",
            field="start",
        )
    return sessions


def _results_news(
    cfg: SimConfig, results: pl.DataFrame, sigma: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pl.DataFrame]:
    """The results reactions as arrays: extra log return (jump and drift), extra log activity and
    the share of the day's move that shows in the open; and ``results`` with the planted moves."""
    big_t = shape[0]
    extra, news, gap = np.zeros(shape), np.zeros(shape), np.full(shape, 0.35)
    r_t = results.get_column("reaction_t").to_numpy()
    idx = results.get_column("idx").to_numpy()
    jump = results.get_column("surprise_z").to_numpy() * sigma[idx] * cfg.results_jump
    drift = cfg.drift_fraction * jump
    np.add.at(extra, (r_t, idx), jump)
    for k in range(1, cfg.drift_sessions + 1):
        ok = r_t + k < big_t
        np.add.at(extra, (r_t[ok] + k, idx[ok]), drift[ok] / cfg.drift_sessions)
    np.add.at(news, (r_t, idx), 0.9)
    nxt = r_t + 1 < big_t
    np.add.at(news, (r_t[nxt] + 1, idx[nxt]), 0.4)
    outside = results.get_column("timing").to_numpy() != "market_hours"
    gap[r_t, idx] = np.where(outside, 0.85, 0.25)
    out = results.with_columns(pl.Series("jump_ret", jump), pl.Series("drift_ret", drift))
    return extra, news, gap, out


def _start_prices(seed: int, n: int, roles: events.Roles) -> np.ndarray:
    """Closing prices on the eve of the period, in paise: Rs 40 to Rs 12,000, higher for
    companies about to split (they split because the price is high) or issue bonus shares."""
    rng = stream(seed, "prices")
    rupees = 10 ** np.clip(rng.normal(2.55, 0.55, size=n), np.log10(40), np.log10(12_000))
    for group, lo, hi in (
        (roles.splits, 2500, 9000),
        (roles.hidden_splits, 1500, 6000),
        (roles.bonuses, 400, 3000),
    ):
        if group:
            rupees[list(group)] = rng.uniform(lo, hi, size=len(group))
    return np.rint(rupees * 100 / 5) * 5


def _dividends(
    cfg: SimConfig, sessions: list[dt.date], approx: np.ndarray, avoid: set[tuple[int, int]]
) -> tuple[pl.DataFrame, np.ndarray]:
    """Dividend plan with amounts (rupees per share, rounded as companies declare them) and the
    (T, N) array of amounts in paise on ex-dates."""
    plan = events.dividend_plan(
        cfg.seed, sessions, approx.shape[1], payer_share=cfg.dividend_payers, avoid=avoid
    )
    ex_t = plan.get_column("ex_t").to_numpy()
    idx = plan.get_column("idx").to_numpy()
    raw = plan.get_column("yield_").to_numpy() * approx[ex_t - 1, idx]
    amount = np.where(raw >= 2.0, np.round(raw * 2) / 2, np.maximum(np.round(raw * 20) / 20, 0.1))
    arr = np.zeros(approx.shape)
    arr[ex_t, idx] = np.rint(amount * 100)
    return plan.with_columns(pl.Series("amount", amount)), arr


def _activity(
    rng: np.random.Generator,
    universe: pl.DataFrame,
    paths: Paths,
    intra: Intraday,
    factors: Factors,
    news: np.ndarray,
) -> tuple[Activity, np.ndarray]:
    """Volumes, trades and delivery; and whether each company's series is EQ (BE: no delivery)."""
    n = universe.height
    is_eq = universe.get_column("series").to_numpy() == "EQ"
    mcap = universe.get_column("mcap_cr").to_numpy()
    act_in = ActivityInputs(
        turnover_rs=mcap * 1e7 * np.exp(rng.normal(np.log(0.002), 0.5, size=n)),
        ticket_rs=np.exp(rng.normal(np.log(25_000), 0.35, size=n)),
        delivery_share=rng.uniform(0.25, 0.65, size=n),
        has_delivery=is_eq,
        shock=factors.shock,
        news=news,
        locked=(paths.close >= paths.up) | (paths.close <= paths.lo),
    )
    return activity(rng, intra.avg, act_in), is_eq


def _simulate(cfg: SimConfig, sessions: list[dt.date]) -> Built:
    """Every array of the simulation, in dependency order (each part with its own random stream)."""
    big_t, n, seed = len(sessions), cfg.n_companies, cfg.seed
    roles = events.assign_roles(seed, n, cfg.counts(), n_no_band=cfg.no_band)
    universe = build_universe(seed, n, as_of=sessions[0]).with_columns(
        pl.when(pl.col("idx").is_in(list(roles.be)))
        .then(pl.lit("BE"))
        .otherwise(pl.lit("EQ"))
        .alias("series")
    )
    list_t, delist_t, renames = events.lifecycle(seed, n, big_t, roles)
    t_grid = np.arange(big_t)[:, None]
    alive = (t_grid >= list_t[None, :]) & (t_grid < delist_t[None, :])
    band_t = list(range(0, big_t, cfg.band_every))
    band = events.band_schedule(seed, band_t, alive, no_band=cfg.no_band, be=roles.be)
    quiet = np.where(np.isnan(band), 100.0, band).min(axis=0) / 100 * 0.45
    sectors = universe.get_column("sector").to_numpy()
    factors = factor_returns(
        stream(seed, "returns"), big_t, sectors, np.linspace(0, 1, n), cfg.model, max_sigma=quiet
    )
    results = events.results_calendar(seed, sessions, nse_calendar(), list_t, delist_t)
    extra, news, gap, results = _results_news(cfg, results, factors.sigma, (big_t, n))
    logret = factors.logret + extra
    busy = set(zip(results["idx"].to_list(), results["reaction_t"].to_list(), strict=True))
    share = events.share_actions(seed, sessions, roles, list_t, avoid=busy)
    factor = np.ones((big_t, n))
    factor[share.get_column("ex_t").to_numpy(), share.get_column("idx").to_numpy()] = share["price_factor"]
    start = _start_prices(seed, n, roles)
    approx = start[None, :] / 100 * np.exp(np.cumsum(logret, axis=0)) * np.cumprod(factor, axis=0)
    taken = set(zip(share["idx"].to_list(), share["ex_t"].to_list(), strict=True))
    divs, div_paise = _dividends(cfg, sessions, approx, taken)
    first = np.zeros((big_t, n), dtype=bool)
    listed = np.asarray(roles.listed, dtype=np.int64)
    first[list_t[listed], listed] = True
    rng = stream(seed, "trading")
    gain = np.clip(rng.normal(0.08, 0.1, size=n), -0.18, 0.18)
    paths = price_paths(PathInputs(start, logret, factor, div_paise, band, alive, first, gain))
    intra = intraday(rng, paths, factors.sigma, gap)
    acts, is_eq = _activity(rng, universe, paths, intra, factors, news)
    return Built(
        cfg=cfg, sessions=sessions, universe=universe, roles=roles, list_t=list_t, delist_t=delist_t,
        renames=renames, alive=alive, band=band, band_t=band_t, paths=paths, intra=intra, acts=acts,
        market_sigma=factors.market_sigma, share=share, divs=divs, results=results, is_eq=is_eq,
    )  # fmt: skip


def simulate_market(config: SimConfig | None = None) -> SimMarket:
    """Simulate a market; see the module docstring for what it contains."""
    cfg = config or SimConfig()
    sessions = _sessions(cfg)
    built = assemble(_simulate(cfg, sessions))
    planted = plant_errors(cfg, built.bars) if cfg.plant_errors else ()
    return SimMarket(
        config=cfg,
        sessions=tuple(sessions),
        instruments=built.instruments,
        bars=built.bars,
        index=built.index,
        actions=built.actions,
        bands=built.bands,
        symbol_changes=built.symbol_changes,
        results=built.results,
        planted_errors=planted,
    )


def write_market(market: SimMarket, folder: Path) -> list[Path]:
    """Write ``market`` under ``folder`` in NSE's file formats; see :mod:`earnest.simulate.writers`."""
    from earnest.simulate.writers import write_market as write

    return write(market, folder)


__all__ = ["UDIFF_FROM", "PlantedError", "SimConfig", "SimMarket", "simulate_market", "write_market"]
