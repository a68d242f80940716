"""The dated cost schedule: rate entries with sources, validated on load (issue 7).

A schedule TOML (``schedules/india_equity.toml``) lists, per component (``stt``, ``exchange``,
``sebi``, ``stamp``, ``gst``, ``dp``), dated entries ``{from, to, rate, basis, segment, exchange,
unit, source, confidence, note}``. Within one (component, segment, exchange) the entries must run
from the schedule's ``meta.start`` without gaps or overlaps (``to`` inclusive; the last may be
open). :meth:`Schedule.rates` turns a series into per-date buy-side and sell-side rates.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast, get_args

import numpy as np
import numpy.typing as npt

from earnest.core.errors import ConfigError, DataError

Segment = Literal["delivery", "intraday", "futures", "options"]
Exchange = Literal["NSE", "BSE"]
Basis = Literal["buy", "sell", "both"]
Confidence = Literal["official", "broker", "unverified", "assumption"]
FloatArray = npt.NDArray[np.float64]

SEGMENTS: tuple[str, ...] = get_args(Segment)
EXCHANGES: tuple[str, ...] = get_args(Exchange)


# component -> (unit, allowed bases, required for every segment)
COMPONENT_RULES: dict[str, tuple[str, frozenset[str], bool]] = {
    "stt": ("fraction", frozenset({"buy", "sell", "both"}), True),
    "exchange": ("fraction", frozenset({"both"}), True),
    "sebi": ("fraction", frozenset({"both"}), True),
    "stamp": ("fraction", frozenset({"buy"}), True),
    "gst": ("fraction_of_fees", frozenset({"both"}), True),
    "dp": ("inr_per_scrip_day", frozenset({"sell"}), False),
}


class CostScheduleError(ConfigError):
    """A cost schedule or a cost model option is invalid, or has no rate for a date."""


class CostAssumptionWarning(UserWarning):
    """Costs for some dates rest on an assumed rate (no source for that period)."""


@dataclass(frozen=True, slots=True)
class RateEntry:
    """One dated rate of one component for one segment and exchange (``to`` inclusive, None = open)."""

    component: str
    start: dt.date
    end: dt.date | None
    rate: float
    basis: Basis
    segment: Segment
    exchange: str
    unit: str
    source: str
    confidence: Confidence
    note: str = ""
    index: int = 0  # position of the entry in its component's list in the TOML (for messages)

    def label(self) -> str:
        """How an error or warning names this entry."""
        end = self.end.isoformat() if self.end else "open"
        return f"{self.component}[{self.index}] ({self.segment} {self.exchange} {self.start}..{end})"


@functools.lru_cache(maxsize=256)
def _arrays(
    series: tuple[RateEntry, ...],
) -> tuple[npt.NDArray[np.datetime64], FloatArray, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(start dates, rates, applies to buys, applies to sells) of a series, computed once per series
    (entries are frozen and hashable)."""
    starts = np.array([e.start for e in series], dtype="datetime64[D]")
    rate = np.array([e.rate for e in series], dtype=np.float64)
    buy = np.array([e.basis in ("buy", "both") for e in series])
    sell = np.array([e.basis in ("sell", "both") for e in series])
    return starts, rate, buy, sell


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated dated schedule: entries grouped per (component, segment, exchange), in date order."""

    name: str
    start: dt.date
    entries: tuple[RateEntry, ...]
    source: str = "<memory>"

    def series(self, component: str, segment: str, exchange: str) -> tuple[RateEntry, ...]:
        """The dated entries that apply to a component on one segment and exchange (may be empty)."""
        own = tuple(
            e for e in self.entries if (e.component, e.segment, e.exchange) == (component, segment, exchange)
        )
        if own:
            return own
        return tuple(
            e for e in self.entries if (e.component, e.segment, e.exchange) == (component, segment, "any")
        )

    def rates(
        self, component: str, segment: str, exchange: str, days: npt.NDArray[np.datetime64]
    ) -> tuple[FloatArray, FloatArray, list[RateEntry]]:
        """(buy-side rate, sell-side rate, entries used) of one component on each day.

        An optional component with no series gives zeros; a required one raises, and so does a
        day outside the series' dates.
        """
        series = self.series(component, segment, exchange)
        n = len(days)
        if not series:
            if COMPONENT_RULES[component][2]:
                raise CostScheduleError(
                    f"the schedule {self.name!r} has no {component} rate for {segment} on {exchange}",
                    file=self.source,
                    field=component,
                    remedy="add the series to the schedule or choose another segment/exchange",
                )
            return np.zeros(n), np.zeros(n), []
        starts, rate_of, buy_of, sell_of = _arrays(series)
        idx = np.searchsorted(starts, days, side="right") - 1
        last = series[-1]
        bad = idx < 0
        if last.end is not None:
            bad |= days > np.datetime64(last.end, "D")
        if bad.any():
            raise CostScheduleError(
                f"no {component} rate for {days[bad][0]}: the schedule covers "
                f"{series[0].start}..{last.end or 'open'}",
                file=self.source,
                field=component,
                remedy="extend the schedule or restrict the dates",
            )
        rate, buy, sell = rate_of[idx], buy_of[idx], sell_of[idx]
        present = np.zeros(len(series), dtype=bool)
        present[idx] = True  # which entries the days use (faster than np.unique on long ranges)
        used = [series[i] for i in np.flatnonzero(present)]
        return np.where(buy, rate, 0.0), np.where(sell, rate, 0.0), used

    @classmethod
    def zero(cls) -> Schedule:
        """Every required component at rate 0 for every segment (for tests and cost-free runs)."""
        start = dt.date(1900, 1, 1)
        entries = tuple(
            RateEntry(
                comp,
                start,
                None,
                0.0,
                "both" if "both" in bases else cast(Basis, min(bases)),
                cast(Segment, seg),
                "any",
                unit,
                "zero schedule",
                "official",
            )
            for comp, (unit, bases, _) in COMPONENT_RULES.items()
            for seg in SEGMENTS
        )
        return cls(name="zero", start=start, entries=entries)


# ---------------------------------------------------------------- loading and validation


def _fail(
    message: str, *, where: str, source: str, remedy: str = "fix the schedule entry"
) -> CostScheduleError:
    return CostScheduleError(message, remedy=remedy, file=source, field=where)


def _as_date(value: Any, *, where: str, key: str, source: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise _fail(f"'{key}' must be a TOML date (YYYY-MM-DD), got {value!r}", where=where, source=source)


def _parse_entry(component: str, index: int, raw: Any, *, source: str) -> list[RateEntry]:
    where = f"{component}[{index}]"
    if not isinstance(raw, Mapping):
        raise _fail("each entry must be a table", where=where, source=source)
    missing = {"from", "rate", "basis", "segment", "exchange", "unit", "source", "confidence"} - set(raw)
    if missing:
        raise _fail(f"missing keys {sorted(missing)}", where=where, source=source)
    unit, bases, _ = COMPONENT_RULES[component]
    start = _as_date(raw["from"], where=where, key="from", source=source)
    end = _as_date(raw["to"], where=where, key="to", source=source) if "to" in raw else None
    rate = raw["rate"]
    checks = [
        (end is None or end >= start, f"'to' {end} is before 'from' {start}"),
        (isinstance(rate, int | float) and math.isfinite(rate) and rate >= 0, f"rate {rate!r} must be >= 0"),
        (raw["basis"] in bases, f"basis {raw['basis']!r} is not one of {sorted(bases)} for {component}"),
        (raw["unit"] == unit, f"unit {raw['unit']!r} must be {unit!r} for {component}"),
        (raw["exchange"] in (*EXCHANGES, "any"), f"exchange {raw['exchange']!r} is not NSE, BSE or any"),
        (raw["confidence"] in get_args(Confidence), f"confidence {raw['confidence']!r} is unknown"),
    ]
    for ok, message in checks:
        if not ok:
            raise _fail(message, where=where, source=source)
    segments = raw["segment"] if isinstance(raw["segment"], list) else [raw["segment"]]
    for seg in segments:
        if seg not in SEGMENTS:
            raise _fail(f"segment {seg!r} is not one of {list(SEGMENTS)}", where=where, source=source)
    return [
        RateEntry(
            component,
            start,
            end,
            float(rate),
            raw["basis"],
            seg,
            raw["exchange"],
            unit,
            str(raw["source"]),
            raw["confidence"],
            str(raw.get("note", "")),
            index,
        )
        for seg in segments
    ]


def _check_series(series: list[RateEntry], *, start: dt.date, source: str) -> None:
    """One (component, segment, exchange) series must run from ``start`` with no gap or overlap."""
    series.sort(key=lambda e: e.start)
    first = series[0]
    if first.start != start:
        raise _fail(
            f"the series starts on {first.start}, not on the schedule start {start}",
            where=first.label(),
            source=source,
            remedy="add an entry (an assumption if need be) from the start",
        )
    for prev, nxt in itertools.pairwise(series):
        if prev.end is None or nxt.start <= prev.end:
            raise _fail(f"overlaps {nxt.label()}", where=prev.label(), source=source)
        if nxt.start != prev.end + dt.timedelta(days=1):
            raise _fail(
                f"gap between {prev.end} and {nxt.start} (next: {nxt.label()})",
                where=prev.label(),
                source=source,
            )


def parse_schedule(data: Mapping[str, Any], *, source: str = "<memory>") -> Schedule:
    """Validate a parsed schedule document (the TOML's tables) into a :class:`Schedule`."""
    meta = data.get("meta")
    if not isinstance(meta, Mapping) or "start" not in meta:
        raise _fail("a [meta] table with a 'start' date is required", where="meta", source=source)
    start = _as_date(meta["start"], where="meta", key="start", source=source)
    unknown = set(data) - {"meta", *COMPONENT_RULES}
    if unknown:
        raise _fail(
            f"unknown components {sorted(unknown)}",
            where="schedule",
            source=source,
            remedy=f"components are {sorted(COMPONENT_RULES)}",
        )
    entries: list[RateEntry] = []
    for component in COMPONENT_RULES:
        raw_list = data.get(component, [])
        if not isinstance(raw_list, list):
            raise _fail("must be an array of tables ([[...]])", where=component, source=source)
        for index, raw in enumerate(raw_list):
            entries.extend(_parse_entry(component, index, raw, source=source))
    groups: dict[tuple[str, str, str], list[RateEntry]] = {}
    for e in entries:
        groups.setdefault((e.component, e.segment, e.exchange), []).append(e)
    for (component, seg, exch), series in groups.items():
        if exch == "any" and any((component, seg, x) in groups for x in EXCHANGES):
            raise _fail(
                f"{component} for {seg} mixes exchange 'any' with named exchanges",
                where=series[0].label(),
                source=source,
            )
        _check_series(series, start=start, source=source)
    return Schedule(
        name=str(meta.get("name", "schedule")), start=start, entries=tuple(entries), source=source
    )


def load_schedule(path: str | Path) -> Schedule:
    """Read and validate a schedule TOML file; errors name the file and the offending entry."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CostScheduleError(
            f"cannot read the cost schedule: {exc}",
            file=str(path),
            remedy="pass an existing, valid TOML file",
        ) from exc
    return parse_schedule(data, source=path.name)


@cache
def default_schedule() -> Schedule:
    """The packaged India schedule (``schedules/india_equity.toml``), loaded once."""
    text = resources.files("earnest.backtest").joinpath("schedules/india_equity.toml").read_text("utf-8")
    return parse_schedule(tomllib.loads(text), source="india_equity.toml")


def to_days(dates: Any) -> npt.NDArray[np.datetime64]:
    days = np.asarray(dates).astype("datetime64[D]")
    if np.isnat(days).any():
        raise DataError("dates contain NaT", remedy="pass valid session dates", field="dates")
    return days


__all__ = [
    "COMPONENT_RULES",
    "EXCHANGES",
    "SEGMENTS",
    "Basis",
    "Confidence",
    "CostAssumptionWarning",
    "CostScheduleError",
    "Exchange",
    "RateEntry",
    "Schedule",
    "Segment",
    "default_schedule",
    "load_schedule",
    "parse_schedule",
    "to_days",
]
