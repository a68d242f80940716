"""A feature computation's inputs read from the store, and point-in-time features for any set of
(symbol, as-of) pairs computed straight from the store: the API the prediction service uses.

Inputs (:func:`load_inputs`), one per kind of :data:`earnest.features.spec.INPUTS`:

- ``bars``: the panel (:func:`load_panel`), one bar per instrument and session (the ``EQ`` series
  where there is one, then NSE before BSE), raw or corporate-action-adjusted;
- ``index``: the ``index_bars`` table (NSE's daily index file: NIFTY 50 and the sector indices);
- ``bands``: the ``price_bands`` table (NSE's dated ``sec_list`` files);
- ``events``: results events with the derived figures of their quarter
  (:func:`earnest.features.earnings.results_with_figures`);
- ``sectors``: the store keeps no sector per instrument yet, so this input is always empty when read
  from the store (features that need it are skipped with that reason); pass a frame yourself
  (``inputs={"sectors": ...}`` to :func:`earnest.features.compute_features`) to use them.

A spec whose input the store lacks is not computed (:func:`missing_input` says why): storing nulls
would hide the gap, and an incremental build would never revisit them.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from earnest.core import schemas
from earnest.core.calendar import IST, nse_calendar
from earnest.features.engine import KEY, features_at
from earnest.features.spec import FeatureError, FeatureSpec
from earnest.store.base import Store

_PRICE_COLUMNS = ("open", "high", "low", "close", "last", "prev_close")
SECTORS: schemas.Schema = {"instrument_id": pl.Utf8, "sector": pl.Utf8, "knowledge_time": schemas.UTC_TS}
"""Columns of the ``sectors`` input: an instrument's sector, known from ``knowledge_time`` on."""


def in_clause(col: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``col IN (?, ...)`` and its parameters."""
    return f"{col} IN ({', '.join('?' for _ in values)})", list(values)


def bar_spans(
    store: Store, *, symbols: Sequence[str] | None = None, instrument_ids: Sequence[str] | None = None
) -> pl.DataFrame:
    """(``instrument_id``, ``first_date``, ``last_date``) of the stored bars."""
    schema = {"instrument_id": pl.Utf8, "first_date": pl.Date, "last_date": pl.Date}
    sql = "SELECT instrument_id, min(date) AS first_date, max(date) AS last_date FROM bars"
    clauses, params = [], []
    for col, values in (("symbol", symbols), ("instrument_id", instrument_ids)):
        if values is not None:
            if not values:
                return schemas.empty(schema)
            clause, more = in_clause(col, [v.upper() for v in values] if col == "symbol" else values)
            clauses.append(clause)
            params += more
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return schemas.conform(store.query(sql + " GROUP BY instrument_id", params), schema, name="bar spans")


def one_bar_per_session(bars: pl.DataFrame) -> pl.DataFrame:
    """One row per (instrument_id, date): the ``EQ`` series first, then NSE; sorted by both."""
    return bars.sort(["instrument_id", "date", pl.col("series") != "EQ", pl.col("exchange") != "NSE"]).unique(
        subset=["instrument_id", "date"], keep="first", maintain_order=True
    )


def _read_bars(
    store: Store,
    *,
    symbols: Sequence[str] | None,
    ids: Sequence[str] | None,
    start: dt.date | None,
    adjusted: bool,
) -> pl.DataFrame:
    if adjusted:
        from earnest.marketdata.adjust import adjusted_bars

        bars = adjusted_bars(store, symbols=symbols, instrument_ids=ids, start=start)
        bars = bars.with_columns(
            *[pl.col(f"adj_{c}").alias(c) for c in _PRICE_COLUMNS],
            pl.col("adj_volume").alias("volume"),
            (pl.col("delivery_qty") / pl.col("adj_factor")).alias("delivery_qty"),
        ).drop([c for c in bars.columns if c.startswith("adj_")])
    else:
        bars = store.bars(symbols=symbols, instrument_ids=ids, start=start)
    return one_bar_per_session(bars)


def load_panel(
    store: Store,
    *,
    symbols: Sequence[str] | None = None,
    instrument_ids: Sequence[str] | None = None,
    start: dt.date | None = None,
    lookback: int = 0,
    adjusted: bool = False,
) -> pl.DataFrame:
    """The bars panel for computing sessions from ``start`` on: every bar from ``start`` plus at
    least ``lookback`` bars of each instrument before it (all history when ``start`` is None), for
    the instruments with bars under ``symbols`` and with ``instrument_ids`` (default: all).

    Bars are read from a calendar window with a margin; instruments with fewer than ``lookback``
    bars before ``start`` in it (long suspensions) are read again from their first bar.
    """
    if start is None:
        return _read_bars(store, symbols=symbols, ids=instrument_ids, start=None, adjusted=adjusted)
    sessions = nse_calendar().sessions
    back = lookback + lookback // 2 + 10
    load_from = sessions[max(0, bisect_left(sessions, start) - back)]
    panel = _read_bars(store, symbols=symbols, ids=instrument_ids, start=load_from, adjusted=adjusted)
    if lookback == 0 or panel.is_empty():
        return panel
    spans = bar_spans(store, symbols=symbols, instrument_ids=instrument_ids)
    short = (
        panel.group_by("instrument_id")
        .agg((pl.col("date") < start).sum().alias("n_before"))
        .join(spans, on="instrument_id")
        .filter((pl.col("n_before") < lookback) & (pl.col("first_date") < load_from))
        .get_column("instrument_id")
        .to_list()
    )
    if short:
        again = _read_bars(store, symbols=None, ids=short, start=None, adjusted=adjusted)
        panel = pl.concat(
            [panel.filter(~pl.col("instrument_id").is_in(short)), again], how="vertical_relaxed"
        )
        panel = panel.sort(list(KEY))
    return panel


def load_inputs(
    store: Store, names: Sequence[str], *, symbols: Sequence[str] | None = None
) -> dict[str, pl.DataFrame]:
    """The non-bars inputs ``names`` from the store (module docstring), for ``symbols`` where an
    input is per symbol (``bands``, ``events``; default all)."""
    out: dict[str, pl.DataFrame] = {}
    where = {"symbol": [s.upper() for s in symbols]} if symbols is not None else None
    for name in dict.fromkeys(names):
        if name == "bars":
            continue
        if name == "index":
            out[name] = store.read("index_bars", order_by=("index_name", "date"))
        elif name == "bands":
            out[name] = store.read("price_bands", where=where)
        elif name == "events":
            from earnest.events import load_events
            from earnest.events.fundamentals import load_figures
            from earnest.features.earnings import results_with_figures

            events = load_events(store, symbols=symbols)
            out[name] = results_with_figures(events, load_figures(store, symbols=symbols))
        elif name == "sectors":
            out[name] = schemas.empty(SECTORS)  # no table holds them yet (module docstring)
        elif name == "announcements":
            from earnest.features.sentiment import load_announcements

            out[name] = load_announcements(store, symbols=symbols)
        else:
            raise FeatureError(
                f"no loader for input {name!r}",
                remedy="use bars, index, events, bands, sectors or announcements",
            )
    return out


_WHY_MISSING = {
    "index": "no {index} rows in index_bars: ingest NSE's daily index files (ind_close_all_DDMMYYYY.csv)",
    "bands": "no price bands in the store: ingest NSE's dated sec_list_DDMMYYYY.csv files",
    "events": "no results events in the store: run `earnest ingest results` or ingest results listings",
    "announcements": "no announcement text in the store: import announcements as custom events with a "
    "text field (desc, attchmntText, subject, ...; earnest ingest files)",
    "sectors": "the store keeps no sector per instrument (earnest does not ingest an industry "
    "classification yet); pass inputs={'sectors': frame} to compute_features to use this feature",
}


def missing_input(spec: FeatureSpec, inputs: Mapping[str, pl.DataFrame]) -> str | None:
    """Why ``spec`` cannot be computed from ``inputs`` (an input with no rows it can use), or None.

    An ``index`` input must hold the index the spec names in its ``index_name`` parameter."""
    reasons = []
    for name in spec.inputs:
        if name == "bars":
            continue
        frame = inputs[name]
        index = spec.params.get("index_name")
        if name == "index" and index is not None and "index_name" in frame.columns:
            frame = frame.filter(pl.col("index_name").str.to_uppercase() == str(index).upper())
        if frame.is_empty():
            reasons.append(
                _WHY_MISSING.get(name, f"no {name} data in the store").replace(
                    "{index}", str(index or "index")
                )
            )
    return "; ".join(reasons) or None


def _instruments(store: Store, pairs: pl.DataFrame) -> list[str]:
    """The instrument ids ``pairs`` name (by ``instrument_id``, else by a ``symbol`` of their bars)."""
    if "instrument_id" in pairs.columns:
        return pairs.get_column("instrument_id").drop_nulls().unique().sort().to_list()
    if "symbol" not in pairs.columns:
        raise FeatureError("the pairs frame needs instrument_id (or symbol)", field="instrument_id")
    symbols = pairs.get_column("symbol").drop_nulls().str.to_uppercase().unique().sort().to_list()
    if not symbols:
        return []
    clause, params = in_clause("symbol", symbols)
    got = store.query(f"SELECT DISTINCT instrument_id FROM bars WHERE {clause}", params)
    return sorted(got.get_column("instrument_id").to_list()) if got.height else []


def _first_session_needed(store: Store, ids: Sequence[str], earliest: dt.datetime) -> dt.date:
    """The earliest session whose values a pair may need: each instrument's last bar before the IST
    date of the ``earliest`` as-of instant (the day itself when none has one)."""
    day = earliest.astimezone(IST).date()
    if not ids:
        return day
    clause, params = in_clause("instrument_id", ids)
    got = store.query(f"SELECT min(last_date) AS d FROM (SELECT max(date) AS last_date FROM bars "
                      f"WHERE date < ? AND {clause} GROUP BY instrument_id) t", [day, *params])  # fmt: skip
    value = got.item(0, 0) if got.height else None
    return value if isinstance(value, dt.date) else day


def _null_values(frame: pl.DataFrame, specs: Sequence[FeatureSpec]) -> pl.DataFrame:
    """``frame`` with a null ``date__<spec>`` and null outputs for each of ``specs``."""
    return frame.with_columns(
        pl.lit(None, dtype=pl.Date if c.startswith("date__") else pl.Float64).alias(c)
        for spec in specs
        for c in (f"date__{spec.name}", *spec.outputs)
    )


def _as_of_checked(pairs: pl.DataFrame) -> dt.datetime | None:
    """The earliest ``as_of`` of ``pairs`` (None when there are none); a naive column raises."""
    dtype = pairs.schema.get("as_of")
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise FeatureError(
            f"pairs column as_of is {dtype}, not a timezone-aware datetime",
            remedy="pass (symbol, as_of) rows with as_of in UTC or IST",
            field="as_of",
        )
    earliest = pairs.get_column("as_of").min()
    return earliest if isinstance(earliest, dt.datetime) else None


def store_features_at(
    store: Store,
    specs: Sequence[FeatureSpec],
    pairs: pl.DataFrame,
    *,
    adjusted: bool = False,
    require_inputs: bool = False,
    strict: bool = False,
) -> pl.DataFrame:
    """Point-in-time values of ``specs`` for each (``symbol`` or ``instrument_id``, ``as_of``) of
    ``pairs``, computed from the store and laid out as :func:`earnest.features.features_at` does: one
    row per pair in the pairs' order, then ``date__<spec>`` and the outputs of each spec.

    Reads only what the values need: the pairs' instruments (every instrument when a spec is
    :attr:`~earnest.features.FeatureSpec.cross_sectional`) from their last session before the
    earliest ``as_of`` on, plus each spec's lookback before it, and the other inputs up to the
    latest ``as_of``. The values equal those :func:`earnest.features.build_features` stores
    (exactly for window features; for recursive ones once their declared warm-up has passed, as
    in an incremental build). A spec whose input the store lacks has null values, or raises
    :class:`FeatureError` with the reason when ``require_inputs``. ``strict`` as in ``features_at``.
    """
    earliest = _as_of_checked(pairs)
    if earliest is None:
        return _null_values(pairs, specs)
    universe = any(s.cross_sectional for s in specs)
    ids = _instruments(store, pairs)
    start = _first_session_needed(store, ids, earliest)
    lookback = max((s.lookback_sessions for s in specs), default=0)
    panel = load_panel(
        store, instrument_ids=None if universe else ids, start=start, lookback=lookback, adjusted=adjusted
    )
    symbols = None if universe else panel.get_column("symbol").unique().sort().to_list()
    inputs = load_inputs(store, [n for s in specs for n in s.inputs], symbols=symbols)
    ready: list[FeatureSpec] = []
    skipped: list[FeatureSpec] = []
    for spec in specs:
        why = missing_input(spec, inputs)
        if why is not None and require_inputs:
            raise FeatureError(f"feature {spec.name!r} cannot be computed: {why}", field="inputs")
        (ready if why is None else skipped).append(spec)
    got = _null_values(features_at(panel, ready, pairs, inputs=inputs, strict=strict, start=start), skipped)
    values = [c for s in specs for c in (f"date__{s.name}", *s.outputs)]
    return got.select(*(c for c in got.columns if c not in values), *values)


__all__ = [
    "SECTORS",
    "bar_spans",
    "in_clause",
    "load_inputs",
    "load_panel",
    "missing_input",
    "one_bar_per_session",
    "store_features_at",
]
