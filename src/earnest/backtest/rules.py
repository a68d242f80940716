"""Trading rules shared by the vectorised engine and the plain verification loop.

Every helper here is a small numba ``njit`` function on scalars, so the kernel in
:mod:`earnest.backtest.engine` calls it compiled and :mod:`earnest.backtest.verify` calls the very
same rule from Python: the two engines can differ in their loops and bookkeeping, never in a rule.

Conventions (REFERENCES.md section 2, NSE price bands):

- **Band lock.** A buy is *blocked* when its reference price (the session's open or close, before
  slippage) is at or above the day's upper band: the scrip is locked at the upper circuit and
  sellers are absent. A sell is blocked at or below the lower band. A NaN band means "No Band".
  A NaN reference price means no bar that day: the order cannot trade either.
- **Fill price.** The reference price moved against the trader by the slippage fraction, then
  clamped into ``[lower, upper]``: an order outside the band is rejected by the exchange, so no
  fill is ever outside the band.
- **Slippage.** ``slippage_bps / 1e4 + impact_bps / 1e4 * sqrt(order value / ADV)`` (a square-root
  impact term, zero by default).
- **Liquidity cap.** An order trades at most ``cap * ADV`` of value in a session (ADV = average
  daily traded value known before the session); a NaN or non-positive ADV means "unknown" and
  the order is not capped.
- **Lots.** Quantities are rounded towards zero to whole lots when ``integer`` is true.
- **T+1.** Sale proceeds (net of the sale's costs) settle the next session: buys on the day of a
  sale can spend only cash that had settled before the session began
  (:func:`settle`, :func:`buy_scale`).

Numba caches compiled code on disk (``__pycache__``) keyed on each *caller's* source file: after
editing this module or :mod:`earnest.backtest.costs`, delete the ``engine.*.nbi``/``.nbc`` cache
files (or touch ``engine.py``), else the kernel keeps the old rule. The parity property test
catches a stale kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = [
    "apply_lot",
    "buy_blocked",
    "buy_fill_price",
    "buy_scale",
    "liquidity_qty",
    "sell_blocked",
    "sell_fill_price",
    "settle",
    "slippage_fraction",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def jit(fn: _F) -> _F:
    """``numba.njit`` (cached on disk) that keeps the function's type for mypy."""
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


@jit
def buy_blocked(ref_price: float, upper: float) -> bool:
    """True when a buy cannot trade: no bar (NaN price) or locked at the upper band."""
    if math.isnan(ref_price) or ref_price <= 0.0:
        return True
    return (not math.isnan(upper)) and ref_price >= upper


@jit
def sell_blocked(ref_price: float, lower: float) -> bool:
    """True when a sell cannot trade: no bar (NaN price) or locked at the lower band."""
    if math.isnan(ref_price) or ref_price <= 0.0:
        return True
    return (not math.isnan(lower)) and ref_price <= lower


@jit
def slippage_fraction(order_value: float, adv: float, slippage_bps: float, impact_bps: float) -> float:
    """Fraction of the price lost to slippage for an order of ``order_value`` (see module doc)."""
    frac = slippage_bps * 1e-4
    if impact_bps > 0.0 and adv > 0.0 and not math.isnan(adv):
        frac += impact_bps * 1e-4 * math.sqrt(order_value / adv)
    return frac


@jit
def buy_fill_price(ref_price: float, slip: float, lower: float, upper: float) -> float:
    """The price a buy fills at: ``ref * (1 + slip)`` clamped into the day's band."""
    px = ref_price * (1.0 + slip)
    if not math.isnan(upper) and px > upper:
        px = upper
    if not math.isnan(lower) and px < lower:
        px = lower
    return px


@jit
def sell_fill_price(ref_price: float, slip: float, lower: float, upper: float) -> float:
    """The price a sell fills at: ``ref * (1 - slip)`` clamped into the day's band."""
    px = ref_price * (1.0 - slip)
    if not math.isnan(lower) and px < lower:
        px = lower
    if not math.isnan(upper) and px > upper:
        px = upper
    return px


@jit
def apply_lot(qty: float, lot: float, integer: bool) -> float:
    """``qty`` (non-negative) rounded down to whole lots when ``integer``; else unchanged."""
    if not integer:
        return qty
    return math.floor(qty / lot + 1e-9) * lot


@jit
def liquidity_qty(qty: float, ref_price: float, adv: float, cap: float, lot: float, integer: bool) -> float:
    """``qty`` (non-negative) limited so that its value is at most ``cap * adv`` (see module doc)."""
    if cap <= 0.0 or math.isinf(cap) or math.isnan(adv) or adv <= 0.0:
        return qty
    most = apply_lot(cap * adv / ref_price, lot, integer)
    return qty if qty <= most else most


@jit
def settle(cash: float, unsettled: float) -> float:
    """Cash that may be spent on buys: total cash less proceeds still awaiting T+1 settlement."""
    free = cash - unsettled
    return free if free > 0.0 else 0.0


@jit
def buy_scale(needed: float, available: float) -> float:
    """Factor (at most 1) by which every buy of a session shrinks so that buys and their costs
    fit in ``available`` settled cash."""
    if needed <= available or needed <= 0.0:
        return 1.0
    return available / needed
