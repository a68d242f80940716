"""The daily pipeline: fetch -> ingest -> quality -> events -> features -> score -> alerts.

``earnest daily [--date D]`` runs the stages for one NSE trading day, in order. Each stage is
idempotent on its own (an ingested file is recognised by its content hash, features are
incremental, scores and alerts are upserted by key), and the stage log ``pipeline_runs`` records
per (day, stage) whether it is ``running``, ``done``, ``failed`` or ``skipped``:

- a re-run skips the stages that are ``done`` for that day and runs the others, so a run killed at
  any point (even half-way through a stage, whose row then still says ``running``) is finished by
  running it again, with the same end state as one clean run (tested by killing a real process
  at every stage, ``tests/integration/test_daily_pipeline.py``);
- ``skipped`` (e.g. no production model yet) is not ``done``: the next run tries again;
- ``force=True`` re-runs every stage (each is idempotent, so nothing is duplicated);
- a day that is not an NSE session is not run at all: the report says why.

Stages are plain functions ``(DailyContext) -> StageOutcome``; the scoring and alerting stages are
given by the caller (the CLI wires the model registry and the alert channels), so this module
depends on no model or channel itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from earnest.config import DownloadSettings, QualitySettings
from earnest.core.calendar import EOD_PUBLISHED, IST, TradingCalendar, nse_calendar
from earnest.core.errors import DataError, EarnestError
from earnest.events import load_events
from earnest.sources import download as dl
from earnest.sources.registry import iter_input_files
from earnest.store import SqlStore
from earnest.workflows.features import build as build_features
from earnest.workflows.ingest import ingest_paths

__all__ = [
    "STAGES",
    "DailyContext",
    "DailyReport",
    "StageError",
    "StageOutcome",
    "day_events",
    "default_day",
    "run_daily",
    "stage_log",
]

STAGES: tuple[str, ...] = ("fetch", "ingest", "quality", "events", "features", "score", "alerts")
"""The stages in the order they run."""

_TABLE = "pipeline_runs"


class StageError(EarnestError):
    """A stage of the daily pipeline could not finish; the day can be re-run once it is fixed."""


@dataclass(frozen=True)
class StageOutcome:
    """What a stage did: ``status`` ``done`` or ``skipped`` (with ``reason``) and its ``detail``."""

    status: str = "done"
    detail: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass
class DailyContext:
    """Everything the stages read: the store, the day, where files come from, settings."""

    store: SqlStore
    day: dt.date
    calendar: TradingCalendar
    cache_dir: Path
    inbox: Sequence[Path] | None = None
    products: Sequence[str] = dl.DEFAULT_PRODUCTS
    download: DownloadSettings = field(default_factory=DownloadSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)
    paths: list[Path] = field(default_factory=list)
    events: pl.DataFrame | None = None

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """The day's knowledge window (UTC): after the previous session's end-of-day publication
        up to this session's. Events known in it are the day's news."""
        prev = self.calendar.previous_session(self.day)
        return _eod(prev), _eod(self.day)


Stage = Callable[[DailyContext], StageOutcome]
Hook = Callable[[str, str], None]


def _eod(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, EOD_PUBLISHED, tzinfo=IST).astimezone(dt.UTC)


def default_day(now: dt.datetime | None = None, calendar: TradingCalendar | None = None) -> dt.date:
    """The latest NSE session whose end-of-day files are published by ``now`` (default: now)."""
    cal = calendar or nse_calendar()
    now_ist = (now or dt.datetime.now(dt.UTC)).astimezone(IST)
    day = now_ist.date()
    if cal.is_session(day) and now_ist.time() >= EOD_PUBLISHED:
        return day
    return cal.previous_session(day)


# ---- the stages ----------------------------------------------------------------------------------
def fetch(ctx: DailyContext) -> StageOutcome:
    """The day's files: every file in the inbox folders, or the NSE archive files (cached)."""
    if ctx.inbox is not None:
        ctx.paths = sorted(iter_input_files(list(ctx.inbox)))
        return StageOutcome(detail={"source": "inbox", "files": [p.name for p in ctx.paths]})
    report = dl.download_range(
        list(ctx.products),
        ctx.day,
        ctx.day,
        cache_dir=ctx.cache_dir,
        settings=ctx.download,
        calendar=ctx.calendar,
    )
    if report.failed():
        names = ", ".join(f"{r.product} ({r.reason})" for r in report.failed())
        raise StageError(
            f"could not download {names} for {ctx.day}",
            remedy="re-run `earnest daily` later; downloaded files are cached",
        )
    ctx.paths = report.paths()
    return StageOutcome(detail={"source": "nse", "files": [p.name for p in ctx.paths]})


def ingest(ctx: DailyContext) -> StageOutcome:
    """Ingest the fetched files through the quality gate (known files are no-ops)."""
    if not ctx.paths:
        fetch(ctx)  # a resumed run: the fetch stage was done earlier, list its files again
    report = ingest_paths(ctx.store, ctx.paths, settings=ctx.quality, calendar=ctx.calendar)
    if report.failed:
        names = ", ".join(f"{f.name}: {f.message}" for f in report.failed[:5])
        raise StageError(
            f"{len(report.failed)} file(s) failed to ingest: {names}",
            remedy="fix or remove the files (the store is unchanged for them) and re-run",
        )
    return StageOutcome(detail={"files": len(ctx.paths), **report.totals()})


def quality(ctx: DailyContext) -> StageOutcome:
    """The day is usable: equity bars are stored for it. Counts the rows the gate quarantined from
    the day's files (they are kept with their reasons, see ``earnest quality report``)."""
    n_bars = ctx.store.query("SELECT count(*) AS n FROM bars WHERE date = ?", (ctx.day,)).item(0, 0)
    if not n_bars:
        raise StageError(
            f"no equity bars are stored for {ctx.day}",
            remedy="the bhavcopy for the day is missing: check the fetch stage's files and re-run",
        )
    if not ctx.paths:
        fetch(ctx)
    names = sorted({p.name for p in ctx.paths})
    quarantined = 0
    if names:
        marks = ", ".join("?" for _ in names)
        quarantined = int(
            ctx.store.query(
                f"SELECT count(*) AS n FROM quarantine WHERE source_file IN ({marks})", tuple(names)
            ).item(0, 0)
        )
    return StageOutcome(detail={"bars": int(n_bars), "quarantined": quarantined})


def day_events(ctx: DailyContext) -> pl.DataFrame:
    """The results events that became known during the day (its knowledge window), latest first
    version; computed once per run (a resumed run computes them again from the store)."""
    if ctx.events is None:
        start, end = ctx.window
        found = load_events(ctx.store, calendar=ctx.calendar)
        if found.height:
            found = found.filter((pl.col("knowledge_time") > start) & (pl.col("knowledge_time") <= end))
        ctx.events = found
    return ctx.events


def events(ctx: DailyContext) -> StageOutcome:
    """The results events that became known during the day."""
    found = day_events(ctx)
    symbols = sorted(set(found.get_column("symbol").to_list())) if found.height else []
    return StageOutcome(detail={"events": found.height, "symbols": symbols[:50]})


def features(ctx: DailyContext) -> StageOutcome:
    """Materialise features for the new sessions (incremental)."""
    report = build_features(ctx.store)
    return StageOutcome(
        detail={"values": report.total_rows, "stored": report.rows_inserted, "skipped": report.skipped}
    )


def _no_scorer(ctx: DailyContext) -> StageOutcome:
    return StageOutcome(status="skipped", reason="no scorer configured (no production model)")


def _no_alerts(ctx: DailyContext) -> StageOutcome:
    return StageOutcome(status="skipped", reason="no alert channel configured")


# ---- the runner ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DailyReport:
    """One invocation: the day, and per stage what happened this time (``ran``, ``already done``,
    ``skipped: reason``) plus the stage details."""

    day: dt.date
    trading_day: bool
    stages: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """Every stage is done or skipped."""
        return all(s["status"] in {"done", "skipped"} for s in self.stages)


def stage_log(store: SqlStore, day: dt.date | None = None) -> pl.DataFrame:
    """The stage log, for one day or all days."""
    where = {"run_date": [day]} if day is not None else None
    return store.read(_TABLE, where=where, order_by=("run_date", "stage"))


def _record(store: SqlStore, row: dict[str, Any]) -> None:
    store.upsert(_TABLE, pl.DataFrame([row]))


def _previous(store: SqlStore, day: dt.date) -> dict[str, dict[str, Any]]:
    return {r["stage"]: r for r in stage_log(store, day).to_dicts()}


def _run_stage(
    ctx: DailyContext, name: str, fn: Stage, prev: Mapping[str, Any] | None, hook: Hook | None
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    attempts = int(prev["attempts"]) + 1 if prev else 1
    row = {
        "run_date": ctx.day,
        "stage": name,
        "status": "running",
        "attempts": attempts,
        "started_at": now,
        "finished_at": None,
        "detail_json": "{}",
        "error": None,
    }
    _record(ctx.store, row)
    if hook is not None:
        hook(name, "started")
    try:
        outcome = fn(ctx)
    except EarnestError as exc:
        _record(
            ctx.store, {**row, "status": "failed", "finished_at": dt.datetime.now(dt.UTC), "error": str(exc)}
        )
        raise
    except Exception as exc:
        _record(
            ctx.store, {**row, "status": "failed", "finished_at": dt.datetime.now(dt.UTC), "error": repr(exc)}
        )
        raise StageError(
            f"stage {name} failed on {ctx.day}: {exc!r}", remedy="fix the cause and re-run"
        ) from exc
    if hook is not None:
        hook(name, "finished")
    detail = dict(outcome.detail)
    if outcome.reason:
        detail["reason"] = outcome.reason
    _record(
        ctx.store,
        {
            **row,
            "status": outcome.status,
            "finished_at": dt.datetime.now(dt.UTC),
            "detail_json": json.dumps(detail, default=str, sort_keys=True),
        },
    )
    return {"stage": name, "status": outcome.status, "ran": True, "detail": detail}


def run_daily(
    ctx: DailyContext,
    *,
    score: Stage | None = None,
    alerts: Stage | None = None,
    force: bool = False,
    only: Sequence[str] | None = None,
    hook: Hook | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> DailyReport:
    """Run the day's stages in order, skipping those already done (unless ``force``).

    ``score`` and ``alerts`` are the scoring and alerting stages (skipped when not given);
    ``only`` limits the run to some stages; ``hook(stage, "started" | "finished")`` is called
    around each stage's work (tests use it to kill the process at every point).
    A failing stage is recorded as ``failed`` and raises :class:`StageError`; later stages do not run.
    """
    if not ctx.calendar.is_session(ctx.day):
        return DailyReport(ctx.day, False, [])
    unknown = sorted(set(only or ()) - set(STAGES))
    if unknown:
        raise DataError(
            f"unknown stage(s) {', '.join(unknown)}", remedy=f"use {', '.join(STAGES)}", field="only"
        )
    table: dict[str, Stage] = {
        "fetch": fetch,
        "ingest": ingest,
        "quality": quality,
        "events": events,
        "features": features,
        "score": score or _no_scorer,
        "alerts": alerts or _no_alerts,
    }
    prev = _previous(ctx.store, ctx.day)
    out: list[dict[str, Any]] = []
    chosen = [s for s in STAGES if not only or s in only]
    for i, name in enumerate(chosen):
        if progress is not None:
            progress(i, len(chosen), name)
        before = prev.get(name)
        if before is not None and before["status"] == "done" and not force:
            out.append(
                {"stage": name, "status": "done", "ran": False, "detail": json.loads(before["detail_json"])}
            )
            continue
        out.append(_run_stage(ctx, name, table[name], before, hook))
    if progress is not None:
        progress(len(chosen), len(chosen), "done")
    return DailyReport(ctx.day, True, out)
