"""Event trades -> target weights: each selected event opens a position for a fixed holding period.

An event trade is ``(symbol, entry_date)``: buy at the entry session's auction (open or close, the
engine's ``execution``), hold ``hold`` sessions, sell at the same auction ``hold`` sessions later.
The engine acts on the row *before* the session it trades in (``next_open`` / ``next_close``),
so the decision rows are ``entry - 1`` (weight) and ``entry + hold - 1`` (weight 0). The entry
session comes from the event's knowledge time (the lab's rule: the first session whose auction
follows the broadcast, plus the lag), so the order is placed after the news, never before.

Sizing by slots: each position gets ``min(1 / max_positions, max_weight)`` of equity at entry and
is not rebalanced while held (a NaN weight leaves a position alone): a new event does not trade the
positions already open. At most ``max_positions`` are open at once; an event that finds no free
slot, or its stock already held, is skipped and counted. ``vol_target`` scales a slot by
``target_vol / vol`` (the stock's trailing volatility known at the decision), never above the slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from earnest.core.errors import DataError

__all__ = ["TradePlan", "plan_event_trades", "trailing_vol"]


@dataclass(frozen=True)
class TradePlan:
    """The target weights (sessions x symbols, NaN = no decision) and what happened to each event:
    ``planned`` traded, ``no_slot`` (all slots full), ``already_held``, ``no_session`` (the entry
    is outside the data, or is its first session: no row to decide on), ``open_at_end`` (still
    held on the last session)."""

    weights: np.ndarray
    counts: dict[str, int]
    trades: pl.DataFrame


def trailing_vol(close: np.ndarray, window: int = 20) -> np.ndarray:
    """(T, N) standard deviation (ddof 1) of the ``window`` close-to-close returns ending at each
    session (NaN until ``window`` returns exist): what is known at that session's close."""
    ret = np.full_like(close, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret[1:] = close[1:] / close[:-1] - 1.0
    out = np.full_like(close, np.nan)
    for t in range(window, close.shape[0]):
        block = ret[t - window + 1 : t + 1]
        ok = np.isfinite(block).sum(axis=0) == window
        sd = np.nanstd(block, axis=0, ddof=1) if ok.any() else np.full(close.shape[1], np.nan)
        out[t] = np.where(ok, sd, np.nan)
    return out


def plan_event_trades(
    trades: pl.DataFrame,
    dates: np.ndarray,
    symbols: tuple[str, ...],
    *,
    hold: int,
    max_positions: int,
    max_weight: float = 1.0,
    vol: np.ndarray | None = None,
    target_vol: float | None = None,
) -> TradePlan:
    """Weights for ``trades`` (``symbol``, ``entry_date``; taken in row order, e.g. by knowledge
    time) on the grid ``dates`` x ``symbols``. ``vol`` and ``target_vol`` switch on volatility
    targeting. See the module docstring for the rules."""
    for name in ("symbol", "entry_date"):
        if name not in trades.columns:
            raise DataError(f"trades lack column {name!r}", field=name, remedy="pass symbol and entry_date")
    if hold < 1 or max_positions < 1:
        raise DataError("hold and max_positions must be at least 1", field="hold")
    n_t, n_s = dates.shape[0], len(symbols)
    weights = np.full((n_t, n_s), np.nan)
    slot = min(1.0 / max_positions, max_weight)
    col = {s: j for j, s in enumerate(symbols)}
    day = {d: t for t, d in enumerate(np.asarray(dates, dtype="datetime64[D]").tolist())}
    open_until: dict[int, int] = {}  # symbol column -> last row of its position (the exit row)
    counts = dict.fromkeys(("planned", "no_slot", "already_held", "no_session", "open_at_end"), 0)
    status: list[str] = []
    for symbol, entry in trades.select("symbol", "entry_date").iter_rows():
        t, j = day.get(entry), col.get(symbol)
        if t is None or j is None or t < 1:
            status.append("no_session")
            continue
        decide = t - 1
        live = [k for k, end in open_until.items() if end > decide]
        if j in live:
            status.append("already_held")
            continue
        if len(live) >= max_positions:
            status.append("no_slot")
            continue
        w = slot
        if vol is not None and target_vol is not None:
            v = vol[decide, j]
            w = min(slot, slot * target_vol / v) if np.isfinite(v) and v > 0 else 0.0
        weights[decide, j] = w
        exit_row = decide + hold
        if exit_row < n_t:
            weights[exit_row, j] = 0.0
        else:
            counts["open_at_end"] += 1
        open_until = {k: e for k, e in open_until.items() if e > decide}
        open_until[j] = exit_row
        status.append("planned")
    for s in status:
        counts[s] += 1
    out = trades.with_columns(pl.Series("status", status, dtype=pl.Utf8))
    return TradePlan(weights=weights, counts=counts, trades=out)
