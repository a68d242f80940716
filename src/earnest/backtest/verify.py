"""The plain event-driven verification engine: one Python loop over sessions, one over symbols.

It exists to pin :mod:`earnest.backtest.engine` down: it keeps its own book (a dict of holdings,
a list of pending orders, cash and the proceeds awaiting settlement) and walks the same
timeline, calling the same rules (:mod:`earnest.backtest.rules`) and cost function
(:func:`earnest.backtest.costs.cell_costs`). The property tests require both to agree to 1e-9.
It is slow (pure Python): use it on small panels only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from earnest.backtest import rules
from earnest.backtest.costs import DailyRates, cell_costs
from earnest.backtest.engine import BacktestConfig, BacktestResult, RawRun, result_from_raw
from earnest.backtest.panel import BacktestInputs

__all__ = ["verify_backtest", "verify_raw"]

_MAX_SHRINK = 12


@dataclass
class _Book:
    """The verifier's book: holdings and pending orders by symbol index, cash in rupees."""

    cash: float
    held: dict[int, float] = field(default_factory=dict)
    orders: dict[int, float] = field(default_factory=dict)
    last_close: dict[int, float] = field(default_factory=dict)


@dataclass
class _Day:
    """One session's records."""

    fills: list[tuple[int, float, float, float]] = field(default_factory=list)
    fees: float = 0.0
    slippage: float = 0.0
    blocked: int = 0


def _slip(inp: BacktestInputs, cfg: BacktestConfig, t: int, j: int, q: float, ref: float) -> float:
    return float(rules.slippage_fraction(q * ref, inp.adv[t, j], cfg.slippage_bps, cfg.impact_bps))


def _sell_all(
    inp: BacktestInputs,
    cfg: BacktestConfig,
    rates: DailyRates,
    t: int,
    ref: np.ndarray,
    book: _Book,
    day: _Day,
) -> float:
    """Sells of session ``t``; returns proceeds net of their costs."""
    proceeds = 0.0
    lot, integer = float(cfg.lot_size), cfg.integer_shares
    for j in sorted(book.orders):
        order = book.orders[j]
        if order >= 0.0:
            continue
        want = min(-order, book.held.get(j, 0.0))
        if want <= 0.0:
            book.orders[j] = 0.0
            continue
        if rules.sell_blocked(ref[j], inp.lower[t, j]):
            day.blocked += 1
            if cfg.blocked == "cancel":
                book.orders[j] = 0.0
            continue
        q = rules.liquidity_qty(want, ref[j], inp.adv[t, j], cfg.liquidity_cap, lot, integer)
        if q <= 0.0:
            continue
        px = rules.sell_fill_price(ref[j], _slip(inp, cfg, t, j, q, ref[j]), inp.lower[t, j], inp.upper[t, j])
        c = cell_costs(rates, t, 0.0, q * px)
        book.held[j] = book.held.get(j, 0.0) - q
        book.orders[j] = 0.0 if book.held[j] <= 0.0 else order + q
        day.fills.append((j, -q, px, c))
        day.fees += c
        day.slippage += q * (ref[j] - px)
        proceeds += q * px - c
    return proceeds


def _buy_plan(
    inp: BacktestInputs,
    cfg: BacktestConfig,
    rates: DailyRates,
    t: int,
    ref: np.ndarray,
    book: _Book,
    day: _Day,
) -> dict[int, float]:
    """Quantities each pending buy may take before cash is considered."""
    plan: dict[int, float] = {}
    for j in sorted(book.orders):
        if book.orders[j] <= 0.0:
            continue
        if rules.buy_blocked(ref[j], inp.upper[t, j]):
            day.blocked += 1
            if cfg.blocked == "cancel":
                book.orders[j] = 0.0
            continue
        plan[j] = rules.liquidity_qty(
            book.orders[j], ref[j], inp.adv[t, j], cfg.liquidity_cap, float(cfg.lot_size), cfg.integer_shares
        )
    return plan


def _buy_fills(
    inp: BacktestInputs,
    cfg: BacktestConfig,
    rates: DailyRates,
    t: int,
    ref: np.ndarray,
    plan: dict[int, float],
    scale: float,
) -> list[tuple[int, float, float, float]]:
    """(symbol, qty, price, cost) of every buy when ``plan`` is shrunk by ``scale``."""
    out = []
    for j in sorted(plan):
        if plan[j] <= 0.0:
            continue
        q = rules.apply_lot(plan[j] * scale, float(cfg.lot_size), cfg.integer_shares)
        if q <= 0.0:
            continue
        px = rules.buy_fill_price(ref[j], _slip(inp, cfg, t, j, q, ref[j]), inp.lower[t, j], inp.upper[t, j])
        out.append((j, q, px, cell_costs(rates, t, q * px, 0.0)))
    return out


def _buy_all(
    inp: BacktestInputs,
    cfg: BacktestConfig,
    rates: DailyRates,
    t: int,
    ref: np.ndarray,
    book: _Book,
    day: _Day,
    settled: float,
) -> float:
    """Buys of session ``t`` paid from ``settled`` cash; returns rupees spent."""
    plan = _buy_plan(inp, cfg, rates, t, ref, book, day)
    scale = 1.0
    for it in range(_MAX_SHRINK):
        fills = _buy_fills(inp, cfg, rates, t, ref, plan, scale)
        total = 0.0
        for _, q, px, c in fills:
            total += q * px + c
        if total <= settled:
            break
        scale = scale * rules.buy_scale(total, settled) if it < _MAX_SHRINK - 1 else 0.0
    fills = _buy_fills(inp, cfg, rates, t, ref, plan, scale)
    spent = 0.0
    for j, q, px, c in fills:
        book.held[j] = book.held.get(j, 0.0) + q
        book.orders[j] -= q
        book.last_close.setdefault(j, px)
        day.fills.append((j, q, px, c))
        day.fees += c
        day.slippage += q * (px - ref[j])
        spent += q * px + c
    return spent


def _close_of_day(inp: BacktestInputs, cfg: BacktestConfig, t: int, book: _Book) -> float:
    """Marks the book at ``t``'s close (returns positions value) and places the day's decisions."""
    for j in range(len(inp.symbols)):
        if not math.isnan(inp.close[t, j]):
            book.last_close[j] = float(inp.close[t, j])
    value = 0.0
    for j in range(len(inp.symbols)):
        if book.held.get(j, 0.0) != 0.0:
            value += book.held[j] * book.last_close[j]
    row = inp.weights[t]
    if np.isnan(row).all():
        return value
    equity = book.cash + value
    for j in range(len(inp.symbols)):
        w = float(row[j])
        if math.isnan(w):
            continue
        mark = book.last_close.get(j, math.nan)
        if math.isnan(mark) or mark <= 0.0:
            book.orders[j] = 0.0
            continue
        target = rules.apply_lot(w * equity / mark, float(cfg.lot_size), cfg.integer_shares)
        book.orders[j] = target - book.held.get(j, 0.0)
    return value


def verify_raw(inputs: BacktestInputs, config: BacktestConfig, rates: DailyRates | None = None) -> RawRun:
    """The reference run as the same arrays :func:`earnest.backtest.engine.run_raw` returns."""
    if rates is None:
        rates = config.costs.daily_rates(inputs.dates)
    n_t, n = inputs.close.shape
    ref_all = inputs.close if config.execution == "next_close" else inputs.open
    qty, price, cost = np.zeros((n_t, n)), np.full((n_t, n), np.nan), np.zeros((n_t, n))
    per_day = {k: np.zeros(n_t) for k in ("cash", "unsettled", "positions", "fees", "slippage")}
    blocked = np.zeros(n_t, dtype=np.int64)
    book = _Book(cash=float(config.initial_cash))
    for t in range(n_t):
        day = _Day()
        proceeds = _sell_all(inputs, config, rates, t, ref_all[t], book, day)
        book.cash += proceeds
        # every earlier sale has settled by now; today's proceeds have not (T+1)
        settled = rules.settle(book.cash, max(proceeds, 0.0))
        book.cash -= _buy_all(inputs, config, rates, t, ref_all[t], book, day, settled)
        for j, q, px, c in day.fills:
            qty[t, j], price[t, j], cost[t, j] = q, px, c
        per_day["cash"][t] = book.cash
        per_day["unsettled"][t] = max(proceeds, 0.0)
        per_day["positions"][t] = _close_of_day(inputs, config, t, book)
        per_day["fees"][t], per_day["slippage"][t], blocked[t] = day.fees, day.slippage, day.blocked
    return RawRun(
        qty, price, cost, per_day["cash"], per_day["unsettled"], per_day["positions"],
        per_day["fees"], per_day["slippage"], blocked,
    )  # fmt: skip


def verify_backtest(inputs: BacktestInputs, config: BacktestConfig | None = None) -> BacktestResult:
    """:func:`earnest.backtest.engine.run_backtest`, computed by the plain loop."""
    config = config or BacktestConfig()
    return result_from_raw(inputs, config, verify_raw(inputs, config))
