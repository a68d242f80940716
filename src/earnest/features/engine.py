"""The feature engine: hands each feature only the data known at its as-of time, checks what it
returns, and lays the values out long or wide.

Slicing (what a feature's ``compute`` receives):

- the panel up to ``end`` (rows with ``date <= end``) and, with ``as_of``, only rows published by
  then (``knowledge_time <= as_of``; a panel without ``knowledge_time`` is taken as known at
  16:00 IST of its date); every other input (``index``, ``events``, ``bands``, ``sectors``)
  likewise up to the same instant (``knowledge_time <= cutoff``, or ``date <= end`` for frames
  without it);
- with ``start``, the rows from ``start`` on plus the last ``lookback_sessions`` rows of each
  instrument before it: an incremental run for one new day reads ``lookback + 1`` rows per
  instrument, and gives the values a full recompute would (exactly for window features; for
  recursive ones such as EMAs, once the declared warm-up has made the seed negligible).

Nothing after the cutoff ever reaches a feature. That a value at date ``d`` within the computed
range uses nothing after ``d`` is each feature's own causality, proven for every registered
feature by ``tests/property/test_features_pit.py`` (truncating or perturbing the data after a
random ``t`` changes nothing at or before ``t``); :func:`features_at` with ``strict=True`` slices
per as-of instant instead and needs no such proof.

Checks on each result: same rows in the same order as the slice, every declared output present
(cast to Float64, NaN read as null), ``known_at`` never after its row's end of day (for ``eod``
specs it *is* the end of day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal, TypedDict, Unpack

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import IST, eod_known_utc
from earnest.core.schemas import UTC_TS
from earnest.features._panel import require_columns
from earnest.features.spec import FeatureError, FeatureSpec, eod_known_at

Layout = Literal["wide", "long"]
KEY = ("instrument_id", "date")
LONG_COLUMNS = ("instrument_id", "date", "feature", "value", "known_at")


def _utc(when: dt.datetime, name: str) -> dt.datetime:
    if when.tzinfo is None:
        raise FeatureError(
            f"{name} {when.isoformat()} has no time zone",
            remedy="pass a timezone-aware instant, e.g. tzinfo=ZoneInfo('Asia/Kolkata') or datetime.UTC",
            field=name,
        )
    return when.astimezone(dt.UTC)


def _known_expr(frame: pl.DataFrame) -> pl.Expr:
    if "knowledge_time" in frame.columns:
        return pl.col("knowledge_time").cast(UTC_TS)
    return eod_known_at(pl.col("date"))


def prepare_panel(panel: pl.DataFrame) -> pl.DataFrame:
    """``panel`` checked (``instrument_id`` and ``date`` present, one row per pair) and sorted by
    (``instrument_id``, ``date``) when it is not already."""
    require_columns(
        panel,
        KEY,
        what="panel",
        remedy="pass bars with instrument_id and date (one row per instrument and session)",
        error=FeatureError,
    )
    if panel.schema["date"] != pl.Date:
        raise FeatureError(f"panel column date is {panel.schema['date']}, not Date", field="date")
    if panel.height < 2:
        return panel
    iid, day = pl.col("instrument_id"), pl.col("date")
    ordered = (iid > iid.shift()) | ((iid == iid.shift()) & (day > day.shift()))
    if not panel.select(ordered.slice(1).all()).item():
        panel = panel.sort(KEY)
        dup = panel.select(((iid == iid.shift()) & (day == day.shift())).arg_true().first()).item()
        if dup is not None:
            row = panel.row(int(dup), named=True)
            raise FeatureError(
                f"the panel has two rows for {row['instrument_id']} on {row['date']}",
                remedy="keep one bar per instrument and session (e.g. the EQ series on NSE)",
                field="date",
            )
    return panel


def _cut(
    frame: pl.DataFrame, *, end: dt.date | None, cutoff: dt.datetime | None, dated: bool
) -> pl.DataFrame:
    """Rows of an input known by ``cutoff`` (by ``knowledge_time``) and dated by ``end``."""
    if cutoff is not None and "knowledge_time" in frame.columns:
        frame = frame.filter(pl.col("knowledge_time").cast(UTC_TS) <= cutoff)
    elif cutoff is not None and dated and "date" in frame.columns:
        frame = frame.filter(_known_expr(frame) <= cutoff)
    if end is not None and "date" in frame.columns:
        frame = frame.filter(pl.col("date") <= end)
    return frame


_RANK = "__rows_to_start"


def _ranked(panel: pl.DataFrame, start: dt.date | None, lookback: int) -> pl.DataFrame:
    """With ``start``: the rows from ``start`` on plus each instrument's last ``lookback`` rows
    before it, with :data:`_RANK` (1 for the last row before ``start``, 0 from ``start`` on)."""
    if start is None:
        return panel
    before = pl.col("date") < start
    # the panel is sorted by instrument: a run-length id groups it faster than the string key
    rank = before.cast(pl.UInt32).cum_sum(reverse=True).over(pl.col("instrument_id").rle_id())
    return panel.with_columns(rank.alias(_RANK)).filter(pl.col(_RANK) <= lookback)


def _window(ranked: pl.DataFrame, start: dt.date | None, lookback: int) -> pl.DataFrame:
    """The rows of a :func:`_ranked` panel a spec with ``lookback`` is given."""
    if start is None:
        return ranked
    return ranked.filter(pl.col(_RANK) <= lookback).drop(_RANK)


def _check_result(spec: FeatureSpec, given: pl.DataFrame, got: object) -> pl.DataFrame:
    """The result of ``spec.compute`` on ``given``, checked and normalised."""
    if not isinstance(got, pl.DataFrame):
        raise FeatureError(f"feature {spec.name!r} returned {type(got).__name__}, not a polars DataFrame")
    missing = [c for c in (*KEY, "known_at", *spec.outputs) if c not in got.columns]
    if missing:
        raise FeatureError(
            f"feature {spec.name!r} returned no column(s) {missing}",
            remedy="return instrument_id, date, known_at and every declared output",
            field=missing[0],
        )
    if got.height != given.height or not all(got.get_column(k).equals(given.get_column(k)) for k in KEY):
        raise FeatureError(
            f"feature {spec.name!r} returned {got.height} rows for {given.height}, or not in the same order",
            remedy="return one row per input row, in the input order (instrument_id, date)",
        )
    eod = eod_known_at(pl.col("date"))
    known = eod if spec.known_at == "eod" else pl.col("known_at").cast(UTC_TS).fill_null(eod)
    out = got.select(
        *KEY,
        known.alias("known_at"),
        *[pl.col(o).cast(pl.Float64).fill_nan(None) for o in spec.outputs],
    )
    late = out.filter(pl.col("known_at") > eod)
    if late.height:
        row = late.row(0, named=True)
        raise FeatureError(
            f"feature {spec.name!r}: the value for {row['instrument_id']} on {row['date']} is known at "
            f"{row['known_at']}, after that session's end of day ({late.height} such rows): look-ahead",
            remedy="put a value on the first session at or after the time it became known",
            field="known_at",
        )
    return out


def _aux_kwargs(
    spec: FeatureSpec, inputs: Mapping[str, pl.DataFrame], window: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The non-bars inputs of ``spec`` as keyword arguments; dated ones start with the window."""
    kwargs: dict[str, pl.DataFrame] = {}
    first = window.get_column("date").min() if window.height else None
    for name in spec.inputs:
        if name == "bars":
            continue
        if name not in inputs:
            raise FeatureError(
                f"feature {spec.name!r} needs input {name!r}, which was not given",
                remedy=f"pass inputs={{'{name}': frame}} to the engine (or build from a store that has it)",
                field="inputs",
            )
        frame = inputs[name]
        if first is not None and "date" in frame.columns and "knowledge_time" in frame.columns:
            frame = frame.filter(pl.col("date") >= first)
        kwargs[name] = frame
    return kwargs


def compute_each(
    panel: pl.DataFrame,
    specs: Sequence[FeatureSpec],
    *,
    as_of: dt.datetime | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    inputs: Mapping[str, pl.DataFrame] | None = None,
) -> list[tuple[FeatureSpec, pl.DataFrame]]:
    """Each spec with its checked result (``instrument_id``, ``date``, ``known_at``, outputs) for
    the sessions in [``start``, ``end``] known by ``as_of``. See the module docstring for slicing."""
    cutoff = _utc(as_of, "as_of") if as_of is not None else None
    if cutoff is not None:
        as_of_day = cutoff.astimezone(IST).date()
        end = as_of_day if end is None else min(end, as_of_day)
    panel = prepare_panel(panel)
    cut = _cut(panel, end=end, cutoff=cutoff, dated=True)
    if cutoff is None and cut.height:
        cutoff = eod_known_utc(end or cut.get_column("date").max())  # type: ignore[arg-type]
    aux = {k: _cut(v, end=end, cutoff=cutoff, dated=False) for k, v in (inputs or {}).items()}
    ranked = _ranked(cut, start, max((s.lookback_sessions for s in specs), default=0))
    windows: dict[int, pl.DataFrame] = {}
    out: list[tuple[FeatureSpec, pl.DataFrame]] = []
    for spec in specs:
        if spec.lookback_sessions not in windows:
            windows[spec.lookback_sessions] = _window(ranked, start, spec.lookback_sessions)
        window = windows[spec.lookback_sessions]
        if window.is_empty():
            result = _empty(spec)
        else:
            got = spec.compute(window, **_aux_kwargs(spec, aux, window), **spec.params)
            result = _check_result(spec, window, got)
        if start is not None:
            result = result.filter(pl.col("date") >= start)
        out.append((spec, result))
    return out


def _empty(spec: FeatureSpec) -> pl.DataFrame:
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "instrument_id": pl.Utf8,
        "date": pl.Date,
        "known_at": UTC_TS,
    }
    return pl.DataFrame(schema={**schema, **dict.fromkeys(spec.outputs, pl.Float64)})


def empty_long() -> pl.DataFrame:
    """A long feature frame (:data:`LONG_COLUMNS`) without rows."""
    return schemas.empty({c: schemas.FEATURES[c] for c in LONG_COLUMNS})


def _long(results: Sequence[tuple[FeatureSpec, pl.DataFrame]]) -> pl.DataFrame:
    parts = [
        frame.unpivot(index=[*KEY, "known_at"], on=list(spec.outputs), variable_name="feature")
        for spec, frame in results
    ]
    if not parts:
        return empty_long()
    return pl.concat(parts).select(LONG_COLUMNS).sort([*KEY, "feature"])


def _wide(results: Sequence[tuple[FeatureSpec, pl.DataFrame]]) -> pl.DataFrame:
    """Results side by side; every result has the rows of the same slice, so the columns are
    stacked (a join is the fallback should the keys ever differ)."""
    if not results:
        return pl.DataFrame(schema={"instrument_id": pl.Utf8, "date": pl.Date, "known_at": UTC_TS})
    wide = results[0][1]
    for _, frame in results[1:]:
        same = frame.height == wide.height and all(
            frame.get_column(k).equals(wide.get_column(k)) for k in KEY
        )
        if same:
            wide = wide.with_columns(
                pl.max_horizontal(pl.col("known_at"), frame.get_column("known_at")).alias("known_at"),
                *frame.drop(*KEY, "known_at").get_columns(),
            )
        else:
            wide = wide.join(frame, on=list(KEY), how="full", coalesce=True, suffix="__next")
            wide = wide.with_columns(pl.max_horizontal("known_at", "known_at__next").alias("known_at")).drop(
                "known_at__next"
            )
    return wide.sort(KEY)


class Slicing(TypedDict, total=False):
    """The keyword options :func:`compute_each` and :func:`compute_features` share."""

    as_of: dt.datetime | None
    start: dt.date | None
    end: dt.date | None
    inputs: Mapping[str, pl.DataFrame] | None


def compute_features(
    panel: pl.DataFrame, specs: Sequence[FeatureSpec], *, layout: Layout = "wide", **slicing: Unpack[Slicing]
) -> pl.DataFrame:
    """Feature values of ``specs`` on ``panel`` for the sessions in [``start``, ``end``] (default:
    all) known by ``as_of`` (default: everything in the panel).

    ``inputs`` holds the non-bars inputs by name (``index``, ``events``, ``bands``, ``sectors``).
    ``layout`` ``wide`` gives one row per (instrument_id, date) with ``known_at`` (when every value
    of the row is known) and one column per output; ``long`` gives :data:`LONG_COLUMNS` with each
    value's own ``known_at``, the layout of the store's ``features`` table.
    """
    results = compute_each(panel, specs, **slicing)
    return _long(results) if layout == "long" else _wide(results)


def to_long(wide: pl.DataFrame) -> pl.DataFrame:
    """A wide feature frame as :data:`LONG_COLUMNS` (each value takes its row's ``known_at``)."""
    index = [c for c in (*KEY, "known_at") if c in wide.columns]
    values = [c for c in wide.columns if c not in (*index, "symbol")]
    long = wide.unpivot(index=index, on=values, variable_name="feature")
    if "known_at" not in long.columns:
        long = long.with_columns(eod_known_at(pl.col("date")).alias("known_at"))
    return long.with_columns(pl.col("value").cast(pl.Float64)).select(LONG_COLUMNS).sort([*KEY, "feature"])


def to_wide(long: pl.DataFrame) -> pl.DataFrame:
    """A long feature frame as one row per (instrument_id, date) with one column per feature and
    ``known_at`` the latest of the row's values."""
    if long.is_empty():
        return pl.DataFrame(schema={"instrument_id": pl.Utf8, "date": pl.Date, "known_at": UTC_TS})
    known = long.group_by(KEY).agg(pl.col("known_at").max())
    values = long.pivot(on="feature", index=list(KEY), values="value", aggregate_function="first")
    return known.join(values, on=list(KEY), how="left").sort(KEY)


def _pairs(pairs: pl.DataFrame, panel: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` with ``instrument_id`` (mapped from ``symbol`` when absent) and UTC ``as_of``."""
    if "as_of" not in pairs.columns:
        raise FeatureError("the pairs frame has no as_of column", remedy="pass (instrument_id, as_of) rows")
    dtype = pairs.schema["as_of"]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise FeatureError(
            f"pairs column as_of is {dtype}, not a timezone-aware datetime",
            remedy="use UTC or IST timestamps (e.g. .dt.replace_time_zone('Asia/Kolkata'))",
            field="as_of",
        )
    if "instrument_id" not in pairs.columns:
        if "symbol" not in pairs.columns or "symbol" not in panel.columns:
            raise FeatureError("the pairs frame needs instrument_id (or symbol)", field="instrument_id")
        ids = panel.select("symbol", "instrument_id").unique()
        dup = ids.filter(pl.col("symbol").is_duplicated())
        if dup.height:
            raise FeatureError(
                f"symbol {dup.item(0, 'symbol')} names several instruments in the panel",
                remedy="ask by instrument_id",
                field="symbol",
            )
        pairs = pairs.join(ids, on="symbol", how="left")
    return pairs.with_columns(pl.col("as_of").dt.convert_time_zone("UTC").cast(UTC_TS))


def features_at(
    panel: pl.DataFrame,
    specs: Sequence[FeatureSpec],
    pairs: pl.DataFrame,
    *,
    inputs: Mapping[str, pl.DataFrame] | None = None,
    strict: bool = False,
    start: dt.date | None = None,
) -> pl.DataFrame:
    """The latest value of every output of ``specs`` known at each (``instrument_id``, ``as_of``)
    of ``pairs`` (a ``symbol`` column may stand in for ``instrument_id``); the API the prediction
    service uses. One row per pair, in the pairs' order: the pair's columns, then each output with
    ``date__<spec>`` (the session the value belongs to; null when nothing was known yet).

    The default computes every feature once up to the latest ``as_of`` and joins each pair to the
    last value with ``known_at <= as_of``, which relies on each feature's proven causality;
    ``strict=True`` computes once per distinct ``as_of`` on data sliced at that instant
    (slower; the reference the fast path is tested against). With ``start`` only sessions from
    ``start`` on are computed (as an incremental build does; the panel must hold each spec's
    lookback before it), so a pair whose latest known session is before ``start`` gets nulls.
    """
    pairs = _pairs(pairs, prepare_panel(panel)).with_row_index("__pair")
    if pairs.is_empty():
        return pairs.drop("__pair")
    if strict:
        parts = []
        for (when,), group in pairs.group_by("as_of", maintain_order=True):
            assert isinstance(when, dt.datetime)
            results = compute_each(panel, specs, as_of=when, start=start, inputs=inputs)
            parts.append(_join_latest(group, results))
        return pl.concat(parts, how="diagonal_relaxed").sort("__pair").drop("__pair")
    latest = pairs.get_column("as_of").max()
    assert isinstance(latest, dt.datetime)
    results = compute_each(panel, specs, as_of=latest, start=start, inputs=inputs)
    return _join_latest(pairs, results).sort("__pair").drop("__pair")


def _join_latest(pairs: pl.DataFrame, results: Sequence[tuple[FeatureSpec, pl.DataFrame]]) -> pl.DataFrame:
    out = pairs.sort("as_of")
    for spec, frame in results:
        right = frame.rename({"date": f"date__{spec.name}"}).sort("known_at")
        out = out.join_asof(
            right,
            left_on="as_of",
            right_on="known_at",
            by="instrument_id",
            strategy="backward",
            check_sortedness=False,
        ).drop("known_at")
    return out


__all__ = [
    "KEY",
    "LONG_COLUMNS",
    "Layout",
    "Slicing",
    "compute_each",
    "compute_features",
    "empty_long",
    "features_at",
    "prepare_panel",
    "to_long",
    "to_wide",
]
