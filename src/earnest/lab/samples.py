"""The samples a study tests: the events a hypothesis selects, their event windows under the
benchmark model, and the baselines' windows, with the counts of what each step kept.

Outcomes are per event, net of the round-trip cost when costs are on (the default):

- ``abnormal``: CAR over the horizon (sum of daily abnormal returns from the entry fill) minus cost;
- ``raw``: compounded return from the entry fill over the horizon minus cost;
- ``win``: 1 when the raw net return is positive (null value 0.5);
- ``upper_circuit``: 1 when the stock closed at its upper band within the horizon (null value: the
  rate on matched random dates of the same stocks).

Entries at an upper-circuit open cannot be bought and are excluded (counted in the report).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from earnest.core.calendar import TradingCalendar
from earnest.core.errors import DataError
from earnest.lab._panel import build_panel
from earnest.lab.baselines import index_windows, matched_random_dates
from earnest.lab.selector import compile_selector
from earnest.lab.spec import Hypothesis
from earnest.lab.stats import rank_scores
from earnest.lab.windows import (
    EventWindows,
    WindowSpec,
    event_windows,
    market_adjusted,
    market_model,
    sector_adjusted,
)
from earnest.labels.forward import session_series

Arr = np.ndarray


@dataclass(frozen=True)
class StudyData:
    """The inputs of a study: events of the hypothesis's type (with selector fields), adjusted daily
    bars, the benchmark index's bars and the trading calendar; ``data_hash`` goes on the receipt."""

    events: pl.DataFrame
    bars: pl.DataFrame
    index_bars: pl.DataFrame
    calendar: TradingCalendar
    data_hash: str = ""


@dataclass(frozen=True)
class Counts:
    """How many events each step kept: the audit trail from the event type to the tested sample."""

    of_type: int
    in_scope: int
    selected: int
    priced: int
    entry_blocked: int
    overlap_dropped: int


# --------------------------------------------------------------------------------------------- #
# selection


def _in_scope(h: Hypothesis, events: pl.DataFrame) -> pl.DataFrame:
    """Events of the hypothesis's universe and period, first releases only when asked, one per
    company and reported period: the consolidated filing when there is one (its own knowledge time,
    so its figures are never used before they were broadcast)."""
    out = events
    if h.event.first_release_only and "is_first_release" in out.columns:
        out = out.filter(pl.col("is_first_release"))
    if h.universe.symbols:
        out = out.filter(pl.col("symbol").is_in([s.upper() for s in h.universe.symbols]))
    day = pl.col("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    out = out.filter((day >= h.period.start) & (day <= h.period.end))
    if "consolidated" in out.columns:  # one announcement, two bases: prefer consolidated
        out = out.sort("consolidated", descending=True, nulls_last=True)
    # one event per company and reported period (standalone and consolidated filings of a quarter
    # are one announcement); without periods, one per company and knowledge time
    key = ["symbol", "period_end", "period_kind"] if {"period_end", "period_kind"} <= set(out.columns) else []
    out = out.unique(subset=key or ["symbol", "knowledge_time"], keep="first", maintain_order=True)
    return out.sort("knowledge_time", "symbol")


def select_events(h: Hypothesis, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(every event in scope, the events the selector picks)."""
    scope = _in_scope(h, events)
    if not h.event.selector:
        return scope, scope
    expr = compile_selector(h.event.selector, columns=dict(scope.schema))
    return scope, scope.filter(expr.fill_null(False))


# --------------------------------------------------------------------------------------------- #
# outcomes


def _window_spec(h: Hypothesis) -> WindowSpec:
    return WindowSpec(
        lag_sessions=h.entry.lag_sessions,
        at=h.entry.at,
        estimation_sessions=h.benchmark.estimation_sessions,
        gap_sessions=h.benchmark.gap_sessions,
        event_sessions=max(h.horizons),
        min_estimation_sessions=h.benchmark.min_estimation_sessions,
    )


def _model(h: Hypothesis, w: EventWindows) -> EventWindows:
    if h.benchmark.model == "market_model":
        return market_model(w)
    if h.benchmark.model == "sector":
        if w.sec_evt is None:
            raise DataError(
                "benchmark.model = 'sector' needs a sector for every stock, and the data has none",
                field="benchmark.model",
                remedy="use 'market' or 'market_model' (sector classifications are not in the store yet)",
            )
        return sector_adjusted(w)
    return market_adjusted(w)


def _cost(h: Hypothesis) -> float:
    return h.costs.round_trip_bps / 1e4 if h.costs.enabled else 0.0


def _raw(w: EventWindows, horizon: int) -> Arr:
    with np.errstate(invalid="ignore"):
        return np.asarray(np.prod(1.0 + w.ret_evt[:, :horizon], axis=1) - 1.0)


def _car(w: EventWindows, horizon: int) -> Arr:
    part = w.ar_evt[:, :horizon]
    out = part.sum(axis=1)
    out[np.isnan(part).any(axis=1)] = np.nan
    return np.asarray(out)


def outcome_values(h: Hypothesis, w: EventWindows, *, horizon: int, outcome: str) -> Arr:
    """Per-event outcome over ``horizon`` (see the module docstring); NaN where unpriced."""
    cost = _cost(h)
    if outcome == "abnormal":
        return _car(w, horizon) - cost
    raw = _raw(w, horizon)
    if outcome == "raw":
        return raw - cost
    if outcome == "win":
        return np.where(np.isnan(raw), np.nan, (raw - cost > 0).astype(float))
    if w.upper_circuit_hit is None:
        return np.full(len(raw), np.nan)
    hit = np.asarray(w.upper_circuit_hit)[:, :horizon].any(axis=1).astype(float)
    return np.where(np.isnan(raw), np.nan, hit)


@dataclass(frozen=True)
class Samples:
    """The hypothesis's windows and each baseline's, already modelled and filtered."""

    selected: EventWindows
    baselines: tuple[tuple[str, str, EventWindows], ...]
    counts: Counts
    warnings: tuple[str, ...]
    rank_u: Arr | None = None  # Corrado rank scores of the selected events, shared by every horizon


def _usable(h: Hypothesis, w: EventWindows) -> tuple[EventWindows, int, int]:
    """Drop blocked entries and (when asked) overlapping windows; (windows, blocked, overlapped)."""
    priced = ~np.isnan(w.ret_evt[:, 0])
    flags = w.entry_blocked if w.entry_blocked is not None else np.zeros(w.n, dtype=bool)
    blocked = np.asarray(flags, dtype=bool) & priced
    keep = priced & ~blocked
    w = w.select(keep)
    dropped = 0
    if h.stats.overlap == "non_overlapping":
        from earnest.lab.windows import non_overlapping

        mask, dropped = non_overlapping(w, max(h.horizons))
        w = w.select(np.asarray(mask, dtype=bool))
    return w, int(blocked.sum()), int(dropped)


class Clock:
    """Adds the wall time of each stage to ``timings`` (seconds by stage name) when one is given."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


RANDOM_PER_EVENT = 5
RANDOM_MAX_EVENTS = 50_000


def _random_k(n_events: int) -> int:
    """Random dates per event: 5, fewer when that would pass 50,000 placebo events in all (their
    mean is then already far more precise than the hypothesis's), at least 1."""
    return max(1, min(RANDOM_PER_EVENT, RANDOM_MAX_EVENTS // max(n_events, 1)))


def build_samples(h: Hypothesis, data: StudyData, clock: Clock) -> Samples:
    spec = _window_spec(h)
    scope, chosen = select_events(h, data.events)
    clock.lap("select events")
    warnings: list[str] = []
    panel = build_panel(data.bars, data.index_bars, session_series(data.calendar))
    clock.lap("dense panel")

    def windows(events: pl.DataFrame, stage: str) -> EventWindows:
        w = event_windows(
            events,
            data.bars,
            data.index_bars,
            spec=spec,
            calendar=data.calendar,
            exclude_from_estimation=scope,  # other announcements' reactions would bias alpha
            panel=panel,
        )
        w = _model(h, w)
        warnings.extend(w.warnings)
        clock.lap(stage)
        return w

    sel_all = windows(chosen, "windows + model: hypothesis")
    priced = int((~np.isnan(sel_all.ret_evt[:, 0])).sum()) if sel_all.n else 0
    sel, blocked, dropped = _usable(h, sel_all)
    base: list[tuple[str, str, EventWindows]] = []
    if h.event.selector:
        every, _, _ = _usable(h, windows(scope, "windows + model: every event"))
        base.append(("every_event", f"every {h.event.type} event in scope, no selector", every))
    else:
        warnings.append("no selector: the every-event baseline is the hypothesis itself and is left out")
    random_events = matched_random_dates(
        chosen,
        calendar=data.calendar,
        bars=data.bars,
        k=_random_k(chosen.height),
        seed=h.stats.seed,
        exclude=scope,
        horizon=max(h.horizons),
    )
    clock.lap("draw random dates")
    rnd, _, _ = _usable(h, windows(random_events, "windows + model: random dates"))
    k = _random_k(chosen.height)
    base.append(("random_dates", f"{k} random session(s) per event, same symbol and month", rnd))
    base.append(("index", f"{h.benchmark.index} over the same holding windows", index_windows(sel)))
    counts = Counts(
        of_type=data.events.height,
        in_scope=scope.height,
        selected=chosen.height,
        priced=priced,
        entry_blocked=blocked,
        overlap_dropped=dropped,
    )
    ranks = rank_scores(sel.ar_est, sel.ar_evt) if h.outcome in ("abnormal", "raw") and sel.n >= 3 else None
    clock.lap("rank scores")
    return Samples(sel, tuple(base), counts, tuple(dict.fromkeys(warnings)), ranks)


__all__ = [
    "RANDOM_MAX_EVENTS",
    "RANDOM_PER_EVENT",
    "Clock",
    "Counts",
    "Samples",
    "StudyData",
    "build_samples",
    "outcome_values",
    "select_events",
]
