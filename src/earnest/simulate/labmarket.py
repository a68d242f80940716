"""A small, fast simulated market for the lab's known-answer and calibration tests.

Unlike :func:`earnest.simulate.simulate_market` (the demo: NSE file formats, corporate actions, data
errors), this returns clean frames straight away, with the truth the lab should recover:

* real NSE sessions (:func:`earnest.core.calendar.nse_calendar`) from ``start``;
* a market factor with volatility clustering (GARCH(1,1), Student-t shocks), ten sector factors,
  betas ~ U(0.5, 1.5) and Student-t (df 4, cut at 8 sd) idiosyncratic shocks whose volatility
  differs by stock and rises with the market's. Every day has an overnight part (close to open, a
  share ``overnight_share`` of the variance) and an intraday part (open to close), stock and index
  alike, each a *simple* return linear in the factors (``r = beta * m + sector + e``), and the close
  is ``prev_close * (1 + r_overnight) * (1 + r_intraday)``: the market model holds exactly for
  open-to-close returns and up to a cross term of order 1e-4 x 1e-4 for close-to-close returns, and
  every shock has mean zero in the returns the lab measures (a zero-mean *log* shock would not);
* quarterly results seasons: each symbol reports in the ~6 weeks after each quarter end, on dates
  drawn from a few popular days (many events share a date), before the open, in market hours or
  after the close; the news moves the price overnight (or intraday for an in-session release) by a
  zero-mean jump, and the entry session's intraday volatility is higher;
* an optional planted abnormal return: ``planted_car`` (a sum of simple returns) spread evenly over the first
  ``planted_days`` sessions from the first tradable session ``s0`` (its intraday part on ``s0``,
  so an entry at ``s0``'s open holds all of it), for every event or only for events with
  ``pat_yoy > planted_min_pat_yoy``. The expected CAR of an open entry at ``s0`` over
  ``h >= planted_days`` sessions is then ``planted_car`` (to within about 1e-6).

Prices are not rounded to the tick and there are no price bands, splits or missing bars: the lab's
own unit tests cover those with hand-made panels. Axis convention of the kernels: (T, N).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from earnest.core import schemas
from earnest.core.calendar import IST, eod_known_utc, nse_calendar
from earnest.core.errors import ConfigError
from earnest.simulate.universe import stream

INDEX_NAME = "NIFTY 50"


@dataclass(frozen=True)
class LabMarketParams:
    """Volatility and timing parameters (daily, log returns)."""

    market_vol: float = 0.010
    market_drift: float = 0.0004
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    market_df: float = 5.0
    beta_range: tuple[float, float] = (0.5, 1.5)
    idio_vol_range: tuple[float, float] = (0.012, 0.030)
    idio_df: float = 4.0
    n_sectors: int = 10
    sector_vol: float = 0.005
    overnight_share: float = 0.3
    event_vol: float = 1.5
    jump_vol: float = 3.0
    season_start_days: int = 14
    season_days: int = 42
    popularity: float = 0.3
    pre_open_share: float = 0.35
    in_session_share: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 < self.overnight_share < 1.0:
            raise ConfigError("overnight_share must be in (0, 1)", field="overnight_share")
        if self.garch_alpha + self.garch_beta >= 1.0:
            raise ConfigError("garch_alpha + garch_beta must be < 1 (stationary)", field="garch_beta")
        if min(self.market_df, self.idio_df) <= 2.0:
            raise ConfigError("Student-t degrees of freedom must exceed 2 (finite variance)", field="idio_df")
        if self.pre_open_share + self.in_session_share > 1.0:
            raise ConfigError("pre_open_share + in_session_share must be <= 1", field="pre_open_share")


@dataclass(frozen=True, eq=False)
class LabTruth:
    """What the simulation planted. ``stocks``: symbol, sector, beta, idio_vol (daily);
    ``planted`` (per event, row-aligned with ``LabMarket.events``): the planted abnormal return
    and ``s0``, the first tradable session it starts on; ``market_return`` (T,): the index's daily
    close-to-close return."""

    stocks: pl.DataFrame
    planted: pl.DataFrame
    market_return: np.ndarray
    planted_car: float
    planted_days: int

    @property
    def sector(self) -> dict[str, str]:
        """symbol -> sector, for :func:`earnest.lab.windows.event_windows`."""
        return dict(zip(self.stocks["symbol"].to_list(), self.stocks["sector"].to_list(), strict=True))


@dataclass(frozen=True, eq=False)
class LabMarket:
    """``bars`` (symbol, date, open, high, low, close, prev_close, volume), ``index_bars`` (schema
    ``INDEX_BARS``, one index), ``events`` (symbol, knowledge_time UTC, pat_yoy, revenue_yoy) and the
    ``truth``."""

    bars: pl.DataFrame
    index_bars: pl.DataFrame
    events: pl.DataFrame
    truth: LabTruth
    sessions: list[dt.date] = field(default_factory=list)


MAX_SHOCK = 8.0
"""Student-t shocks (unit variance) are cut at this many standard deviations, symmetrically (the mean
stays zero), so that no simple return can reach -100%."""

MAX_JUMP = 0.5
"""The results jump (a simple return) is cut at +-50%."""

FLOOR = 0.05
"""A price never falls below 5% of the previous one in one part of a day (a guard: with the cuts
above no realistic draw comes near it)."""


def _unit_t(rng: np.random.Generator, df: float, size: tuple[int, ...] | int) -> np.ndarray:
    """Student-t draws scaled to unit variance, cut at +-:data:`MAX_SHOCK`."""
    z = rng.standard_t(df, size=size) * np.sqrt((df - 2.0) / df)
    return np.asarray(np.clip(z, -MAX_SHOCK, MAX_SHOCK))


def _market(rng: np.random.Generator, t: int, p: LabMarketParams) -> tuple[np.ndarray, np.ndarray]:
    """Market simple returns (T, 2): overnight and intraday parts; and the volatility regime (T,),
    the conditional sd over its long-run level."""
    target = p.market_vol**2
    omega = target * (1.0 - p.garch_alpha - p.garch_beta)
    z = _unit_t(rng, p.market_df, (t, 2))
    share = np.array([p.overnight_share, 1.0 - p.overnight_share])
    var = np.empty(t)
    parts = np.empty((t, 2))
    v = target
    for i in range(t):
        var[i] = v
        parts[i] = np.sqrt(v * share) * z[i]
        eps = parts[i].sum()
        v = omega + p.garch_alpha * eps * eps + p.garch_beta * v
    return parts + p.market_drift * share, np.sqrt(var / target)


def _stock_parts(
    rng: np.random.Generator, mkt: np.ndarray, regime: np.ndarray, n: int, p: LabMarketParams
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Overnight and intraday simple returns (T, N) before news, and the stocks' parameters."""
    t = mkt.shape[0]
    beta = rng.uniform(*p.beta_range, size=n)
    lo, hi = np.log(p.idio_vol_range[0]), np.log(p.idio_vol_range[1])
    vol = np.exp(rng.uniform(lo, hi, size=n))
    sector = rng.integers(0, p.n_sectors, size=n)
    scale = np.sqrt(regime)[:, None]
    out = []
    for k, share in enumerate((p.overnight_share, 1.0 - p.overnight_share)):
        sec = rng.normal(0.0, p.sector_vol * np.sqrt(share), size=(t, p.n_sectors)) * regime[:, None]
        idio = _unit_t(rng, p.idio_df, (t, n)) * (vol * np.sqrt(share))[None, :] * scale
        out.append(beta[None, :] * mkt[:, k : k + 1] + sec[:, sector] + idio)
    return out[0], out[1], {"beta": beta, "idio_vol": vol, "sector": sector}


def _seasons(
    sessions: np.ndarray, n: int, epy: float, rng: np.random.Generator, p: LabMarketParams
) -> pl.DataFrame:
    """Announcements: symbol number, session position ``d`` of the announcement day, time kind."""
    first, last = sessions[0].astype(dt.date), sessions[-1].astype(dt.date)
    quarter_ends = [
        dt.date(y, m, 1) - dt.timedelta(days=1)
        for y in range(first.year - 1, last.year + 2)
        for m in (1, 4, 7, 10)
    ]
    rows: list[tuple[np.ndarray, np.ndarray]] = []
    for q in quarter_ends:
        lo = np.searchsorted(sessions, np.datetime64(q + dt.timedelta(days=p.season_start_days)))
        hi = np.searchsorted(
            sessions, np.datetime64(q + dt.timedelta(days=p.season_start_days + p.season_days))
        )
        if hi - lo < 1:
            continue
        weights = rng.dirichlet(np.full(hi - lo, p.popularity))
        reports = np.flatnonzero(rng.random(n) < min(1.0, epy / 4.0))
        rows.append((reports, lo + rng.choice(hi - lo, size=reports.size, p=weights)))
    extra = max(0.0, epy - 4.0) * len(sessions) / 250.0
    k = rng.poisson(extra * n)
    rows.append((rng.integers(0, n, size=k), rng.integers(0, len(sessions), size=k)))
    sym = np.concatenate([r[0] for r in rows]).astype(np.int64)
    day = np.concatenate([r[1] for r in rows]).astype(np.int64)
    u = rng.random(sym.size)
    kind = np.where(u < p.pre_open_share, 0, np.where(u < p.pre_open_share + p.in_session_share, 1, 2))
    return pl.DataFrame({"sym": sym, "d": day, "kind": kind})


def _knowledge_time(sessions: np.ndarray, ann: pl.DataFrame, rng: np.random.Generator) -> pl.Series:
    """UTC instants: pre-open 07:30-09:10 IST, in session 09:30-15:00, after close 15:45-21:00."""
    kind = ann.get_column("kind").to_numpy()
    start = np.array([450, 570, 945])[kind]
    width = np.array([100, 330, 315])[kind]
    minutes = start + rng.integers(0, width)
    day = sessions[ann.get_column("d").to_numpy()].astype("datetime64[m]")
    local = pl.Series("knowledge_time", (day + minutes.astype("timedelta64[m]")).astype("datetime64[us]"))
    return local.dt.replace_time_zone(IST.key).dt.convert_time_zone("UTC")


def _news(
    ann: pl.DataFrame,
    parts: tuple[np.ndarray, np.ndarray],
    vol: np.ndarray,
    rng: np.random.Generator,
    p: LabMarketParams,
) -> np.ndarray:
    """Add the results jumps and event-day volatility in place; returns s0 per announcement."""
    gap, intra = parts
    t = gap.shape[0]
    sym, d, kind = (ann.get_column(c).to_numpy() for c in ("sym", "d", "kind"))
    s0 = np.where(kind == 0, d, d + 1)
    jump = np.clip(rng.normal(0.0, p.jump_vol, size=sym.size) * vol[sym], -MAX_JUMP, MAX_JUMP)
    pre, during = kind == 0, kind == 1
    np.add.at(gap, (s0[pre], sym[pre]), jump[pre])
    np.add.at(intra, (d[during], sym[during]), jump[during])
    after = (kind == 2) & (s0 < t)
    np.add.at(gap, (s0[after], sym[after]), jump[after])
    inside = s0 < t
    extra = np.sqrt(max(p.event_vol**2 - 1.0, 0.0) * (1.0 - p.overnight_share)) * vol[sym]
    np.add.at(intra, (s0[inside], sym[inside]), (rng.standard_normal(sym.size) * extra)[inside])
    return s0


def _plant(intra: np.ndarray, sym: np.ndarray, s0: np.ndarray, amount: np.ndarray, days: int) -> None:
    """Add ``amount / days`` to the intraday return of sessions ``s0 .. s0 + days - 1``."""
    t = intra.shape[0]
    for j in range(days):
        at = s0 + j
        ok = (at < t) & (amount != 0.0)
        np.add.at(intra, (at[ok], sym[ok]), amount[ok] / days)


def _bars(
    rng: np.random.Generator,
    symbols: pl.Series,
    dates: pl.Series,
    gap: np.ndarray,
    intra: np.ndarray,
    vol: np.ndarray,
) -> pl.DataFrame:
    """Bars in long form, sorted by symbol then date (a stock's path is (T,) along axis 0)."""
    t, n = gap.shape
    start = np.exp(rng.normal(np.log(500.0), 1.0, size=n))
    growth = np.maximum(1.0 + gap, FLOOR) * np.maximum(1.0 + intra, FLOOR)
    close = start[None, :] * np.cumprod(growth, axis=0)
    prev = np.vstack([start[None, :], close[:-1]])
    opn = prev * np.maximum(1.0 + gap, FLOOR)
    wick = np.abs(rng.normal(0.0, 0.4, size=(2, t, n))) * vol[None, None, :]
    volume = np.exp(rng.normal(11.0, 1.0, size=(t, n))).astype(np.int64)
    idx_sym = np.repeat(np.arange(n), t)
    idx_day = np.tile(np.arange(t), n)

    def flat(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a.T).reshape(-1)

    return pl.DataFrame(
        {
            "symbol": symbols.gather(idx_sym),
            "date": dates.gather(idx_day),
            "open": flat(opn),
            "high": flat(np.maximum(opn, close) * np.exp(wick[0])),
            "low": flat(np.minimum(opn, close) * np.exp(-wick[1])),
            "close": flat(close),
            "prev_close": flat(prev),
            "volume": flat(volume),
        }
    )


def _index(dates: pl.Series, mkt: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """NIFTY-50-like index bars (schema ``INDEX_BARS``): the market factor's level from 10,000."""
    close = 10_000.0 * np.cumprod((1.0 + mkt[:, 0]) * (1.0 + mkt[:, 1]))
    prev = np.concatenate([[10_000.0], close[:-1]])
    opn = prev * (1.0 + mkt[:, 0])
    wick = np.abs(rng.normal(0.0, 0.004, size=(2, close.size)))
    frame = pl.DataFrame(
        {
            "index_name": INDEX_NAME,
            "date": dates,
            "open": opn,
            "high": np.maximum(opn, close) * np.exp(wick[0]),
            "low": np.minimum(opn, close) * np.exp(-wick[1]),
            "close": close,
            "knowledge_time": [eod_known_utc(d) for d in dates.to_list()],
            "source_file": "simulated",
            "source_row": np.arange(1, close.size + 1),
        }
    )
    return schemas.conform(frame, schemas.INDEX_BARS, name="index_bars")


def _check(n_symbols: int, n_sessions: int, planted_days: int, available: int) -> None:
    if n_symbols < 2:
        raise ConfigError(f"n_symbols must be >= 2, got {n_symbols}", field="n_symbols")
    if not 20 <= n_sessions <= available:
        raise ConfigError(
            f"n_sessions must be between 20 and {available} (the calendar after start), got {n_sessions}",
            remedy="start earlier or simulate fewer sessions",
            field="n_sessions",
        )
    if planted_days < 1:
        raise ConfigError(f"planted_days must be >= 1, got {planted_days}", field="planted_days")


def simulate_lab_market(
    *,
    n_symbols: int,
    n_sessions: int,
    seed: int,
    events_per_year: float = 4.0,
    planted_car: float = 0.0,
    planted_days: int = 5,
    planted_min_pat_yoy: float | None = None,
    start: dt.date = dt.date(2011, 1, 1),
    params: LabMarketParams | None = None,
) -> LabMarket:
    """A seeded market of ``n_symbols`` stocks over ``n_sessions`` NSE sessions from ``start``, with
    results events (``events_per_year`` per symbol: 4 = every quarter; more adds events outside the
    seasons) and the planted effect of the module docstring. The same arguments give the same market.
    """
    p = params or LabMarketParams()
    calendar = nse_calendar()
    all_days = np.asarray(calendar.sessions, dtype="datetime64[D]")
    first = int(np.searchsorted(all_days, np.datetime64(start)))
    _check(n_symbols, n_sessions, planted_days, all_days.size - first)
    days = all_days[first : first + n_sessions]
    mkt, regime = _market(stream(seed, "lab-market"), n_sessions, p)
    gap, intra, stocks = _stock_parts(stream(seed, "lab-stocks"), mkt, regime, n_symbols, p)
    rng = stream(seed, "lab-events")
    ann = _seasons(days, n_symbols, events_per_year, rng, p)
    kt = _knowledge_time(days, ann, rng)
    s0 = _news(ann, (gap, intra), stocks["idio_vol"], rng, p)
    keep = s0 < n_sessions
    ann, kt, s0 = ann.filter(pl.Series(keep)), kt.filter(pl.Series(keep)), s0[keep]
    revenue = rng.normal(0.12, 0.15, size=ann.height)
    pat = 1.5 * revenue + rng.normal(0.0, 0.35, size=ann.height)
    chosen = np.ones(ann.height, bool) if planted_min_pat_yoy is None else pat > planted_min_pat_yoy
    amount = np.where(chosen, planted_car, 0.0)
    sym = ann.get_column("sym").to_numpy()
    _plant(intra, sym, s0, amount, planted_days)
    names = pl.Series("symbol", [f"SIM{i:04d}" for i in range(n_symbols)], dtype=pl.Utf8)
    dates = pl.Series("date", days, dtype=pl.Date)
    events = pl.DataFrame(
        {"symbol": names.gather(sym), "knowledge_time": kt, "pat_yoy": pat, "revenue_yoy": revenue}
    )
    order = events.with_row_index("_r").sort("knowledge_time", "symbol").get_column("_r")
    planted = pl.DataFrame({"s0": dates.gather(s0), "planted": amount})
    truth = LabTruth(
        stocks=pl.DataFrame(
            {
                "symbol": names,
                "sector": [f"SECTOR{s:02d}" for s in stocks["sector"]],
                "beta": stocks["beta"],
                "idio_vol": stocks["idio_vol"],
            }
        ),
        planted=planted[order],
        market_return=(1.0 + mkt[:, 0]) * (1.0 + mkt[:, 1]) - 1.0,
        planted_car=planted_car,
        planted_days=planted_days,
    )
    return LabMarket(
        bars=_bars(stream(seed, "lab-bars"), names, dates, gap, intra, stocks["idio_vol"]),
        index_bars=_index(dates, mkt, stream(seed, "lab-index")),
        events=events[order],
        truth=truth,
        sessions=dates.to_list(),
    )


__all__ = ["INDEX_NAME", "LabMarket", "LabMarketParams", "LabTruth", "simulate_lab_market"]
