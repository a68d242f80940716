"""Indian transaction costs from a dated schedule (issue 7).

The rates are data: ``schedules/india_equity.toml`` lists every statutory and exchange charge
(STT, exchange transaction charge with IPFT, SEBI fee, stamp duty, GST, DP charge) as dated
entries with their source and confidence; :func:`load_schedule` checks that each series covers
the schedule without gaps or overlaps. A :class:`CostModel` picks one segment (delivery,
intraday, futures, options), one exchange and a broker, and turns the schedule into plain
per-date arrays (:class:`DailyRates`) that numba kernels can read.

Unit of costing: a **cell** is one scrip on one day. The contract note pools the day's buys and
sells of a scrip, so a cell has a bought value and a sold value (rupees, >= 0):

- brokerage: per executed order, ``clip(rate * value, min, cap)``; a cell has at most one buy
  order and one sell order (a zero value is no order and costs nothing);
- STT: ``stt_buy * buy + stt_sell * sell``, rounded to the rupee per cell (half up) when
  ``round_stt``; every other line is exact (REFERENCES.md: reference totals are exact sums);
- exchange charge and SEBI fee: on both legs; stamp duty: on the buy leg;
- GST: on brokerage + exchange charge + SEBI fee only, never on STT or stamp duty;
- DP charge: once per cell that sells (per scrip per sell day), delivery only.

:func:`cell_costs` (numba) gives a cell's total; :func:`cost_breakdown` (NumPy) gives every
component for a days x symbols panel; both compute the same formula and a test pins them.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from numba import njit

from earnest.backtest.cost_schedule import (
    COMPONENT_RULES,
    EXCHANGES,
    SEGMENTS,
    CostAssumptionWarning,
    CostScheduleError,
    Exchange,
    RateEntry,
    Schedule,
    Segment,
    default_schedule,
    load_schedule,
    to_days,
)
from earnest.core.errors import DataError

FloatArray = npt.NDArray[np.float64]
COMPONENTS: tuple[str, ...] = ("brokerage", "stt", "exchange", "sebi", "stamp", "gst", "dp")
"""The cost lines of a breakdown, in contract-note order (``dp`` is posted to the ledger)."""
_ROUND_EPS = 1e-6  # STT within a micro-rupee below n.5 still rounds up (float noise)


@dataclass(frozen=True, slots=True)
class Brokerage:
    """Brokerage per executed order: ``clip(rate * order value, min_inr, cap_inr)``; no order, no fee."""

    rate: float = 0.0
    cap_inr: float = math.inf
    min_inr: float = 0.0

    def __post_init__(self) -> None:
        if not (self.rate >= 0 and self.min_inr >= 0 and self.cap_inr >= self.min_inr):
            raise CostScheduleError(
                f"brokerage {self} is invalid",
                remedy="rate and min_inr must be >= 0 and cap_inr >= min_inr",
                field="broker",
            )


_FREE = Brokerage()
BROKER_PRESETS: dict[str, dict[str, Brokerage]] = {
    # Zerodha's published tariff (REFERENCES §1): delivery free, intraday/futures min(0.03 %, Rs 20),
    # options Rs 20 flat per executed order. Not dated: the tariff's history is not in REFERENCES.
    "zerodha": {
        "delivery": _FREE,
        "intraday": Brokerage(rate=0.0003, cap_inr=20.0),
        "futures": Brokerage(rate=0.0003, cap_inr=20.0),
        "options": Brokerage(rate=0.0, cap_inr=20.0, min_inr=20.0),
    },
    # ILLUSTRATIVE ASSUMPTION, not any broker's tariff: a typical full-service shape
    # (0.5 % delivery, 0.05 % intraday/futures with a Rs 25 minimum, Rs 100 per options order).
    "full_service": {
        "delivery": Brokerage(rate=0.005, min_inr=25.0),
        "intraday": Brokerage(rate=0.0005, min_inr=25.0),
        "futures": Brokerage(rate=0.0005, min_inr=25.0),
        "options": Brokerage(rate=0.0, cap_inr=100.0, min_inr=100.0),
    },
    "none": dict.fromkeys(SEGMENTS, _FREE),
}


class DailyRates(NamedTuple):
    """Per-date cost rates for one model: every field is a float64 array with one value per date.

    Fractions are of the leg value; ``dp_per_sell_scrip`` and the brokerage cap/min are rupees;
    ``stt_round`` is 1.0 when STT is rounded to the rupee per cell, else 0.0.
    """

    stt_buy: FloatArray
    stt_sell: FloatArray
    exchange: FloatArray
    sebi: FloatArray
    stamp_buy: FloatArray
    gst: FloatArray
    dp_per_sell_scrip: FloatArray
    brokerage_pct: FloatArray
    brokerage_cap: FloatArray
    brokerage_min: FloatArray
    stt_round: FloatArray


# ---------------------------------------------------------------- the model


_RATES_CACHE_SIZE = 8


@dataclass(frozen=True, kw_only=True)
class CostModel:
    """Costs for one segment on one exchange with one broker, from a dated schedule.

    ``broker`` is a preset name (``zerodha``, ``full_service`` (illustrative), ``none``) or a
    custom :class:`Brokerage`; ``dp_charge`` adds the DP charge on delivery sells; ``round_stt``
    rounds STT to the rupee per scrip per day as contract notes do.
    """

    schedule: Schedule = field(default_factory=default_schedule)
    broker: str | Brokerage = "zerodha"
    segment: Segment = "delivery"
    exchange: Exchange = "NSE"
    dp_charge: bool = True
    round_stt: bool = True

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise CostScheduleError(
                f"unknown segment {self.segment!r}", remedy=f"use one of {SEGMENTS}", field="segment"
            )
        if self.exchange not in EXCHANGES:
            raise CostScheduleError(
                f"unknown exchange {self.exchange!r}", remedy=f"use one of {EXCHANGES}", field="exchange"
            )
        if isinstance(self.broker, str) and self.broker not in BROKER_PRESETS:
            raise CostScheduleError(
                f"unknown broker preset {self.broker!r}",
                remedy=f"use one of {sorted(BROKER_PRESETS)} or a Brokerage",
                field="broker",
            )

    @classmethod
    def default(cls) -> CostModel:
        """NSE delivery with Zerodha, DP charge on and STT rounded: what a backtest uses unless told."""
        return cls()

    @classmethod
    def zero(cls) -> CostModel:
        """A model where every cost is zero (for tests and gross-of-costs runs)."""
        return cls(schedule=Schedule.zero(), broker="none", dp_charge=False, round_stt=False)

    @property
    def brokerage(self) -> Brokerage:
        """The brokerage that applies to this model's segment."""
        return (
            self.broker if isinstance(self.broker, Brokerage) else BROKER_PRESETS[self.broker][self.segment]
        )

    def _rates(self, days: Any) -> tuple[dict[str, tuple[Any, Any]], list[RateEntry]]:
        """Each component's (buy, sell) rate arrays on ``days`` and the schedule entries used.

        Remembered for the last few date ranges (a model is immutable, and a backtest asks for the
        same sessions on every run); the arrays are read-only."""
        cache: dict[bytes, tuple[dict[str, tuple[Any, Any]], list[RateEntry]]] = self.__dict__.setdefault(
            "_rates_cache", {}
        )
        key = np.ascontiguousarray(days, dtype="datetime64[D]").tobytes()
        hit = cache.get(key)
        if hit is not None:
            return hit
        out: dict[str, tuple[Any, Any]] = {}
        used: list[RateEntry] = []
        for comp in COMPONENT_RULES:
            if comp == "dp" and not self.dp_charge:
                continue
            buy, sell, entries = self.schedule.rates(comp, self.segment, self.exchange, days)
            buy.setflags(write=False)
            sell.setflags(write=False)
            out[comp] = (buy, sell)
            used += entries
        if len(cache) >= _RATES_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = (out, used)
        return out, used

    def assumptions(self, dates: Any) -> list[RateEntry]:
        """The schedule entries with confidence 'assumption' that these dates rely on."""
        return [e for e in self._rates(to_days(dates))[1] if e.confidence == "assumption"]

    def daily_rates(self, dates: Any) -> DailyRates:
        """Every component's rate on each date (datetime64[D] array), for the kernels.

        Warns with :class:`CostAssumptionWarning` naming each assumed entry the dates rely on.
        """
        days = to_days(dates)
        n = len(days)
        rates, used = self._rates(days)
        stt_buy, stt_sell = rates["stt"]
        exchange, sebi, stamp, gst = (rates[c][0] for c in ("exchange", "sebi", "stamp", "gst"))
        dp = rates["dp"][1] if self.dp_charge else np.zeros(n)
        assumed = [e for e in used if e.confidence == "assumption"]
        if assumed:
            notes = "; ".join(f"{e.label()}: {e.note or e.source}" for e in assumed)
            warnings.warn(f"costs rest on assumed rates: {notes}", CostAssumptionWarning, stacklevel=2)
        b = self.brokerage
        return DailyRates(
            stt_buy=stt_buy,
            stt_sell=stt_sell,
            exchange=exchange,
            sebi=sebi,
            stamp_buy=stamp,
            gst=gst,
            dp_per_sell_scrip=dp,
            brokerage_pct=np.full(n, b.rate),
            brokerage_cap=np.full(n, b.cap_inr),
            brokerage_min=np.full(n, b.min_inr),
            stt_round=np.full(n, 1.0 if self.round_stt else 0.0),
        )


# ---------------------------------------------------------------- kernels


@njit(cache=True)
def _order_fee(rate: float, cap: float, floor_: float, value: float) -> float:
    if value <= 0.0:
        return 0.0
    return min(max(rate * value, floor_), cap)


@njit(cache=True)
def cell_costs(rates: DailyRates, day_index: int, buy_value: float, sell_value: float) -> float:
    """Total cost (rupees) of one scrip's buys and sells on one day; values are >= 0 rupees."""
    i = day_index
    brokerage = _order_fee(rates.brokerage_pct[i], rates.brokerage_cap[i], rates.brokerage_min[i], buy_value)
    brokerage += _order_fee(
        rates.brokerage_pct[i], rates.brokerage_cap[i], rates.brokerage_min[i], sell_value
    )
    stt = rates.stt_buy[i] * buy_value + rates.stt_sell[i] * sell_value
    if rates.stt_round[i] > 0.0:
        stt = float(math.floor(stt + 0.5 + _ROUND_EPS))
    turnover = buy_value + sell_value
    exchange = rates.exchange[i] * turnover
    sebi = rates.sebi[i] * turnover
    stamp = rates.stamp_buy[i] * buy_value
    gst = rates.gst[i] * (brokerage + exchange + sebi)
    dp = rates.dp_per_sell_scrip[i] if sell_value > 0.0 else 0.0
    return float(brokerage + stt + exchange + sebi + stamp + gst + dp)


def _checked_values(values: Any, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(
            f"{name} must be 2-D (days x symbols), got shape {arr.shape}",
            field=name,
            remedy="pass one row per date and one column per symbol",
        )
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise DataError(
            f"{name} must be finite and >= 0 rupees",
            field=name,
            remedy="pass traded values (0 for no trade), never NaN or negative",
        )
    return arr


def cost_breakdown(model: CostModel, dates: Any, buy_value: Any, sell_value: Any) -> dict[str, FloatArray]:
    """Each cost component (rupees) per cell of a days x symbols panel of bought and sold values.

    Returns ``{component: array}`` for every name in :data:`COMPONENTS`; their sum per cell equals
    :func:`cell_costs` on the same cell.
    """
    buy = _checked_values(buy_value, "buy_value")
    sell = _checked_values(sell_value, "sell_value")
    days = to_days(dates)
    if buy.shape != sell.shape or buy.shape[0] != len(days):
        raise DataError(
            f"shapes differ: dates {days.shape}, buy {buy.shape}, sell {sell.shape}",
            field="buy_value",
            remedy="pass one row per date in both panels",
        )
    r = model.daily_rates(days)
    col = {name: getattr(r, name)[:, None] for name in r._fields}

    def fee(value: FloatArray) -> FloatArray:
        fees = np.minimum(
            np.maximum(col["brokerage_pct"] * value, col["brokerage_min"]), col["brokerage_cap"]
        )
        return np.where(value > 0.0, fees, 0.0)

    brokerage = fee(buy) + fee(sell)
    stt = col["stt_buy"] * buy + col["stt_sell"] * sell
    stt = np.where(col["stt_round"] > 0.0, np.floor(stt + 0.5 + _ROUND_EPS), stt)
    turnover = buy + sell
    exchange = col["exchange"] * turnover
    sebi = col["sebi"] * turnover
    return {
        "brokerage": brokerage,
        "stt": stt,
        "exchange": exchange,
        "sebi": sebi,
        "stamp": col["stamp_buy"] * buy,
        "gst": col["gst"] * (brokerage + exchange + sebi),
        "dp": np.where(sell > 0.0, col["dp_per_sell_scrip"], 0.0),
    }


# ---------------------------------------------------------------- for humans


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A round trip's costs in rupees, one field per component."""

    brokerage: float
    stt: float
    exchange: float
    sebi: float
    stamp: float
    gst: float
    dp: float

    @property
    def total(self) -> float:
        """All components added up (rupees)."""
        return self.brokerage + self.stt + self.exchange + self.sebi + self.stamp + self.gst + self.dp

    def as_dict(self) -> dict[str, float]:
        """Components and total as a plain mapping."""
        return {**{c: float(getattr(self, c)) for c in COMPONENTS}, "total": self.total}


def round_trip(
    model: CostModel,
    qty: float,
    buy_price: float,
    sell_price: float,
    *,
    date: dt.date | str | np.datetime64,
    intraday: bool = False,
) -> Breakdown:
    """Costs of buying ``qty`` at ``buy_price`` and selling it at ``sell_price`` at ``date``'s rates.

    Intraday (``intraday=True`` on an equity model, or an intraday model) pools both legs in one
    cell (one contract note, STT rounded once); otherwise the buy and the sell are separate days,
    each its own cell (the sell pays the DP charge). Both legs use ``date``'s rates.
    """
    if not (qty > 0 and buy_price > 0 and sell_price > 0):
        raise DataError(
            f"qty {qty}, buy_price {buy_price}, sell_price {sell_price} must all be > 0",
            field="qty",
            remedy="pass a positive quantity and prices",
        )
    if intraday and model.segment not in ("delivery", "intraday"):
        raise CostScheduleError(
            f"intraday applies to equity, not {model.segment}",
            field="segment",
            remedy="use a delivery or intraday model",
        )
    if intraday or model.segment == "intraday":
        model = replace(model, segment="intraday")
    buy, sell = qty * buy_price, qty * sell_price
    days = to_days([date, date])
    if model.segment == "intraday":
        panel_buy, panel_sell = np.array([[buy], [0.0]]), np.array([[sell], [0.0]])
    else:
        panel_buy, panel_sell = np.array([[buy], [0.0]]), np.array([[0.0], [sell]])
    parts = cost_breakdown(model, days, panel_buy, panel_sell)
    return Breakdown(**{c: float(parts[c].sum()) for c in COMPONENTS})


__all__ = [
    "BROKER_PRESETS",
    "COMPONENTS",
    "EXCHANGES",
    "SEGMENTS",
    "Breakdown",
    "Brokerage",
    "CostAssumptionWarning",
    "CostModel",
    "CostScheduleError",
    "DailyRates",
    "RateEntry",
    "Schedule",
    "cell_costs",
    "cost_breakdown",
    "default_schedule",
    "load_schedule",
    "round_trip",
]
