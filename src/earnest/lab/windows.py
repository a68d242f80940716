"""Event windows: from bars, index bars and events to event-time return arrays and abnormal returns.

**Axis convention** (shared by the lab): axis 0 is events, axis 1 is days in event time; float64,
NaN = missing. ``*_est`` arrays are ``(N, L1)`` over the estimation window (oldest first), ``*_evt``
arrays ``(N, L2)`` over the event window, column 0 the first day of the holding period.

**Timing** (``WindowSpec``). ``s0`` is the first session whose opening auction could act on the
event (:func:`earnest.events.records.first_sessions`, NSE rules: before 09:15 IST on a session day
that day; in session, after 15:30 or on a holiday the next session). The entry session is the
``lag_sessions``-th tradable session, ``e = s0 + lag_sessions - 1`` (``lag_sessions=1`` enters at
``s0``; this is :func:`earnest.labels.forward.forward_returns` with ``lag = lag_sessions - 1``).

- ``at="open"``: bought at the open of ``e``. Day 1 = ``close[e] / open[e] - 1``; day ``k >= 2`` =
  ``close[e+k-1] / close[e+k-2] - 1``. Holding ``h`` days ends at the close of ``e+h-1``.
- ``at="close"``: bought at the close of ``e``. Day ``k`` = ``close[e+k] / close[e+k-1] - 1``.
- The estimation window is the ``L1`` close-to-close returns of sessions
  ``e - gap - L1 .. e - gap - 1``; the index gets the same days (open-to-close on day 1 at open).
  Other events' reactions can be blanked from it (``exclude_from_estimation``): a 120-session window
  holds the previous quarter's results, and a drift there would bias the market model's alpha.

A close-to-close return needs both closes: a missing bar makes that day and the next NaN (earnest
never bridges a gap). Compounding the event window over ``h`` days gives exactly the forward return
of the labels layer (a test pins this).

**Prices must be adjusted by the caller** for splits and bonuses, or the windows see fake -50% days:
pass ``earnest.marketdata.adjust.adjusted_bars(...)`` through :func:`use_adjusted`. Days inside a
window with ``|return| > 40%`` are listed in ``EventWindows.warnings`` as a check.

Abnormal-return models return a new :class:`EventWindows` with ``ar_est``/``ar_evt`` set:
:func:`market_adjusted`, :func:`market_model` (OLS per event over the estimation window) and
:func:`sector_adjusted`. Straight out of :func:`event_windows` the model is ``"raw"``: the abnormal
return is the raw return (no benchmark).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import polars as pl

from earnest.core.calendar import TradingCalendar
from earnest.core.errors import ConfigError
from earnest.lab._panel import Panel, build_panel, gather, gather_sector
from earnest.labels.forward import entry_positions, require, session_series

BIG_MOVE = 0.40
"""A daily return this large in absolute value inside a window is flagged: usually an unadjusted split."""

MAX_LISTED = 5
"""How many examples a warning names."""


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Where the windows sit in event time (all counts are NSE sessions).

    ``lag_sessions``: enter at the ``lag``-th tradable session after the knowledge time (1 = the first);
    ``at``: the entry auction; ``estimation_sessions`` (L1) returns ending ``gap_sessions`` before the
    entry session; ``event_sessions`` (L2, the longest horizon) returns from the entry;
    ``min_estimation_sessions``: fewer valid estimation days and the market model gives NaN ARs.
    """

    lag_sessions: int = 1
    at: Literal["open", "close"] = "open"
    estimation_sessions: int = 120
    gap_sessions: int = 10
    event_sessions: int = 20
    min_estimation_sessions: int = 60

    def __post_init__(self) -> None:
        for name, low in (
            ("lag_sessions", 1),
            ("estimation_sessions", 3),
            ("gap_sessions", 0),
            ("event_sessions", 1),
            ("min_estimation_sessions", 3),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}", field=name)
        if self.at not in ("open", "close"):
            raise ConfigError(f"at must be 'open' or 'close', got {self.at!r}", field="at")
        if self.min_estimation_sessions > self.estimation_sessions:
            raise ConfigError(
                f"min_estimation_sessions ({self.min_estimation_sessions}) exceeds "
                f"estimation_sessions ({self.estimation_sessions})",
                remedy="lower min_estimation_sessions or lengthen the estimation window",
                field="min_estimation_sessions",
            )


@dataclass(frozen=True, eq=False)
class EventWindows:
    """Event-time arrays for N events, row-aligned with ``events`` (see the module docstring).

    ``ret_*``: the stock's returns; ``mkt_*``: the index's returns on the same days; ``ar_*``: the
    abnormal returns of ``model``; ``sec_*``: the equal-weight return of the stock's sector without
    the stock (None without a sector map). ``event_day``: session ordinal (position in the calendar)
    of the entry session; ``symbol_id``: position in ``symbols`` (-1: no bars); ``entry_date``:
    datetime64[D]. ``entry_blocked``: the entry auction printed at the upper band, a buyer could not
    be filled; ``upper_circuit_hit`` (N, L2): the bar of that day touched its upper band (both None
    when the bars have no ``band_pct``/``prev_close``). ``excluded``: the model could not be fitted
    (its ARs are NaN); ``params``: per-event model parameters (``n_est`` valid estimation days, and
    ``alpha``, ``beta``, ``sigma`` for the market model). ``warnings``: data problems found.
    """

    events: pl.DataFrame
    spec: WindowSpec
    symbols: tuple[str, ...]
    ret_est: np.ndarray
    ret_evt: np.ndarray
    mkt_est: np.ndarray
    mkt_evt: np.ndarray
    ar_est: np.ndarray
    ar_evt: np.ndarray
    event_day: np.ndarray
    symbol_id: np.ndarray
    entry_date: np.ndarray
    entry_blocked: np.ndarray | None = None
    upper_circuit_hit: np.ndarray | None = None
    sec_est: np.ndarray | None = None
    sec_evt: np.ndarray | None = None
    model: str = "raw"
    excluded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    params: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def n(self) -> int:
        """Number of events (rows)."""
        return int(self.event_day.shape[0])

    def select(self, mask: np.ndarray) -> EventWindows:
        """The events where ``mask`` (bool, N) is true (or the rows ``mask`` indexes), same columns."""
        idx = np.flatnonzero(mask) if mask.dtype == bool else np.asarray(mask, dtype=np.int64)
        arrays: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value[idx]
        params = {k: v[idx] for k, v in self.params.items()}
        events = self.events[pl.Series(idx)]
        return dataclasses.replace(self, events=events, params=params, **arrays)  # type: ignore[arg-type]


def use_adjusted(bars: pl.DataFrame) -> pl.DataFrame:
    """Bars with their ``adj_*`` columns (from :func:`earnest.marketdata.adjust.adjust_bars`) moved
    into ``open``/``high``/``low``/``close``/``prev_close``: what :func:`event_windows` expects."""
    names = ("open", "high", "low", "close", "prev_close")
    have = [c for c in names if f"adj_{c}" in bars.columns]
    if "close" not in have:
        raise ConfigError(
            "bars have no adj_close column",
            remedy="adjust them first: earnest.marketdata.adjust.adjusted_bars(store, ...)",
            field="adj_close",
        )
    return bars.with_columns(pl.col(f"adj_{c}").alias(c) for c in have)


def _offsets(spec: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Return-session offsets from the entry session: estimation (L1,), event (L2,)."""
    est = np.arange(-spec.gap_sessions - spec.estimation_sessions, -spec.gap_sessions, dtype=np.int64)
    start = 0 if spec.at == "open" else 1
    return est, np.arange(start, start + spec.event_sessions, dtype=np.int64)


def _symbol_ids(events: pl.DataFrame, panel: Panel) -> np.ndarray:
    """Position of each event's symbol in ``panel.symbols``; -1 when the bars never name it."""
    table = pl.DataFrame(
        {"symbol": list(panel.symbols), "_id": np.arange(len(panel.symbols), dtype=np.int64)},
        schema={"symbol": pl.Utf8, "_id": pl.Int64},
    )
    ids = events.select(pl.col("symbol").cast(pl.Utf8)).join(
        table, on="symbol", how="left", maintain_order="left"
    )
    return ids.get_column("_id").fill_null(-1).to_numpy().astype(np.int64)


def _returns(
    panel: Panel, rows: np.ndarray, entry: np.ndarray, spec: WindowSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``ret_est, ret_evt, mkt_est, mkt_evt`` gathered from the panel by fancy indexing."""
    est_off, evt_off = _offsets(spec)
    est_cols = entry[:, None] + est_off[None, :]
    evt_cols = entry[:, None] + evt_off[None, :]
    ret_est = gather(panel.r_cc, rows, est_cols, panel.first)
    ret_evt = gather(panel.r_cc, rows, evt_cols, panel.first)
    mkt_est = gather(panel.m_cc, rows, est_cols, panel.first)
    mkt_evt = gather(panel.m_cc, rows, evt_cols, panel.first)
    if spec.at == "open":
        day1 = entry[:, None]
        ret_evt[:, 0] = gather(panel.r_oc, rows, day1, panel.first)[:, 0]
        mkt_evt[:, 0] = gather(panel.m_oc, rows, day1, panel.first)[:, 0]
    return ret_est, ret_evt, mkt_est, mkt_evt


def _circuits(
    panel: Panel, rows: np.ndarray, entry: np.ndarray, spec: WindowSpec
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``entry_blocked`` (N,) and ``upper_circuit_hit`` (N, L2), or None without bands."""
    if panel.up_hit is None or panel.up_lim is None:
        return None, None
    _, evt_off = _offsets(spec)
    hit = gather(panel.up_hit, rows, entry[:, None] + evt_off[None, :], panel.first) > 0.5
    price = panel.open if spec.at == "open" else panel.close
    fill = gather(price, rows, entry[:, None], panel.first)[:, 0]
    limit = gather(panel.up_lim, rows, entry[:, None], panel.first)[:, 0]
    with np.errstate(invalid="ignore"):
        blocked = np.nan_to_num(fill, nan=-np.inf) >= np.nan_to_num(limit, nan=np.inf)
    return blocked, hit


def _big_moves(w: EventWindows, entry: np.ndarray, sessions: pl.Series) -> list[str]:
    """Name the (symbol, session) cells inside any window with |return| > :data:`BIG_MOVE`."""
    found: dict[tuple[int, int], float] = {}
    for ret, off in zip((w.ret_est, w.ret_evt), _offsets(w.spec), strict=True):
        with np.errstate(invalid="ignore"):
            i, j = np.nonzero(np.abs(ret) > BIG_MOVE)
        cells = zip(w.symbol_id[i].tolist(), (entry[i] + off[j]).tolist(), ret[i, j].tolist(), strict=True)
        found.update({(r, c): v for r, c, v in cells})
    if not found:
        return []
    examples = ", ".join(
        f"{w.symbols[r]} {sessions[c]} ({found[(r, c)]:+.0%})" for r, c in sorted(found)[:MAX_LISTED]
    )
    return [
        f"{len(found)} day(s) with |return| > {BIG_MOVE:.0%} inside event windows, e.g. {examples}: "
        "check that the bars are adjusted for splits and bonuses (earnest.marketdata.adjust)"
    ]


def _checks(w: EventWindows, entry: np.ndarray, sessions: pl.Series) -> tuple[str, ...]:
    """The data warnings of a fresh set of windows."""
    out: list[str] = []
    missing = w.symbol_id < 0
    if missing.any():
        names = sorted(set(w.events.filter(pl.Series(missing)).get_column("symbol").cast(pl.Utf8).to_list()))
        out.append(f"{int(missing.sum())} event(s) of symbols without bars: {', '.join(names[:MAX_LISTED])}")
    no_entry = ~missing & np.isnan(w.ret_evt[:, 0])
    if no_entry.any():
        out.append(f"{int(no_entry.sum())} event(s) without a day-1 return (no bar at or after entry)")
    return (*out, *_big_moves(w, entry, sessions))


def _busy(
    exclude: pl.DataFrame, panel: Panel, calendar: TradingCalendar, sessions: pl.Series, spec: WindowSpec
) -> np.ndarray:
    """(S, T) bool: the sessions from each ``exclude`` event's first tradable session to the end of
    its event window, on its symbol's row."""
    require(exclude, ("symbol", "knowledge_time"), "exclude_from_estimation")
    s0 = entry_positions(exclude, calendar, sessions, 0).to_numpy().astype(np.int64)
    rows = _symbol_ids(exclude, panel)
    n_symbols, width = panel.close.shape[0], panel.close.shape[-1]
    busy = np.zeros((n_symbols, width), dtype=bool)
    _, evt_off = _offsets(spec)
    for step in range(int(evt_off[-1]) + spec.lag_sessions):
        col = s0 + step - panel.first
        ok = (rows >= 0) & (col >= 0) & (col < width)
        busy[rows[ok], col[ok]] = True
    return busy


def _entry_dates(entry: np.ndarray, calendar: TradingCalendar) -> np.ndarray:
    days = np.asarray(calendar.sessions, dtype="datetime64[D]")
    inside = (entry >= 0) & (entry < days.shape[0])
    return np.where(inside, days[np.clip(entry, 0, days.shape[0] - 1)], np.datetime64("NaT"))


def event_windows(
    events: pl.DataFrame,
    bars: pl.DataFrame,
    index_bars: pl.DataFrame,
    *,
    spec: WindowSpec,
    calendar: TradingCalendar,
    sector: dict[str, str] | None = None,
    exclude_from_estimation: pl.DataFrame | None = None,
    panel: Panel | None = None,
) -> EventWindows:
    """Event-time return windows of ``events`` (``symbol``, timezone-aware ``knowledge_time``, any
    other columns carried through) from adjusted daily ``bars`` (``symbol``, ``date``,
    open/high/low/close; ``prev_close`` + ``band_pct`` for the circuit flags) and one index
    (``date``, ``open``, ``close``, e.g. NIFTY 50). See the module docstring for the timing.

    ``sector`` maps symbol to sector and adds the sector windows :func:`sector_adjusted` needs.
    ``exclude_from_estimation`` (events: ``symbol``, ``knowledge_time``; e.g. every results
    announcement) blanks, in the estimation windows of the same symbol, the sessions from each such
    event's first tradable session to the end of its event window: an estimation window should not
    contain another event's reaction (the previous quarter's results fall inside a 120-session window).
    ``panel`` (optional): :func:`earnest.lab._panel.build_panel` of the same bars, index, calendar
    sessions and sectors, built once when several event sets share the data.
    """
    require(events, ("symbol", "knowledge_time"), "events")
    sessions = session_series(calendar)
    if panel is None:
        panel = build_panel(bars, index_bars, sessions, sector=sector)
    entry = entry_positions(events, calendar, sessions, spec.lag_sessions - 1).to_numpy().astype(np.int64)
    rows = _symbol_ids(events, panel)
    ret_est, ret_evt, mkt_est, mkt_evt = _returns(panel, rows, entry, spec)
    blocked, hit = _circuits(panel, rows, entry, spec)
    est_off, evt_off = _offsets(spec)
    est_cols = entry[:, None] + est_off[None, :]
    sec_est = sec_evt = None
    if panel.sector_of is not None:
        sec_est = gather_sector(panel, rows, est_cols, open_first=False)
        sec_evt = gather_sector(panel, rows, entry[:, None] + evt_off[None, :], open_first=spec.at == "open")
    if exclude_from_estimation is not None:
        busy = _busy(exclude_from_estimation, panel, calendar, sessions, spec)
        masked = gather(busy, rows, est_cols, panel.first) > 0.5
        for arr in (ret_est, mkt_est, *([sec_est] if sec_est is not None else [])):
            arr[masked] = np.nan
    w = EventWindows(
        events=events,
        spec=spec,
        symbols=panel.symbols,
        ret_est=ret_est,
        ret_evt=ret_evt,
        mkt_est=mkt_est,
        mkt_evt=mkt_evt,
        ar_est=ret_est.copy(),
        ar_evt=ret_evt.copy(),
        event_day=entry,
        symbol_id=rows,
        entry_date=_entry_dates(entry, calendar),
        entry_blocked=blocked,
        upper_circuit_hit=hit,
        sec_est=sec_est,
        sec_evt=sec_evt,
        excluded=np.zeros(entry.shape[0], dtype=bool),
        params={"n_est": np.isfinite(ret_est).sum(axis=1)},
    )
    return dataclasses.replace(w, warnings=_checks(w, entry, sessions))


def raw(w: EventWindows) -> EventWindows:
    """No benchmark: the abnormal return is the raw return."""
    n_est = np.isfinite(w.ret_est).sum(axis=1)
    return dataclasses.replace(
        w,
        ar_est=w.ret_est.copy(),
        ar_evt=w.ret_evt.copy(),
        model="raw",
        excluded=np.zeros(w.n, dtype=bool),
        params={"n_est": n_est},
    )


def market_adjusted(w: EventWindows) -> EventWindows:
    """Market-adjusted returns: the stock's return less the index's on the same day (beta 1)."""
    ar_est = w.ret_est - w.mkt_est
    return dataclasses.replace(
        w,
        ar_est=ar_est,
        ar_evt=w.ret_evt - w.mkt_evt,
        model="market_adjusted",
        excluded=np.zeros(w.n, dtype=bool),
        params={"n_est": np.isfinite(ar_est).sum(axis=1)},
    )


def market_model(w: EventWindows) -> EventWindows:
    """MacKinlay's market model ``R = alpha + beta * R_m + e``, fitted by OLS per event over the
    estimation window (days where stock or index is NaN are left out), vectorised over events.

    ``ar_est`` holds the fit's residuals, ``ar_evt`` the prediction errors ``R - alpha - beta R_m``;
    ``params`` holds ``alpha``, ``beta``, ``sigma`` (residual sd, ``SSR / (n - 2)``) and ``n_est``.
    Events with fewer than ``min_estimation_sessions`` valid days (or a flat index) get NaN ARs,
    are marked in ``excluded`` and counted in ``warnings``. Day 1 of an open entry is an
    open-to-close return: its AR uses the index's open-to-close return with the daily alpha.
    """
    y, x = w.ret_est, w.mkt_est
    ok_day = np.isfinite(y) & np.isfinite(x)
    n = ok_day.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = np.where(ok_day, x, 0.0).sum(axis=1) / n
        my = np.where(ok_day, y, 0.0).sum(axis=1) / n
        dx = np.where(ok_day, x - mx[:, None], 0.0)
        dy = np.where(ok_day, y - my[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        beta = (dx * dy).sum(axis=1) / sxx
        alpha = my - beta * mx
        resid = np.where(ok_day, y - alpha[:, None] - beta[:, None] * x, np.nan)
        sigma = np.sqrt(np.nansum(resid * resid, axis=1) / (n - 2))
    fitted = (n >= w.spec.min_estimation_sessions) & (sxx > 0)
    ar_est = np.where(fitted[:, None], resid, np.nan)
    ar_evt = np.where(fitted[:, None], w.ret_evt - alpha[:, None] - beta[:, None] * w.mkt_evt, np.nan)
    nan = np.full(w.n, np.nan)
    params = {
        "alpha": np.where(fitted, alpha, nan),
        "beta": np.where(fitted, beta, nan),
        "sigma": np.where(fitted, sigma, nan),
        "n_est": n,
    }
    notes = [m for m in w.warnings if "estimation sessions" not in m]
    dropped = int((~fitted).sum())
    if dropped:
        notes.append(
            f"{dropped} event(s) have fewer than {w.spec.min_estimation_sessions} valid estimation "
            "sessions: the market model gives them NaN abnormal returns"
        )
    return dataclasses.replace(
        w, ar_est=ar_est, ar_evt=ar_evt, model="market_model", excluded=~fitted, params=params,
        warnings=tuple(notes),
    )  # fmt: skip


def sector_adjusted(w: EventWindows) -> EventWindows:
    """Sector-adjusted returns: the stock's return less the equal-weight return of the other stocks
    of its sector on the same day (needs ``sector=`` in :func:`event_windows`)."""
    if w.sec_est is None or w.sec_evt is None:
        raise ConfigError(
            "sector-adjusted returns need a sector for each symbol, and the store has no sectors",
            remedy="pass sector={symbol: sector} to event_windows, or use the market model",
            field="sector",
        )
    ar_est = w.ret_est - w.sec_est
    return dataclasses.replace(
        w,
        ar_est=ar_est,
        ar_evt=w.ret_evt - w.sec_evt,
        model="sector_adjusted",
        excluded=np.zeros(w.n, dtype=bool),
        params={"n_est": np.isfinite(ar_est).sum(axis=1)},
    )


def _horizon(w: EventWindows, horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= w.spec.event_sessions:
        raise ConfigError(
            f"horizon must be between 1 and event_sessions={w.spec.event_sessions}, got {horizon!r}",
            remedy="lengthen WindowSpec.event_sessions to the longest horizon",
            field="horizon",
        )
    return horizon


def car(w: EventWindows, horizon: int) -> np.ndarray:
    """Cumulative abnormal return over the first ``horizon`` days, ``ar_evt[:, :h].sum(1)`` (N,);
    NaN when any day is missing."""
    return np.asarray(w.ar_evt[:, : _horizon(w, horizon)].sum(axis=1))


def bhar(w: EventWindows, horizon: int) -> np.ndarray:
    """Buy-and-hold abnormal return over ``horizon`` days (N,): the compounded return less the
    compounded model return ``ret - ar`` (the index for market-adjusted, ``alpha + beta R_m`` for the
    market model, zero for raw). NaN when any day is missing."""
    h = _horizon(w, horizon)
    ret = w.ret_evt[:, :h]
    expected = ret - w.ar_evt[:, :h]
    return np.asarray(np.prod(1.0 + ret, axis=1) - np.prod(1.0 + expected, axis=1))


class Overlap(NamedTuple):
    """Which events :func:`non_overlapping` keeps (``mask``, N bool) and how many it dropped;
    unpacks as ``mask, n_dropped``."""

    mask: np.ndarray
    n_dropped: int


def non_overlapping(w: EventWindows, horizon: int) -> Overlap:
    """Per symbol, keep the first event and every later one whose ``horizon``-day holding window
    starts after the last kept window has ended (greedy in time); drop the rest."""
    h = _horizon(w, horizon)
    order = np.lexsort((np.arange(w.n), w.event_day, w.symbol_id))
    keep = np.zeros(w.n, dtype=bool)
    last_symbol, free_from = None, 0
    for i, sym, day in zip(
        order.tolist(), w.symbol_id[order].tolist(), w.event_day[order].tolist(), strict=True
    ):
        if sym != last_symbol or sym < 0 or day >= free_from:
            keep[i] = True
            last_symbol, free_from = sym, day + h
    return Overlap(mask=keep, n_dropped=int(w.n - keep.sum()))


__all__ = [
    "BIG_MOVE",
    "EventWindows",
    "Overlap",
    "WindowSpec",
    "bhar",
    "car",
    "event_windows",
    "market_adjusted",
    "market_model",
    "non_overlapping",
    "raw",
    "sector_adjusted",
    "use_adjusted",
]
