"""Results events as a user sees them: each filing with its broadcast time, first tradable session,
version and headline figures, point in time.

``event_table`` is what ``earnest show events`` prints. With ``as_of`` it shows only what was
known at that instant: the versions and the figures filed by then, and figures derived (growth,
SUE, streaks) from quarters known by then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from earnest.core.calendar import IST, IntradayRule, nse_calendar
from earnest.events import as_of as events_as_of
from earnest.events import load_events
from earnest.events.derived import derive_quarterly
from earnest.events.fundamentals import load_figures
from earnest.store import SqlStore

_FIGURES = ("revenue_from_operations", "net_profit", "net_profit_owners", "eps_basic")
_DERIVED = ("revenue_from_operations_yoy", "net_profit_yoy", "eps_basic_yoy", "sue", "beat_streak")
_SHOWN = (
    "symbol",
    "period_end",
    "period_kind",
    "consolidated",
    "version",
    "broadcast_ist",
    "first_session",
    "first_fill",
)


def event_figures(events: pl.DataFrame, figures: pl.DataFrame) -> pl.DataFrame:
    """``events`` with the figures of the filing each one announced (joined on the XBRL file name,
    consolidation basis, period end and kind; a filing without XBRL keeps null figures)."""
    if figures.is_empty() or events.is_empty():
        return events.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in _FIGURES)
    basis = pl.when(pl.col("consolidated")).then(pl.lit("consolidated")).otherwise(pl.lit("standalone"))
    keys = ["xbrl_name", "consolidation", "period_end", "period_kind"]
    wanted = [c for c in (*_FIGURES, *_DERIVED) if c in figures.columns]
    right = figures.select(*keys, *wanted).unique(subset=keys, keep="first")
    return (
        events.with_columns(basis.alias("consolidation"))
        .join(right, on=keys, how="left")
        .drop("consolidation")
    )


def event_table(
    store: SqlStore,
    *,
    symbols: Sequence[str] | None = None,
    as_of: dt.datetime | None = None,
    intraday: IntradayRule = IntradayRule.NEXT_OPEN,
    latest_only: bool = True,
) -> pl.DataFrame:
    """Results events of ``symbols`` with figures, as known at ``as_of`` (default: now).

    ``latest_only`` keeps one row per period (its latest version known at ``as_of``); otherwise
    every version known at ``as_of`` is listed.
    """
    events = load_events(store, symbols=symbols, calendar=nse_calendar(), intraday=intraday)
    when = as_of or dt.datetime.now(dt.UTC)
    if latest_only:
        events = events_as_of(events, when)
    else:
        events = events.filter(
            pl.col("knowledge_time") <= pl.lit(when, dtype=events.schema["knowledge_time"])
        )
    figures = load_figures(store, symbols=symbols)
    if not figures.is_empty():
        figures = figures.filter(
            pl.col("knowledge_time") <= pl.lit(when, dtype=figures.schema["knowledge_time"])
        )
        derived = derive_quarterly(figures)
        figures = figures.join(derived, on=[c for c in derived.columns if c in figures.columns], how="left")
    table = event_figures(events, figures).with_columns(
        pl.col("event_time")
        .dt.convert_time_zone(str(IST))
        .dt.strftime("%Y-%m-%d %H:%M")
        .alias("broadcast_ist")
    )
    cols = [*_SHOWN, *(c for c in (*_FIGURES, *_DERIVED) if c in table.columns)]
    return table.sort("symbol", "period_end", "consolidated", "version").select(cols)


__all__ = ["event_figures", "event_table"]
