"""The lab use-case: load a hypothesis's inputs from the store, run the study, record the trials in
the ledger, adjust across the research question and write the report."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from earnest.core.calendar import nse_calendar
from earnest.core.errors import DataError
from earnest.core.receipt import frame_hash
from earnest.events import load_events
from earnest.events.fundamentals import load_figures
from earnest.features import default_registry, store_features_at
from earnest.features.earnings import METRICS, results_with_figures
from earnest.lab.ledger import adjusted_p, record_trials
from earnest.lab.selector import selector_fields
from earnest.lab.spec import Hypothesis
from earnest.lab.study import Study, StudyData, run_study, trial_rows, with_adjusted_p
from earnest.marketdata.adjust import adjusted_bars
from earnest.reports.lab import write_study
from earnest.store.base import SqlStore

ALIASES = {"pat_yoy": "net_profit_yoy", "pat_qoq": "net_profit_qoq"}
"""Selector names for results events beyond :data:`earnest.features.earnings.METRICS`' keys
(PAT = profit after tax = the filing's net profit)."""

Progress = Callable[[str], None]


def results_events(store: SqlStore, *, symbols: list[str] | None = None) -> pl.DataFrame:
    """Every results event (all versions) with the figures of the quarter it announced, under the
    selector names: :data:`METRICS` keys (``revenue_yoy``, ``net_profit_yoy``, ``sue``, ...) plus
    :data:`ALIASES` (``pat_yoy``)."""
    events = load_events(store, symbols=symbols)
    table = results_with_figures(events, load_figures(store, symbols=symbols))
    table = table.with_columns(pl.col(src).alias(name) for name, src in METRICS.items() if src != name)
    return table.with_columns(pl.col(name).alias(alias) for alias, name in ALIASES.items())


def custom_events(store: SqlStore, event_type: str, *, symbols: list[str] | None = None) -> pl.DataFrame:
    """Custom events of ``event_type`` (the ``custom_events`` table), their JSON ``fields``
    expanded into columns the selector can use (numbers stay numbers)."""
    events = store.read("custom_events", where={"event_type": [event_type]})
    if symbols is not None:
        events = events.filter(pl.col("symbol").is_in(symbols))
    if events.is_empty() or "fields" not in events.columns:
        return events
    rows = [json.loads(x) if x else {} for x in events.get_column("fields").to_list()]
    parsed = pl.DataFrame(rows, infer_schema_length=None, strict=False)
    taken = [c for c in parsed.columns if c not in events.columns]
    return pl.concat([events.drop("fields"), parsed.select(taken)], how="horizontal") if taken else events


def _bars(
    store: SqlStore, symbols: list[str] | None, start: dt.date, end: dt.date, series: list[str] | None = None
) -> pl.DataFrame:
    """Corporate-action-adjusted bars (prices in the latest share units), one row per symbol-session."""
    bars = adjusted_bars(store, symbols=symbols, start=start, end=end, series=series)
    if bars.is_empty():
        return bars
    cols = [c for c in ("open", "high", "low", "close", "prev_close") if f"adj_{c}" in bars.columns]
    bars = bars.with_columns(pl.col(f"adj_{c}").alias(c) for c in cols)
    keep = [
        c
        for c in ("symbol", "date", "open", "high", "low", "close", "prev_close", "band_pct", "series")
        if c in bars.columns
    ]
    return bars.select(keep).unique(["symbol", "date"], keep="first").sort("symbol", "date")


EQUAL_WEIGHT = "EQUAL-WEIGHT"
"""``benchmark.index = "equal-weight"``: the equal-weight average of every stock in the store."""


def equal_weight_index(bars: pl.DataFrame) -> pl.DataFrame:
    """An index whose daily close-to-close and open-to-close returns are the equal-weight means of
    the stocks' (from adjusted bars), rebased to 1,000: the market proxy of Brown and Warner (1985)
    when no index history covers the period."""
    daily = (
        bars.sort("symbol", "date")
        .with_columns(
            (pl.col("close") / pl.col("close").shift(1).over("symbol") - 1.0).alias("_cc"),
            (pl.col("close") / pl.col("open") - 1.0).alias("_oc"),
        )
        .group_by("date")
        .agg(pl.col("_cc").mean().fill_null(0.0), pl.col("_oc").mean().fill_null(0.0), pl.len().alias("n"))
        .sort("date")
    )
    close = pl.lit(1000.0) * (1.0 + pl.col("_cc")).cum_prod()
    return daily.select(
        pl.lit(EQUAL_WEIGHT).alias("index_name"),
        "date",
        (close / (1.0 + pl.col("_oc"))).alias("open"),
        close.alias("close"),
    )


def _index(store: SqlStore, name: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    if name == EQUAL_WEIGHT:  # every stock in the store, not only the study's
        return equal_weight_index(_bars(store, None, start, end))
    index = store.read("index_bars", where={"index_name": [name]}, order_by=("date",))
    index = index.filter(pl.col("date").is_between(start, end))
    if index.is_empty():
        known = store.query("SELECT DISTINCT index_name FROM index_bars").get_column("index_name").to_list()
        raise DataError(
            f"the store has no {name!r} index bars between {start} and {end}",
            field="benchmark.index",
            remedy=f"ingest the index's daily file (earnest ingest files), or use index = 'equal-weight'; "
            f"indices in the store: {known or 'none'}",
        )
    return index


def with_feature_fields(
    store: SqlStore,
    h: Hypothesis,
    events: pl.DataFrame,
    *,
    progress: Progress | None = None,
    extra: Sequence[str] = (),
) -> pl.DataFrame:
    """``events`` plus the registered feature outputs the selector names (and the ``extra`` names,
    e.g. a model's features) that are not event fields, each as known at the event's knowledge time
    (strict: only bars published before it) on corporate-action-adjusted prices. Events outside the
    hypothesis's period get nulls (never used)."""
    named = list(selector_fields(h.event.selector)) if h.event.selector else []
    wanted = [f for f in dict.fromkeys([*named, *extra]) if f not in events.columns]
    if not wanted:
        return events
    registry = default_registry()
    owners = {out: spec for spec in registry.specs for out in spec.outputs}
    specs = list({owners[f].name: owners[f] for f in wanted if f in owners}.values())
    if not specs:
        return events  # unknown names are reported by the selector with suggestions
    if progress:
        progress(f"features {', '.join(s.name for s in specs)} at each event's knowledge time")
    day = pl.col("knowledge_time").dt.convert_time_zone("Asia/Kolkata").dt.date()
    scope = events.with_row_index("_row").filter(day.is_between(h.period.start, h.period.end))
    pairs = scope.select("symbol", pl.col("knowledge_time").alias("as_of"))
    got = store_features_at(store, specs, pairs, adjusted=True, strict=True)
    outs = [f for f in wanted if f in owners and f in got.columns]
    values = pl.concat([scope.select("_row"), got.select(outs)], how="horizontal")
    return events.with_row_index("_row").join(values, on="_row", how="left").drop("_row")


def hypothesis_events(
    store: SqlStore,
    h: Hypothesis,
    *,
    progress: Callable[[str], None] | None = None,
    extra: Sequence[str] = (),
) -> pl.DataFrame:
    """Every event of ``h``'s type (for its universe's symbols) with the selector's (and ``extra``)
    feature fields as known at each event's knowledge time: what selection works on."""
    say = progress or (lambda _: None)
    if h.universe.index is not None:
        raise DataError(
            f"universe.index = {h.universe.index!r} needs the index's constituent history, "
            "which the store does not hold yet",
            field="universe.index",
            remedy="list the companies in universe.symbols (today's constituents would add survivorship bias)",
        )
    symbols = [s.upper() for s in h.universe.symbols] if h.universe.symbols else None
    say("events")
    if h.event.type == "results":
        events = results_events(store, symbols=symbols)
    else:
        events = custom_events(store, h.event.type, symbols=symbols)
    if events.is_empty():
        raise DataError(
            f"the store has no {h.event.type!r} events",
            field="event.type",
            remedy="ingest results listings (earnest ingest results) or custom events first",
        )
    return with_feature_fields(store, h, events, progress=say, extra=extra)


def load_study_data(store: SqlStore, h: Hypothesis, *, progress: Progress | None = None) -> StudyData:
    """Everything ``h`` needs from ``store``: its events, adjusted bars for their symbols over the
    period with room for the estimation window and the longest horizon, and the benchmark index."""
    say = progress or (lambda _: None)
    events = hypothesis_events(store, h, progress=say)
    symbols = [s.upper() for s in h.universe.symbols] if h.universe.symbols else None
    margin = (h.benchmark.estimation_sessions + h.benchmark.gap_sessions) * 2 + 30
    start = h.period.start - dt.timedelta(days=margin)
    end = h.period.end + dt.timedelta(days=max(h.horizons) * 2 + 30)
    say("bars")
    wanted = symbols or sorted(set(events.get_column("symbol").to_list()))
    bars = _bars(store, wanted, start, end, list(h.universe.series))
    index = _index(store, h.benchmark.index, start, end)
    cal = nse_calendar()
    return StudyData(events, bars, index, cal, data_hash=frame_hash(events, bars, index))


@dataclass(frozen=True)
class LabRun:
    """A study, the number of trials in its research question and where its report went."""

    study: Study
    n_trials: int
    json_path: Path | None
    html_path: Path | None


def run_hypothesis(
    store: SqlStore, h: Hypothesis, *, out_dir: Path | None = None, progress: Progress | None = None
) -> LabRun:
    """Run ``h`` on the store's data, record its variants in the trial ledger, adjust their p-values
    across every trial of the research question and write ``report.json``/``report.html``."""
    data = load_study_data(store, h, progress=progress)
    if progress:
        progress("study")
    study = run_study(h, data)
    record_trials(store, trial_rows(study))
    adj = adjusted_p(store, h.question)
    mapping = dict(
        zip(adj.get_column("trial_key").to_list(), adj.get_column("p_adjusted").to_list(), strict=True)
    )
    study = with_adjusted_p(study, mapping, adj.height)
    paths: tuple[Path | None, Path | None] = (None, None)
    if out_dir is not None:
        paths = write_study(study, out_dir)
    return LabRun(study, adj.height, *paths)


__all__ = [
    "ALIASES",
    "EQUAL_WEIGHT",
    "LabRun",
    "custom_events",
    "equal_weight_index",
    "load_study_data",
    "results_events",
    "run_hypothesis",
    "with_feature_fields",
]
