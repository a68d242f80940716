"""The three baselines a hypothesis is always compared with.

- :func:`every_event`: every event of the type, without the selector ("just buy every results
  announcement");
- :func:`matched_random_dates`: placebo events on random sessions of the same symbol and month;
- :func:`index_windows`: the index's own return over each event's holding window.

The first two return events frames (``symbol``, ``knowledge_time``) that go through the same
:func:`earnest.lab.windows.event_windows` and model as the hypothesis; the third turns windows into
windows whose returns are the index's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl

from earnest.core.calendar import TradingCalendar
from earnest.core.errors import ConfigError
from earnest.lab._panel import ordinals
from earnest.lab.windows import EventWindows
from earnest.labels.forward import entry_positions, eod_known, require, session_series

_KEEP = ("symbol", "knowledge_time")


def every_event(all_events: pl.DataFrame) -> pl.DataFrame:
    """Every event of the type, no selector applied: the frame itself, checked to have
    ``symbol`` and ``knowledge_time`` (kept explicit so reports name the baseline)."""
    require(all_events, _KEEP, "events")
    return all_events


def _entries(events: pl.DataFrame, calendar: TradingCalendar, sessions: pl.Series, lag: int) -> pl.DataFrame:
    """``symbol`` and ``_e`` (entry session number) of each event, in row order."""
    require(events, _KEEP, "events")
    entry = entry_positions(events, calendar, sessions, lag - 1)
    return pl.DataFrame({"symbol": events.get_column("symbol").cast(pl.Utf8), "_e": entry})


def _candidates(
    bars: pl.DataFrame, want: pl.DataFrame, real: pl.DataFrame, sessions: pl.Series, horizon: int, lag: int
) -> pl.DataFrame:
    """Sessions (``symbol``, ``_s``, ``_m`` month) in the months ``want`` asks for (and the months
    either side) where the symbol traded, at least ``lag`` sessions into the calendar, and no real
    event's holding window overlaps one starting there."""
    require(bars, ("symbol", "date"), "bars")
    months = (
        want.select("symbol", "_m")
        .unique()
        .join(pl.DataFrame({"_dm": [-1, 0, 1]}), how="cross")
        .select("symbol", (pl.col("_m") + pl.col("_dm")).alias("_m"))
        .unique()
    )
    mine = bars.select(pl.col("symbol").cast(pl.Utf8), "date").filter(
        pl.col("symbol").is_in(want.get_column("symbol").unique().implode())
    )
    pos = ordinals(mine.get_column("date"), sessions, "bar")
    traded = mine.select(
        "symbol", pl.Series("_s", pos), pl.Series("_m", _session_months(sessions)[pos])
    ).join(months, on=["symbol", "_m"], how="semi")
    near = pl.int_range(-(horizon - 1), horizon, eager=True).alias("_d")
    blocked = (
        real.join(traded.select("symbol").unique(), on="symbol", how="semi")
        .join(near.to_frame(), how="cross")
        .select("symbol", (pl.col("_e") + pl.col("_d")).alias("_s"))
    )
    free = traded.join(blocked, on=["symbol", "_s"], how="anti")
    return free.filter(pl.col("_s").is_between(lag, sessions.len() - 1))


def _session_months(sessions: pl.Series) -> np.ndarray:
    """``year * 12 + month - 1`` of every session of the calendar."""
    return (sessions.dt.year().cast(pl.Int64) * 12 + sessions.dt.month().cast(pl.Int64) - 1).to_numpy()


def _draw(pairs: pl.DataFrame, k: int, rng: np.random.Generator) -> pl.DataFrame:
    """Up to ``k`` rows per ``_row`` of ``pairs``, uniformly without replacement (reproducible)."""
    pairs = pairs.sort("_row", "_s")
    pairs = pairs.with_columns(pl.Series("_u", rng.random(pairs.height)))
    return pairs.filter(pl.col("_u").rank("ordinal").over("_row") <= k)


def matched_random_dates(
    selected_events: pl.DataFrame,
    *,
    calendar: TradingCalendar,
    bars: pl.DataFrame,
    k: int = 5,
    seed: int,
    exclude: pl.DataFrame | None = None,
    horizon: int,
    lag_sessions: int = 1,
) -> pl.DataFrame:
    """Placebo events: for each selected event, ``k`` random entry sessions of the same symbol in
    the calendar month (and year) of its entry session, drawn without replacement among sessions
    where the symbol traded and whose ``horizon``-session holding window overlaps no real event's
    (``exclude``, e.g. every event of the type, plus the selected ones). When the month has no
    such session the two neighbouring months are used too; when fewer than ``k`` exist, all of them.

    Returns ``symbol``, ``knowledge_time`` (16:00 IST of the session before the placebo's first
    tradable session, so that with ``lag_sessions`` the entry lands on the drawn session),
    ``entry_date`` and ``matched_row`` (the row of ``selected_events``), ordered by row and date.
    The same ``seed`` gives the same draw.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a whole number >= 1, got {k!r}", field="k")
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(f"horizon must be a whole number >= 1, got {horizon!r}", field="horizon")
    if isinstance(lag_sessions, bool) or not isinstance(lag_sessions, int) or lag_sessions < 1:
        raise ConfigError(
            f"lag_sessions must be a whole number >= 1, got {lag_sessions!r}", field="lag_sessions"
        )
    sessions = session_series(calendar)
    chosen = _entries(selected_events, calendar, sessions, lag_sessions).with_row_index("_row")
    chosen = chosen.filter(pl.col("_e").is_between(0, sessions.len() - 1))
    others = [] if exclude is None else [_entries(exclude, calendar, sessions, lag_sessions)]
    real = pl.concat([chosen.select("symbol", "_e"), *others])
    month_of = _session_months(sessions)
    want = chosen.select("_row", "symbol", pl.Series("_m", month_of[chosen.get_column("_e").to_numpy()]))
    pool = _candidates(bars, want, real, sessions, horizon, lag_sessions)
    rng = np.random.default_rng(seed)
    same = _draw(want.join(pool, on=["symbol", "_m"]), k, rng)
    missing = want.join(same.select("_row").unique(), on="_row", how="anti")
    near = missing.join(pl.DataFrame({"_dm": [-1, 0, 1]}), how="cross").with_columns(
        pl.col("_m") + pl.col("_dm")
    )
    wider = _draw(near.drop("_dm").join(pool, on=["symbol", "_m"]), k, rng)
    drawn = pl.concat([same.select("_row", "symbol", "_s"), wider.select("_row", "symbol", "_s")])
    drawn = drawn.sort("_row", "_s")
    known = pl.lit(sessions).gather(pl.col("_s") - lag_sessions)
    return drawn.select(
        "symbol",
        eod_known(known).alias("knowledge_time"),
        pl.lit(sessions).gather(pl.col("_s")).alias("entry_date"),
        pl.col("_row").cast(pl.Int64).alias("matched_row"),
    )


def index_windows(w: EventWindows) -> EventWindows:
    """The index over each event's holding window: windows whose stock returns *are* the index's
    (``ret_* = mkt_*``; abnormal = raw, model ``"index"``), same events, days and clustering. An
    outcome to compare, not an abnormal return."""
    n = w.n
    return dataclasses.replace(
        w,
        ret_est=w.mkt_est.copy(),
        ret_evt=w.mkt_evt.copy(),
        ar_est=w.mkt_est.copy(),
        ar_evt=w.mkt_evt.copy(),
        entry_blocked=None,
        upper_circuit_hit=None,
        sec_est=None,
        sec_evt=None,
        model="index",
        excluded=np.zeros(n, dtype=bool),
        params={"n_est": np.isfinite(w.mkt_est).sum(axis=1)},
        warnings=(),
    )


__all__ = ["every_event", "index_windows", "matched_random_dates"]
