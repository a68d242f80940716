"""No look-ahead, for every feature of :func:`earnest.features.default_registry` (so a feature module
added later is covered without touching this file).

Random small market: three instruments over 60-120 NSE sessions (staggered starts, a missing
session), random-walk prices, a NIFTY 50 random walk, price bands announced the session before they
apply, results events at random instants (before, during and after market hours) with random
figures, and sector classifications that change at random instants. For a random cut session ``t``:

1. computing on the data truncated at ``t`` (bars dated after ``t``, anything known after ``t``'s end
   of day removed) gives the values at and before ``t`` that the full data gives;
2. perturbing every input after ``t`` (prices, volumes, index, bands, events and their times) changes
   nothing at or before ``t``;
3. an incremental computation from a random session (handed only the declared lookback before it)
   gives the values a full computation gives: the declared lookback is enough.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from earnest.core.calendar import IST, eod_known_utc, nse_calendar
from earnest.core.schemas import UTC_TS
from earnest.features import FeatureSpec, default_registry
from earnest.features.earnings import EVENT_COLUMNS, EVENT_KEYS
from earnest.features.engine import compute_each

CAL = nse_calendar()
ALL_SESSIONS = CAL.sessions_between(dt.date(2022, 1, 1), dt.date(2025, 6, 30))
INSTRUMENTS = ("INE000A", "INE000B", "INE000C")
REGISTRY = default_registry()


def _eod(day: dt.date) -> dt.datetime:
    return eod_known_utc(day)


def make_bars(rng: np.random.Generator, sessions: list[dt.date]) -> pl.DataFrame:
    frames = []
    for k, iid in enumerate(INSTRUMENTS):
        days = sessions[int(rng.integers(0, 6)) :]
        if k == 1 and len(days) > 30:
            days = days[:20] + days[21:]  # a session without a trade
        n = len(days)
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        prev = np.concatenate([[close[0] / (1 + rng.normal(0, 0.02))], close[:-1]])
        opn = prev * (1 + rng.normal(0, 0.01, n))
        high = np.maximum(opn, close) * (1 + rng.uniform(0, 0.02, n))
        low = np.minimum(opn, close) * (1 - rng.uniform(0, 0.02, n))
        volume = rng.integers(1_000, 100_000, n)
        frames.append(
            pl.DataFrame(
                {
                    "exchange": "NSE",
                    "instrument_id": iid,
                    "symbol": f"SYM{k}",
                    "series": "EQ",
                    "date": days,
                    "open": opn,
                    "high": high,
                    "low": low,
                    "close": close,
                    "last": close,
                    "prev_close": prev,
                    "volume": volume,
                    "delivery_qty": (volume * rng.uniform(0.1, 0.9, n)).astype(np.int64),
                    "knowledge_time": [_eod(d) for d in days],
                },
                schema_overrides={"knowledge_time": UTC_TS},
            )
        )
    return pl.concat(frames).sort("instrument_id", "date")


def make_index(rng: np.random.Generator, sessions: list[dt.date]) -> pl.DataFrame:
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))
    return pl.DataFrame(
        {
            "index_name": "NIFTY 50",
            "date": sessions,
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "knowledge_time": [_eod(d) for d in sessions],
        },
        schema_overrides={"knowledge_time": UTC_TS},
    )


def make_bands(rng: np.random.Generator, sessions: list[dt.date]) -> pl.DataFrame:
    rows = []
    for k in range(len(INSTRUMENTS)):
        picks = sorted({0, *(int(i) for i in rng.integers(1, len(sessions), 2))})
        for i in picks:
            pct = [2.0, 5.0, 10.0, 20.0, None][int(rng.integers(0, 5))]
            known = _eod(CAL.previous_session(sessions[i]))
            rows.append(
                {
                    "symbol": f"SYM{k}",
                    "series": "EQ",
                    "band_pct": pct,
                    "effective_date": sessions[i],
                    "knowledge_time": known,
                }
            )
    return pl.DataFrame(rows, schema_overrides={"band_pct": pl.Float64, "knowledge_time": UTC_TS})


def make_sectors(rng: np.random.Generator, sessions: list[dt.date]) -> pl.DataFrame:
    rows = []
    for iid in INSTRUMENTS:
        for _ in range(int(rng.integers(1, 4))):
            day = sessions[int(rng.integers(0, len(sessions)))] - dt.timedelta(days=int(rng.integers(0, 30)))
            at = dt.datetime.combine(day, dt.time(int(rng.integers(7, 21))), IST).astimezone(dt.UTC)
            rows.append(
                {"instrument_id": iid, "sector": str(rng.choice(["IT", "BANK"])), "knowledge_time": at}
            )
    return pl.DataFrame(rows, schema_overrides={"knowledge_time": UTC_TS})


def _event_times(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        first = CAL.first_tradable(row["knowledge_time"])
        row["first_session"], row["first_fill"] = first.date, first.fill.value
        day = row["knowledge_time"].astimezone(IST).date()
        row["period_end"] = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1) - dt.timedelta(days=1)
    return rows


def make_events(rng: np.random.Generator, sessions: list[dt.date]) -> pl.DataFrame:
    extra = [c for c in EVENT_COLUMNS if c not in EVENT_KEYS]
    rows: list[dict[str, Any]] = []
    span = (sessions[-1] - sessions[0]).days + 10
    for k in range(len(INSTRUMENTS)):
        for _ in range(int(rng.integers(0, 4))):
            day = sessions[0] + dt.timedelta(days=int(rng.integers(0, span)))
            at = dt.datetime.combine(day, dt.time(int(rng.integers(7, 21)), int(rng.integers(0, 60))), IST)
            row: dict[str, Any] = {
                "symbol": f"SYM{k}",
                "knowledge_time": at.astimezone(dt.UTC),
                "period_kind": "quarter" if rng.uniform() < 0.8 else "year",
                "consolidated": bool(rng.integers(0, 2)),
            }
            row.update({c: (None if rng.uniform() < 0.2 else float(rng.normal())) for c in extra})
            rows.append(row)
    schema: dict[str, Any] = {
        "symbol": pl.Utf8,
        "knowledge_time": UTC_TS,
        "first_session": pl.Date,
        "first_fill": pl.Utf8,
        "period_end": pl.Date,
        "period_kind": pl.Utf8,
        "consolidated": pl.Boolean,
    } | dict.fromkeys(extra, pl.Float64)
    frame = pl.DataFrame(_event_times(rows), schema=schema) if rows else pl.DataFrame(schema=schema)
    return frame.sort("knowledge_time")


WORDS = (
    "profit",
    "loss",
    "growth",
    "litigation",
    "uncertain",
    "strong",
    "decline",
    "order",
    "the",
    "approved",
)


def make_announcements(rng: np.random.Generator, sessions: list[dt.date]) -> pl.DataFrame:
    """Announcements with text (Loughran-McDonald words among others) at random instants."""
    events = make_events(rng, sessions).select("symbol", "knowledge_time")
    text = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 8)))) for _ in range(events.height)]
    return events.with_columns(
        pl.Series("text", text, dtype=pl.Utf8), pl.col("knowledge_time").alias("event_time")
    )


def truncate(
    bars: pl.DataFrame, inputs: Mapping[str, pl.DataFrame], t: dt.date
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    known = pl.col("knowledge_time") <= _eod(t)
    return bars.filter(pl.col("date") <= t), {k: v.filter(known) for k, v in inputs.items()}


def perturb(
    rng: np.random.Generator, bars: pl.DataFrame, inputs: Mapping[str, pl.DataFrame], t: dt.date
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    after = pl.col("date") > t
    factor = pl.Series(rng.uniform(0.5, 1.5, bars.height))
    bars = bars.with_columns(
        *[
            pl.when(after).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close", "last", "prev_close")
        ],
        pl.when(after).then(pl.col("volume") * 3).otherwise(pl.col("volume")).alias("volume"),
        pl.when(after)
        .then(pl.col("delivery_qty") // 2)
        .otherwise(pl.col("delivery_qty"))
        .alias("delivery_qty"),
    )
    late = pl.col("knowledge_time") > _eod(t)
    out = dict(inputs)
    out["index"] = inputs["index"].with_columns(
        pl.when(late).then(pl.col("close") * 1.7).otherwise(pl.col("close")).alias("close")
    )
    out["bands"] = inputs["bands"].with_columns(
        pl.when(late).then(pl.lit(40.0)).otherwise(pl.col("band_pct")).alias("band_pct")
    )
    out["sectors"] = inputs["sectors"].with_columns(
        pl.when(late).then(pl.lit("IT")).otherwise(pl.col("sector")).alias("sector")
    )
    events = inputs["events"]
    floats = [c for c, d in events.schema.items() if d == pl.Float64]
    shifted = events.with_columns(
        pl.when(late)
        .then(pl.col("knowledge_time") + pl.duration(hours=7))
        .otherwise(pl.col("knowledge_time"))
        .alias("knowledge_time"),
        *[pl.when(late).then(-3 * pl.col(c) + 1).otherwise(pl.col(c)).alias(c) for c in floats],
    )
    rows = shifted.to_dicts()
    out["events"] = pl.DataFrame(_event_times(rows), schema=events.schema) if rows else events
    out["announcements"] = inputs["announcements"].with_columns(
        pl.when(late).then(pl.lit("loss litigation uncertain")).otherwise(pl.col("text")).alias("text"),
        pl.when(late)
        .then(pl.col("knowledge_time") - pl.duration(hours=5))
        .otherwise(pl.col("knowledge_time"))
        .alias("knowledge_time"),
    )
    return bars, out


def values(
    spec: FeatureSpec, bars: pl.DataFrame, inputs: Mapping[str, pl.DataFrame], **kw: Any
) -> pl.DataFrame:
    ((_, frame),) = compute_each(bars, [spec], inputs=inputs, **kw)
    return frame


def same(left: pl.DataFrame, right: pl.DataFrame) -> None:
    assert_frame_equal(left, right, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("spec", REGISTRY.specs, ids=REGISTRY.names)
@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    first=st.integers(0, len(ALL_SESSIONS) - 121),
    n=st.integers(60, 120),
    cut=st.floats(0.1, 0.95),
    restart=st.floats(0.05, 0.95),
)
def test_no_look_ahead(spec: FeatureSpec, seed: int, first: int, n: int, cut: float, restart: float) -> None:
    rng = np.random.default_rng(seed)
    sessions = ALL_SESSIONS[first : first + n]
    bars = make_bars(rng, sessions)
    inputs = {
        "index": make_index(rng, sessions),
        "bands": make_bands(rng, sessions),
        "events": make_events(rng, sessions),
        "sectors": make_sectors(rng, sessions),
        "announcements": make_announcements(rng, sessions),
    }
    t = sessions[int(cut * (n - 1))]
    full = values(spec, bars, inputs)
    full_at_t = full.filter(pl.col("date") <= t)

    short_bars, short_inputs = truncate(bars, inputs, t)
    same(values(spec, short_bars, short_inputs), full_at_t)

    moved_bars, moved_inputs = perturb(rng, bars, inputs, t)
    same(values(spec, moved_bars, moved_inputs).filter(pl.col("date") <= t), full_at_t)

    start = sessions[int(restart * (n - 1))]
    same(values(spec, bars, inputs, start=start), full.filter(pl.col("date") >= start))
