"""The vectorised portfolio engine: target weights -> orders -> fills -> cash, on arrays.

One numba kernel walks the sessions once; each session touches its row of every (session x
symbol) matrix (:mod:`earnest.backtest.panel` for the axis convention). Frames appear only at the
edge (:class:`BacktestResult`). :mod:`earnest.backtest.verify` is the plain reference loop the
kernel is pinned to; both share every rule (:mod:`earnest.backtest.rules`) and the cost model.

Timeline of session ``t`` (execution ``next_open``; with ``next_close`` read "close" for "open"):

1. proceeds of yesterday's sales settle (T+1): they may now pay for buys;
2. pending sells trade at the open, then pending buys, shrunk pro rata (and re-rounded to lots)
   until buys plus their costs fit in *settled* cash: today's sale proceeds cannot pay for
   today's buys;
3. positions are marked at the close (the last known close for a scrip without a bar);
4. where ``weights[t]`` has a value, the order becomes ``target - held`` with
   ``target = lot_round(weight * equity / close)``; it trades from session ``t + 1``.

An order blocked by a band lock or a missing bar retries next session (``blocked="carry"``) or is
dropped (``"cancel"``); the part of an order cut by the liquidity cap or by cash always carries
until it fills or a new decision replaces it. Long only, no leverage, one net order per scrip
per session (so a scrip's buys and sells are never pooled in one cell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, NamedTuple

import numpy as np
import polars as pl

from earnest.backtest import rules
from earnest.backtest.costs import CostModel, DailyRates, cell_costs, cost_breakdown
from earnest.backtest.panel import BacktestInputs
from earnest.core.errors import ConfigError

__all__ = ["BacktestConfig", "BacktestResult", "RawRun", "result_from_raw", "run_backtest", "run_raw"]

_MAX_SHRINK = 12
_A = np.ndarray


@dataclass(frozen=True)
class BacktestConfig:
    """How orders execute and what they cost.

    ``liquidity_cap``: the most an order may trade in a session, as a share of the scrip's ADV
    (``inf`` for none). ``slippage_bps``: price concession on every fill; ``impact_bps``: extra
    ``impact_bps * sqrt(order value / ADV)``. ``lot_size`` and ``integer_shares``: quantities are
    whole lots when true, fractional otherwise.
    """

    initial_cash: float = 10_000_000.0
    execution: Literal["next_open", "next_close"] = "next_open"
    blocked: Literal["carry", "cancel"] = "carry"
    liquidity_cap: float = 0.1
    slippage_bps: float = 5.0
    impact_bps: float = 0.0
    lot_size: int = 1
    integer_shares: bool = True
    costs: CostModel = field(default_factory=CostModel.default)

    def __post_init__(self) -> None:
        bad = (
            ("initial_cash", not self.initial_cash > 0.0, "a positive amount of rupees"),
            ("execution", self.execution not in ("next_open", "next_close"), "next_open or next_close"),
            ("blocked", self.blocked not in ("carry", "cancel"), "carry or cancel"),
            ("liquidity_cap", not self.liquidity_cap > 0.0, "a positive share of ADV (inf: no cap)"),
            ("slippage_bps", not self.slippage_bps >= 0.0, "zero or more basis points"),
            ("impact_bps", not self.impact_bps >= 0.0, "zero or more basis points"),
            ("lot_size", not self.lot_size >= 1, "one share or more"),
        )
        for name, wrong, expected in bad:
            if wrong:
                raise ConfigError(
                    f"backtest {name} = {getattr(self, name)!r} is invalid",
                    remedy=f"use {expected}",
                    field=name,
                )


class RawRun(NamedTuple):
    """What an engine computes, as arrays. Per cell (T, N): ``qty`` (signed shares filled),
    ``price`` (fill price, NaN without a fill), ``cost`` (fees and taxes of the cell). Per session
    (T,): ``cash`` (all cash, unsettled included), ``unsettled`` (sale proceeds awaiting T+1),
    ``positions`` (value at the close), ``fees``, ``slippage`` (rupees lost to slippage), and
    ``blocked`` (orders that could not trade: band lock or no bar)."""

    qty: np.ndarray
    price: np.ndarray
    cost: np.ndarray
    cash: np.ndarray
    unsettled: np.ndarray
    positions: np.ndarray
    fees: np.ndarray
    slippage: np.ndarray
    blocked: np.ndarray


class _Run(NamedTuple):
    """Scalars the kernel threads through its stages (numba-friendly)."""

    carry: bool
    cap: float
    slip_bps: float
    impact_bps: float
    lot: float
    integer: bool


@rules.jit
def _sells(
    t: int,
    ref: _A,
    lower: _A,
    upper: _A,
    adv: _A,
    rates: DailyRates,
    p: _Run,
    shares: _A,
    pending: _A,
    out_qty: _A,
    out_px: _A,
    out_cost: _A,
) -> tuple[float, float, float, int]:
    """Session ``t``'s sells; returns (proceeds net of costs, fees, slippage, blocked count)."""
    net = fees = slip = 0.0
    blocked = 0
    for j in range(shares.shape[0]):
        if pending[j] >= 0.0:
            continue
        want = min(-pending[j], shares[j])
        if want <= 0.0:
            pending[j] = 0.0
            continue
        ref_px = ref[t, j]
        if rules.sell_blocked(ref_px, lower[t, j]):
            blocked += 1
            if not p.carry:
                pending[j] = 0.0
            continue
        q = rules.liquidity_qty(want, ref_px, adv[t, j], p.cap, p.lot, p.integer)
        if q <= 0.0:
            continue
        s = rules.slippage_fraction(q * ref_px, adv[t, j], p.slip_bps, p.impact_bps)
        px = rules.sell_fill_price(ref_px, s, lower[t, j], upper[t, j])
        value = q * px
        c = cell_costs(rates, t, 0.0, value)
        shares[j] -= q
        pending[j] = 0.0 if shares[j] <= 0.0 else pending[j] + q
        out_qty[t, j], out_px[t, j], out_cost[t, j] = -q, px, c
        net += value - c
        fees += c
        slip += q * (ref_px - px)
    return net, fees, slip, blocked


@rules.jit
def _buy_total(
    t: int, ref: _A, lower: _A, upper: _A, adv: _A, rates: DailyRates, p: _Run, want: _A, scale: float
) -> float:
    """Rupees that session ``t``'s buys, shrunk by ``scale``, cost with their fees."""
    total = 0.0
    for j in range(want.shape[0]):
        if want[j] <= 0.0:
            continue
        q = rules.apply_lot(want[j] * scale, p.lot, p.integer)
        if q <= 0.0:
            continue
        s = rules.slippage_fraction(q * ref[t, j], adv[t, j], p.slip_bps, p.impact_bps)
        value = q * rules.buy_fill_price(ref[t, j], s, lower[t, j], upper[t, j])
        total += value + cell_costs(rates, t, value, 0.0)
    return total


@rules.jit
def _buys(
    t: int,
    ref: _A,
    lower: _A,
    upper: _A,
    adv: _A,
    rates: DailyRates,
    p: _Run,
    avail: float,
    shares: _A,
    pending: _A,
    mark: _A,
    want: _A,
    out_qty: _A,
    out_px: _A,
    out_cost: _A,
) -> tuple[float, float, float, int]:
    """Session ``t``'s buys within ``avail`` settled cash; returns (spent, fees, slippage, blocked)."""
    blocked = 0
    for j in range(shares.shape[0]):
        want[j] = 0.0
        if pending[j] <= 0.0:
            continue
        if rules.buy_blocked(ref[t, j], upper[t, j]):
            blocked += 1
            if not p.carry:
                pending[j] = 0.0
            continue
        want[j] = rules.liquidity_qty(pending[j], ref[t, j], adv[t, j], p.cap, p.lot, p.integer)
    scale = 1.0
    for it in range(_MAX_SHRINK):
        total = _buy_total(t, ref, lower, upper, adv, rates, p, want, scale)
        if total <= avail:
            break
        scale = scale * rules.buy_scale(total, avail) if it < _MAX_SHRINK - 1 else 0.0
    spent = fees = slip = 0.0
    for j in range(shares.shape[0]):
        if want[j] <= 0.0:
            continue
        q = rules.apply_lot(want[j] * scale, p.lot, p.integer)
        if q <= 0.0:
            continue
        ref_px = ref[t, j]
        s = rules.slippage_fraction(q * ref_px, adv[t, j], p.slip_bps, p.impact_bps)
        px = rules.buy_fill_price(ref_px, s, lower[t, j], upper[t, j])
        value = q * px
        c = cell_costs(rates, t, value, 0.0)
        shares[j] += q
        pending[j] -= q
        if math.isnan(mark[j]):
            mark[j] = px
        out_qty[t, j], out_px[t, j], out_cost[t, j] = q, px, c
        spent += value + c
        fees += c
        slip += q * (px - ref_px)
    return spent, fees, slip, blocked


@rules.jit
def _mark_and_decide(
    t: int, close: _A, weights: _A, p: _Run, cash: float, shares: _A, pending: _A, mark: _A
) -> float:
    """Marks positions at ``t``'s close (returns their value) and turns ``weights[t]`` into orders."""
    value = 0.0
    decide = False
    for j in range(shares.shape[0]):
        if not math.isnan(close[t, j]):
            mark[j] = close[t, j]
        if shares[j] != 0.0:
            value += shares[j] * mark[j]
        if not math.isnan(weights[t, j]):
            decide = True
    if decide:
        equity = cash + value
        for j in range(shares.shape[0]):
            w = weights[t, j]
            if math.isnan(w):
                continue
            if math.isnan(mark[j]) or mark[j] <= 0.0:
                pending[j] = 0.0
                continue
            pending[j] = rules.apply_lot(w * equity / mark[j], p.lot, p.integer) - shares[j]
    return value


@rules.jit
def _kernel(
    open_: _A,
    close: _A,
    lower: _A,
    upper: _A,
    adv: _A,
    weights: _A,
    rates: DailyRates,
    p: _Run,
    cash0: float,
    at_close: bool,
) -> tuple[_A, _A, _A, _A, _A]:
    n_t, n = close.shape
    ref = close if at_close else open_
    out_qty = np.zeros((n_t, n))
    out_px = np.full((n_t, n), np.nan)
    out_cost = np.zeros((n_t, n))
    per_day = np.zeros((5, n_t))
    blocked = np.zeros(n_t, dtype=np.int64)
    shares, pending, want = np.zeros(n), np.zeros(n), np.zeros(n)
    mark = np.full(n, np.nan)
    cash = cash0
    for t in range(n_t):
        n_sell = n_buy = 0
        for j in range(n):
            if pending[j] < 0.0:
                n_sell += 1
            elif pending[j] > 0.0:
                n_buy += 1
        net = f1 = s1 = spent = f2 = s2 = 0.0
        b1 = b2 = 0
        if n_sell:  # sessions without orders skip the order stages (and their call overhead)
            net, f1, s1, b1 = _sells(
                t, ref, lower, upper, adv, rates, p, shares, pending, out_qty, out_px, out_cost
            )
        cash += net
        # settled cash: yesterday's proceeds have settled, today's have not (T+1)
        avail = rules.settle(cash, max(net, 0.0))
        if n_buy:
            spent, f2, s2, b2 = _buys(
                t,
                ref,
                lower,
                upper,
                adv,
                rates,
                p,
                avail,
                shares,
                pending,
                mark,
                want,
                out_qty,
                out_px,
                out_cost,
            )
        cash -= spent
        per_day[0, t] = cash
        per_day[1, t] = max(net, 0.0)
        per_day[2, t] = _mark_and_decide(t, close, weights, p, cash, shares, pending, mark)
        per_day[3, t] = f1 + f2
        per_day[4, t] = s1 + s2
        blocked[t] = b1 + b2
    return out_qty, out_px, out_cost, per_day, blocked


def _params(config: BacktestConfig) -> _Run:
    return _Run(
        carry=config.blocked == "carry",
        cap=float(config.liquidity_cap),
        slip_bps=float(config.slippage_bps),
        impact_bps=float(config.impact_bps),
        lot=float(config.lot_size),
        integer=bool(config.integer_shares),
    )


def run_raw(inputs: BacktestInputs, config: BacktestConfig, rates: DailyRates | None = None) -> RawRun:
    """The kernel's arrays (no frames): what :func:`run_backtest` and the parity tests read."""
    if rates is None:
        rates = config.costs.daily_rates(inputs.dates)
    qty, px, cost, per_day, blocked = _kernel(
        inputs.open,
        inputs.close,
        inputs.lower,
        inputs.upper,
        inputs.adv,
        inputs.weights,
        rates,
        _params(config),
        float(config.initial_cash),
        config.execution == "next_close",
    )
    return RawRun(qty, px, cost, per_day[0], per_day[1], per_day[2], per_day[3], per_day[4], blocked)


class BacktestResult:
    """A backtest's outcome: the engine's arrays (``raw``), with frames built on first access.

    ``daily``: one row per session with ``equity`` (= ``cash`` + ``positions_value``), ``cash``,
    ``settled_cash`` (cash less proceeds awaiting T+1), ``gross_return`` (before fees, taxes and
    slippage), ``net_return``, ``costs`` (fees and taxes), ``slippage``, ``turnover`` (one-way:
    half the traded value over the previous equity), ``exposure`` (positions over equity) and
    ``blocked``. ``costs``: rupees per session per cost component, plus ``slippage``. ``fills``:
    one row per fill (date, symbol, side, qty, price, value, cost). ``blocked_orders``: order
    attempts that met a band lock or a missing bar; ``cancelled_orders``: those dropped for it
    (``blocked="cancel"``).
    """

    def __init__(self, inputs: BacktestInputs, config: BacktestConfig, raw: RawRun) -> None:
        self.inputs = inputs
        self.config = config
        self.raw = raw
        self.blocked_orders = int(raw.blocked.sum())
        self.cancelled_orders = self.blocked_orders if config.blocked == "cancel" else 0

    @cached_property
    def daily(self) -> pl.DataFrame:
        raw, dates = self.raw, self.inputs.dates
        equity = raw.cash + raw.positions
        prev = np.concatenate([[self.config.initial_cash], equity[:-1]])
        traded = (np.abs(raw.qty) * np.nan_to_num(raw.price)).sum(axis=1)
        return pl.DataFrame(
            {
                "date": dates,
                "equity": equity,
                "cash": raw.cash,
                "settled_cash": raw.cash - raw.unsettled,
                "positions_value": raw.positions,
                "gross_return": (equity + raw.fees + raw.slippage) / prev - 1.0,
                "net_return": equity / prev - 1.0,
                "costs": raw.fees,
                "slippage": raw.slippage,
                "turnover": traded / 2.0 / prev,
                "exposure": raw.positions / equity,
                "blocked": raw.blocked,
            }
        )

    @cached_property
    def costs(self) -> pl.DataFrame:
        raw = self.raw
        traded = np.abs(raw.qty) * np.nan_to_num(raw.price)
        buy_v = np.where(raw.qty > 0, traded, 0.0)
        sell_v = np.where(raw.qty < 0, traded, 0.0)
        parts = cost_breakdown(self.config.costs, self.inputs.dates, buy_v, sell_v)
        sums = {k: np.asarray(v).sum(axis=1) for k, v in parts.items()}
        return pl.DataFrame({"date": self.inputs.dates, **sums, "slippage": raw.slippage})

    @cached_property
    def fills(self) -> pl.DataFrame:
        raw, inputs = self.raw, self.inputs
        t, j = np.nonzero(raw.qty)
        q = raw.qty[t, j]
        px = raw.price[t, j]
        return pl.DataFrame(
            {
                "date": inputs.dates[t],
                "symbol": pl.Series(np.asarray(inputs.symbols, dtype=object)[j], dtype=pl.Utf8),
                "side": np.where(q > 0, "buy", "sell"),
                "qty": np.abs(q),
                "price": px,
                "value": np.abs(q) * px,
                "cost": raw.cost[t, j],
            }
        )


def result_from_raw(inputs: BacktestInputs, config: BacktestConfig, raw: RawRun) -> BacktestResult:
    """The result of a run (shared by both engines)."""
    return BacktestResult(inputs, config, raw)


def run_backtest(
    inputs: BacktestInputs, config: BacktestConfig | None = None, *, rates: DailyRates | None = None
) -> BacktestResult:
    """Backtest ``inputs``' target weights under ``config`` (defaults: full Indian costs).

    ``rates``: ``config.costs.daily_rates(inputs.dates)``, when the caller already has them
    (many runs over one calendar).
    """
    config = config or BacktestConfig()
    return result_from_raw(inputs, config, run_raw(inputs, config, rates))
