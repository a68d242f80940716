"""What happens to the simulated companies besides daily trading: listings, delistings, a symbol
change, splits, bonuses, dividends, price-band revisions and quarterly results announcements.

Dates are planned here as indices into the list of sessions (``t``); the price simulation in
:mod:`earnest.simulate.market` turns them into prices. Each part draws from its own random stream
(:func:`earnest.simulate.universe.stream`), so adding a part later leaves the others unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from earnest.core.calendar import IST, UTC, IntradayRule, TradingCalendar
from earnest.simulate.universe import stream

T_PLUS_ONE_FROM = dt.date(2023, 1, 27)
"""From this date every NSE stock settles T+1 and the ex-date equals the record date; before,
under T+2, the ex-date was the session before the record date."""

BANDS_PCT = (2.0, 5.0, 10.0, 20.0)
"""NSE's fixed price bands used by the simulation (the real list also has 40% for some ETFs)."""

_SPLIT_FV = ((10, 2), (10, 5), (10, 1), (5, 1), (2, 1))
_BONUS = ((1, 1), (1, 2), (2, 1), (3, 2))
_HIDDEN_SPLIT_FV = (10, 5)


@dataclass(frozen=True)
class Roles:
    """Column indices of the companies given a special part (disjoint sets)."""

    splits: tuple[int, ...]
    bonuses: tuple[int, ...]
    hidden_splits: tuple[int, ...]
    delisted: tuple[int, ...]
    listed: tuple[int, ...]
    renamed: tuple[int, ...]
    be: tuple[int, ...]

    def special(self) -> set[int]:
        """Every company with a role, so later picks can avoid them."""
        out: set[int] = set()
        for group in (
            self.splits,
            self.bonuses,
            self.hidden_splits,
            self.delisted,
            self.listed,
            self.renamed,
        ):
            out.update(group)
        return out | set(self.be)


@dataclass(frozen=True)
class Counts:
    """How many companies get each role (already multiplied by the config's scale)."""

    splits: int
    bonuses: int
    hidden_splits: int
    delisted: int
    listed: int
    renamed: int
    be: int


def assign_roles(seed: int, n: int, counts: Counts, *, n_no_band: int) -> Roles:
    """Pick the companies for each role. Splits and bonuses go to mid and large caps, delistings,
    new listings and ``BE`` series to smaller companies; the unrecorded split goes to a company
    with a fixed price band (so the jump is plainly beyond what the band allows)."""
    rng = stream(seed, "roles")
    free = set(range(n))

    def take(pool: range, k: int) -> tuple[int, ...]:
        cand = [i for i in pool if i in free]
        if k > len(cand):
            raise ValueError(f"the universe of {n} companies is too small for {k} more special roles")
        picked = sorted(int(i) for i in rng.choice(cand, size=k, replace=False))
        free.difference_update(picked)
        return tuple(picked)

    small = range(n // 2, n)
    be = take(range(int(n * 0.7), n), counts.be)
    delisted = take(small, counts.delisted)
    listed = take(small, counts.listed)
    hidden = take(range(n_no_band, n), counts.hidden_splits)
    splits = take(range(0, max(n // 2, counts.splits + 1)), counts.splits)
    bonuses = take(range(0, n), counts.bonuses)
    renamed = take(range(n // 4, n), counts.renamed)
    return Roles(splits, bonuses, hidden, delisted, listed, renamed, be)


def _spread(rng: np.random.Generator, k: int, lo: int, hi: int) -> list[int]:
    """``k`` distinct session indices in ``[lo, hi)`` (fewer only if the range is smaller)."""
    k = min(k, max(hi - lo, 0))
    return sorted(int(x) for x in rng.choice(np.arange(lo, hi), size=k, replace=False)) if k else []


def lifecycle(
    seed: int, n: int, n_sessions: int, roles: Roles
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """First trading session ``list_t``, first session no longer traded ``delist_t`` (``T`` when it
    survives) and ``{company: session of the symbol change}``."""
    rng = stream(seed, "lifecycle")
    big_t = n_sessions
    list_t = np.zeros(n, dtype=np.int64)
    delist_t = np.full(n, big_t, dtype=np.int64)
    for i in roles.listed:
        list_t[i] = int(rng.integers(int(big_t * 0.15), int(big_t * 0.6)))
    for i in roles.delisted:
        delist_t[i] = int(rng.integers(int(big_t * 0.4), int(big_t * 0.85)))
    renames = {i: int(rng.integers(int(big_t * 0.3), int(big_t * 0.7))) for i in roles.renamed}
    return list_t, delist_t, renames


def record_date(ex: dt.date, calendar: TradingCalendar) -> dt.date:
    """The record date of an action going ex on ``ex`` (T+1: the same day; T+2: the next session)."""
    return ex if ex >= T_PLUS_ONE_FROM else calendar.next_session(ex)


def _amount_text(amount: float) -> str:
    return f"{amount:.0f}" if amount == round(amount) else f"{amount:.2f}"


def split_purpose(fv_from: int, fv_to: int, style: int) -> str:
    """The ``PURPOSE`` of a face-value split, in NSE's long (CF-CA) or short (PR bundle) wording."""
    if style % 2 == 0:
        return f"FACE VALUE SPLIT (SUB-DIVISION) - FROM RS {fv_from}/- PER SHARE TO RS {fv_to}/- PER SHARE"
    return f"FV SPLT FRM RS {fv_from} TO RS {fv_to}"


def dividend_purpose(amount: float, *, interim: bool) -> str:
    """``INTDIV - RS 7 PER SH`` (interim, PR-bundle wording) or ``DIVIDEND - RS 5 PER SHARE``."""
    if interim:
        return f"INTDIV - RS {_amount_text(amount)} PER SH"
    return f"DIVIDEND - RS {_amount_text(amount)} PER SHARE"


def share_actions(
    seed: int, sessions: list[dt.date], roles: Roles, list_t: np.ndarray, *, avoid: set[tuple[int, int]]
) -> pl.DataFrame:
    """Splits and bonuses: one per company with the role, ex-dates spread over the period, away
    from the (company, session) pairs in ``avoid`` (results reactions) and the sessions next to them.

    Columns: ``idx``, ``ex_t``, ``action_type`` (split/bonus), ``ratio_old``, ``ratio_new``
    (``old`` shares become ``new``), ``price_factor`` (= old/new), ``fv_from``, ``fv_to``,
    ``purpose`` and ``recorded`` (false for the split that no file mentions).
    """
    rng = stream(seed, "share_actions")
    big_t = len(sessions)
    rows: list[dict[str, object]] = []
    groups = (
        ("split", roles.splits, True),
        ("bonus", roles.bonuses, True),
        ("split", roles.hidden_splits, False),
    )
    for kind, members, recorded in groups:
        for k, i in enumerate(members):
            lo = max(int(big_t * 0.08), int(list_t[i]) + 10, 6)
            ex_t = int(rng.integers(lo, max(lo + 1, int(big_t * 0.92))))
            for _ in range(50):
                if not {(i, ex_t - 1), (i, ex_t), (i, ex_t + 1)} & avoid:
                    break
                ex_t = int(rng.integers(lo, max(lo + 1, int(big_t * 0.92))))
            if kind == "bonus":
                new, held = _BONUS[k % len(_BONUS)]
                old, ratio_new = held, held + new
                fv_from = fv_to = 0
                purpose = f"BONUS {new}:{held}"
            else:
                fv_from, fv_to = _SPLIT_FV[k % len(_SPLIT_FV)] if recorded else _HIDDEN_SPLIT_FV
                old, ratio_new = fv_to, fv_from
                purpose = split_purpose(fv_from, fv_to, k) if recorded else ""
            rows.append(
                {
                    "idx": i,
                    "ex_t": ex_t,
                    "action_type": kind,
                    "ratio_old": float(old),
                    "ratio_new": float(ratio_new),
                    "price_factor": old / ratio_new,
                    "fv_from": float(fv_from),
                    "fv_to": float(fv_to),
                    "purpose": purpose,
                    "recorded": recorded,
                }
            )
    schema = {
        "idx": pl.Int64,
        "ex_t": pl.Int64,
        "action_type": pl.Utf8,
        "ratio_old": pl.Float64,
        "ratio_new": pl.Float64,
        "price_factor": pl.Float64,
        "fv_from": pl.Float64,
        "fv_to": pl.Float64,
        "purpose": pl.Utf8,
        "recorded": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def dividend_plan(
    seed: int, sessions: list[dt.date], n: int, *, payer_share: float, avoid: set[tuple[int, int]]
) -> pl.DataFrame:
    """Dividend ex-dates: payers pay a final dividend each year (ex-date July to September) and
    some an interim one too (November or February). ``avoid`` holds (company, session) pairs
    that already carry a split or bonus.

    Columns: ``idx``, ``ex_t``, ``interim`` and ``yield_`` (the dividend as a fraction of the price).
    """
    rng = stream(seed, "dividends")
    payers = np.flatnonzero(rng.random(n) < payer_share * np.linspace(1.4, 0.6, n))
    months = np.array([d.month for d in sessions])
    years = np.array([d.year for d in sessions])
    rows: list[tuple[int, int, bool, float]] = []
    for i in payers:
        yld = float(rng.uniform(0.003, 0.025))
        interim = bool(rng.random() < 0.3)
        for year in sorted(set(years.tolist())):
            windows = [(np.isin(months, [7, 8, 9]) & (years == year), False)]
            if interim:
                windows.append((np.isin(months, [11, 2]) & (years == year), True))
            for mask, is_interim in windows:
                cand = np.flatnonzero(mask)
                cand = cand[(cand >= 6) & (cand < len(sessions) - 1)]
                if cand.size == 0:
                    continue
                ex_t = int(rng.choice(cand))
                if (int(i), ex_t) not in avoid:
                    rows.append((int(i), ex_t, is_interim, yld * (0.5 if is_interim else 1.0)))
    return pl.DataFrame(
        rows,
        schema={"idx": pl.Int64, "ex_t": pl.Int64, "interim": pl.Boolean, "yield_": pl.Float64},
        orient="row",
    )


def band_schedule(
    seed: int, band_t: list[int], alive: np.ndarray, *, no_band: int, be: tuple[int, ...]
) -> np.ndarray:
    """The price band in percent of each company on each session, shape ``(T, N)``; NaN means
    "No Band" (the ``no_band`` largest companies). Bands change only on the sessions in
    ``band_t`` (the dates of the band files, starting with session 0), by one step
    (20 <-> 10 <-> 5 <-> 2), for about 2%
    of companies each time (at least one that trades, ``alive`` (T, N)), as NSE revises bands
    after surveillance reviews."""
    rng = stream(seed, "bands")
    n_sessions, n = alive.shape
    levels = np.array(BANDS_PCT)
    start = rng.choice(np.arange(len(levels)), size=n, p=[0.03, 0.11, 0.14, 0.72])
    be_idx = np.asarray(be, dtype=np.int64)
    start[be_idx] = rng.choice([0, 1], size=be_idx.size, p=[0.3, 0.7])
    out = np.empty((n_sessions, n))
    level = start.copy()
    edges = [*band_t, n_sessions]
    top = len(levels) - 1
    for k, t0 in enumerate(band_t):
        if k > 0:
            move = np.asarray(rng.random(size=n)) < 0.02
            banded = np.flatnonzero(alive[t0] & (np.arange(n) >= no_band))
            if banded.size and not move[banded].any():  # every band file differs from the one before
                move[int(rng.choice(banded))] = True
            step = rng.choice([-1, 1], size=n)
            step = np.where((level + step < 0) | (level + step > top), -step, step)
            level = np.where(move, level + step, level)
        out[t0 : edges[k + 1]] = levels[level]
    out[:, :no_band] = np.nan
    return out


_TIMINGS = ("pre_open", "market_hours", "post_close")


def results_calendar(
    seed: int, sessions: list[dt.date], calendar: TradingCalendar, list_t: np.ndarray, delist_t: np.ndarray
) -> pl.DataFrame:
    """Quarterly results announcements for every company, in NSE's results seasons.

    Each company reports a fixed number of days after each quarter end (20 to 45, 15 more for the
    March quarter, the audited annual results), give or take a few days, at a habitual time: before
    the open, during market hours or after the close (most common). Only announcements whose
    price reaction falls while the company trades are kept.

    Columns: ``idx``, ``period_end`` (the quarter end), ``announced_at`` (UTC), ``timing``,
    ``reaction_t`` (the first session whose close reflects the news: the same day when released
    before 15:30 IST, else the next session), ``tradable_t`` (the first session whose *open*
    can trade on it, NSE's rule in :meth:`TradingCalendar.first_tradable`) and ``surprise_z``
    (the standardised surprise that drives the price reaction, fat-tailed).
    """
    rng = stream(seed, "results")
    n = len(list_t)
    first, last = sessions[0], sessions[-1]
    index = {d: t for t, d in enumerate(sessions)}
    quarter_ends = [
        dt.date(y, m, 30 if m in (6, 9) else 31)
        for y in range(first.year - 1, last.year + 1)
        for m in (3, 6, 9, 12)
    ]
    lag = rng.integers(20, 46, size=n)
    habit = rng.choice(3, size=n, p=[0.15, 0.35, 0.5])
    rows: list[tuple[object, ...]] = []
    for q in quarter_ends:
        jitter = rng.integers(-4, 5, size=n)
        kind = np.where(rng.random(n) < 0.8, habit, rng.choice(3, size=n))
        minutes = rng.integers(0, 240, size=n)
        z = rng.standard_t(4, size=n) / np.sqrt(2.0)
        for i in range(n):
            day = q + dt.timedelta(days=int(lag[i] + jitter[i] + (15 if q.month == 3 else 0)))
            if not first < day < last:
                continue
            clock = (dt.time(8, 0), dt.time(10, 30), dt.time(16, 0))[kind[i]]
            local = dt.datetime.combine(day, clock, IST) + dt.timedelta(minutes=int(minutes[i]))
            before_close = calendar.is_session(day) and kind[i] < 2
            react = day if before_close else calendar.next_session(day)
            tradable = calendar.first_tradable(local, intraday=IntradayRule.NEXT_OPEN).date
            r_t, f_t = index.get(react), index.get(tradable)
            if r_t is None or f_t is None or not list_t[i] < r_t < delist_t[i]:
                continue
            rows.append((i, q, local.astimezone(UTC), _TIMINGS[kind[i]], r_t, f_t, float(z[i])))
    schema: dict[str, pl.DataType] = {
        "idx": pl.Int64(),
        "period_end": pl.Date(),
        "announced_at": pl.Datetime("us", "UTC"),
        "timing": pl.Utf8(),
        "reaction_t": pl.Int64(),
        "tradable_t": pl.Int64(),
        "surprise_z": pl.Float64(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort("reaction_t", "idx")


__all__ = [
    "BANDS_PCT",
    "T_PLUS_ONE_FROM",
    "Counts",
    "Roles",
    "assign_roles",
    "band_schedule",
    "dividend_plan",
    "dividend_purpose",
    "lifecycle",
    "record_date",
    "results_calendar",
    "share_actions",
    "split_purpose",
]
