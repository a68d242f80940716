"""The quality gate: a parsed file in, an :class:`~earnest.store.IngestBatch` out.

Every data row of the file is accounted for: it is either in ``batch.tables[parsed.target]`` or
in ``batch.quarantine`` (the reader's rejects, unchanged, plus the gate's own, each with the
1-based line, the field, the rule and a reason naming the values). Findings that do not reject a
row (a row dated on a day that is not an NSE session, an instrument without an ISIN) go to
``batch.findings``. For equity bars the gate also resolves each row's instrument (see
:mod:`earnest.quality.instruments`) and adds an ``instruments`` row for every instrument the file
mentions, so no instrument ever disappears from the store.

:func:`load_context` reads what the rules need from the store (the instruments master, symbol
history, recent price bands, rows already stored for the file's dates); :func:`gate` itself is
pure and never touches the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from earnest.config import QualitySettings
from earnest.core import schemas
from earnest.core.calendar import IST, TradingCalendar, nse_calendar
from earnest.core.errors import DataError
from earnest.quality import rules
from earnest.quality.instruments import (
    instrument_rows,
    resolve_instruments,
    resolve_lazy,
    unresolved_findings,
)
from earnest.sources.base import ParsedFile
from earnest.store.base import KEYS, TABLES, IngestBatch, Store

BAND_LOOKBACK_DAYS = 45
"""Calendar days of price bands loaded before a file's first date (covers 15 sessions and holidays)."""

_DATE_IN_LIST_MAX = 31
"""Files spanning at most this many dates look up stored rows by date; longer ones by instrument."""

_DATE_LIST_MAX = 260
"""Up to this many dates (a year of sessions, so any group of daily files gated together) the
lookup by instrument names the dates; beyond, it takes their range. Daily files are grouped in
name order (day of month first), so a group's range spans the year and would load every row
stored for it."""

_ID_IN_LIST_MAX = 2000


@dataclass(frozen=True)
class GateContext:
    """What the gate knows besides the file: the store's instruments master and symbol history,
    price bands around the file's dates, rows already stored for the file's keys, and today's date
    (in India) for the future-date rule. Frames follow the schemas in :mod:`earnest.core.schemas`."""

    calendar: TradingCalendar
    instruments: pl.DataFrame
    symbol_changes: pl.DataFrame
    price_bands: pl.DataFrame
    stored: pl.DataFrame
    today: dt.date


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _file_dates(frame: pl.DataFrame, col: str) -> list[dt.date]:
    if col not in frame.columns:
        return []
    return sorted(frame.get_column(col).drop_nulls().unique().to_list())


def _query(store: Store, table: str, where: Sequence[tuple[str, Sequence[object]]]) -> pl.DataFrame:
    clauses = [sql for sql, _ in where]
    params = [p for _, ps in where for p in ps]
    sql = f"SELECT {', '.join(TABLES[table])} FROM {table}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return schemas.conform(store.query(sql, params), TABLES[table], name=table)


def _stored_bars(
    store: Store, frame: pl.DataFrame, instruments: pl.DataFrame, symbol_changes: pl.DataFrame
) -> pl.DataFrame:
    dates = _file_dates(frame, "date")
    exchanges = frame.get_column("exchange").drop_nulls().unique().to_list()
    if not dates or not exchanges:
        return schemas.empty(schemas.BARS)
    where: list[tuple[str, Sequence[object]]] = [(f"exchange IN ({_marks(len(exchanges))})", exchanges)]
    if len(dates) <= _DATE_LIST_MAX:
        where.append((f"date IN ({_marks(len(dates))})", dates))
    else:
        where.append(("date BETWEEN ? AND ?", (dates[0], dates[-1])))
    if len(dates) > _DATE_IN_LIST_MAX:
        resolved = resolve_instruments(frame, instruments=instruments, symbol_changes=symbol_changes)
        ids = resolved.get_column("instrument_id").drop_nulls().unique().to_list()
        if len(ids) <= _ID_IN_LIST_MAX:
            where.append((f"instrument_id IN ({_marks(len(ids))})", ids) if ids else ("1 = 0", ()))
    return _query(store, "bars", where)


def _recent_bands(store: Store, frame: pl.DataFrame) -> pl.DataFrame:
    """Bands that can apply to the file's rows: per (symbol, series), the latest one in force on
    the file's first date (if at most :data:`BAND_LOOKBACK_DAYS` old) and any later ones."""
    dates = _file_dates(frame, "date")
    if not dates:
        return schemas.empty(schemas.PRICE_BANDS)
    start = dates[0] - dt.timedelta(days=BAND_LOOKBACK_DAYS)
    cols = ", ".join(schemas.PRICE_BANDS)
    filters = "effective_date BETWEEN ? AND ?"
    params: list[object] = [start, dates[-1]]
    symbols = frame.get_column("symbol").drop_nulls().unique().to_list()
    if len(symbols) <= 50:
        filters += f" AND symbol IN ({_marks(len(symbols))})" if symbols else " AND 1 = 0"
        params += symbols
    sql = (
        f"SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY symbol, series "
        f"ORDER BY effective_date DESC) AS rn FROM price_bands WHERE {filters} AND effective_date <= ?) t "
        f"WHERE rn = 1 UNION ALL SELECT {cols} FROM price_bands WHERE {filters} AND effective_date > ?"
    )
    got = store.query(sql, [*params, dates[0], *params, dates[0]])
    return schemas.conform(got, schemas.PRICE_BANDS, name="price_bands")


def load_context(store: Store, parsed: ParsedFile, *, calendar: TradingCalendar | None = None) -> GateContext:
    """Read from ``store`` what :func:`gate` needs for ``parsed``.

    Equity bars and corporate actions need the symbol history, and the instruments master of the
    file's exchanges when some row lacks an ISIN (rows with one resolve without it); only equity
    bars need price bands and stored rows (for the band and conflict rules). Other targets get
    empty frames, which keeps loading cheap.
    """
    frame = parsed.frame
    instruments, symbol_changes = schemas.empty(schemas.INSTRUMENTS), schemas.empty(schemas.SYMBOL_CHANGES)
    bands, stored = schemas.empty(schemas.PRICE_BANDS), schemas.empty(TABLES.get(parsed.target, schemas.BARS))
    if parsed.target in {"bars", "corporate_actions"} and frame.height:
        symbol_changes = store.read("symbol_changes")
        lacking = "isin" not in frame.columns or frame.get_column("isin").null_count() > 0
        if lacking:
            exchanges = frame.get_column("exchange").drop_nulls().unique().to_list()
            instruments = store.read("instruments", where={"exchange": exchanges})
    if parsed.target == "bars" and frame.height:
        bands = _recent_bands(store, frame)
        stored = _stored_bars(store, frame, instruments, symbol_changes)
    return GateContext(
        calendar=calendar or nse_calendar(),
        instruments=instruments,
        symbol_changes=symbol_changes,
        price_bands=bands,
        stored=stored,
        today=dt.datetime.now(IST).date(),
    )


# ---- quarantine and findings -------------------------------------------------------------------


def _quarantine(
    bad: pl.DataFrame, parsed: ParsedFile, schema: schemas.Schema, now: dt.datetime
) -> pl.DataFrame:
    """Quarantine records for rows marked by the rules; ``raw`` lists the row's values."""
    if bad.is_empty():
        return schemas.empty(schemas.QUARANTINE)
    shown = [
        c for c in schema if c in bad.columns and c not in {"knowledge_time", "source_file", "source_row"}
    ]
    raw = pl.concat_str([pl.lit(f"{c}=") + rules.show(c) for c in shown], separator=",")
    line = pl.col("source_row") if "source_row" in bad.columns else pl.lit(None, dtype=pl.Int64)
    out = bad.select(
        pl.lit(parsed.name).alias("source_file"),
        pl.lit(parsed.sha256).alias("source_sha256"),
        line.alias("source_row"),
        pl.lit(parsed.target).alias("target"),
        pl.col("_field").alias("field"),
        pl.col("_rule").alias("rule"),
        pl.col("_reason").alias("reason"),
        raw.alias("raw"),
        pl.lit(now, dtype=schemas.UTC_TS).alias("quarantined_at"),
    )
    return schemas.conform(out, schemas.QUARANTINE, name="quarantine")


def session_findings(
    frame: pl.DataFrame, calendar: TradingCalendar, *, source_file: str, now: dt.datetime
) -> pl.DataFrame:
    """One ``not_a_session`` warning per date of ``frame`` that is not an NSE session. Such rows
    are kept: NSE holds special sessions (Muhurat, Saturday drills) a calendar may lack."""
    dates = _file_dates(frame, "date")
    if not dates:
        return schemas.empty(schemas.FINDINGS)
    sessions = set(calendar.sessions_between(dates[0], dates[-1]))
    odd = [d for d in dates if d not in sessions]
    if not odd:
        return schemas.empty(schemas.FINDINGS)
    out = pl.DataFrame({"date": odd}, schema={"date": pl.Date}).select(
        pl.lit("not_a_session").alias("rule"),
        pl.lit("warning").alias("severity"),
        "date",
        pl.format(
            "{} is not an NSE session in the calendar; rows kept (special session?)", pl.col("date")
        ).alias("detail"),
        pl.lit(source_file).alias("source_file"),
        pl.lit(now, dtype=schemas.UTC_TS).alias("found_at"),
    )
    return schemas.conform(out, schemas.FINDINGS, name="findings")


# ---- per-target gates --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Gated:
    good: pl.DataFrame
    bad: pl.DataFrame
    extra_tables: dict[str, pl.DataFrame]
    findings: list[pl.DataFrame]


def _check_bars(
    frame: pl.DataFrame, ctx: GateContext, settings: QualitySettings
) -> tuple[rules.Checked, pl.DataFrame]:
    """Run the bar rules over ``frame``; returns the checked rows and the resolved rows dated up
    to today (those that make instrument rows and findings)."""
    rows = resolve_lazy(frame, instruments=ctx.instruments, symbol_changes=ctx.symbol_changes)
    checks = list(rules.bar_checks(ctx.today))
    dates = _file_dates(frame, "date")
    if not ctx.price_bands.is_empty() and dates:
        rows = rules.with_band(rows, ctx.price_bands, ctx.calendar, dates=dates)
        checks.append(
            rules.band_check(
                tolerance_pct=settings.band_tolerance_pct, max_age_sessions=settings.band_max_age_sessions
            )
        )
    if not ctx.stored.is_empty():
        rows = rules.with_stored(rows, ctx.stored, schemas.BAR_KEY)
        checks.extend(rules.conflict_checks())
    checked = rules.run_checks(rows, checks, key=schemas.BAR_KEY, target="bars")
    seen = checked.rows
    if dates and dates[-1] > ctx.today:
        seen = seen.filter(pl.col("date") <= ctx.today)
    return checked, seen


def _gate_bars(parsed: ParsedFile, ctx: GateContext, settings: QualitySettings, now: dt.datetime) -> _Gated:
    checked, seen = _check_bars(parsed.frame, ctx, settings)
    findings = [
        session_findings(parsed.frame, ctx.calendar, source_file=parsed.name, now=now),
        unresolved_findings(seen, source_file=parsed.name, found_at=now),
    ]
    tables = {"instruments": instrument_rows(seen, source=parsed.kind)}
    return _Gated(checked.good, checked.bad, tables, findings)


def _gate_simple(parsed: ParsedFile, ctx: GateContext, now: dt.datetime) -> _Gated:
    target = parsed.target
    rows = parsed.frame.lazy()
    checks: Sequence[rules.Check]
    if target == "derivative_bars":
        checks = rules.derivative_checks(ctx.today)
    elif target == "index_bars":
        checks = rules.index_checks(ctx.today)
    elif target == "price_bands":
        checks = rules.band_checks()
    elif target == "corporate_actions":
        rows = resolve_lazy(
            parsed.frame, instruments=ctx.instruments, symbol_changes=ctx.symbol_changes, date_col="ex_date"
        )
        checks = rules.action_checks()
    else:
        if target == "instruments":
            fallback = pl.concat_str([pl.col("exchange"), pl.lit(":"), pl.col("symbol")])
            rows = rows.with_columns(pl.coalesce("instrument_id", "isin", fallback).alias("instrument_id"))
        checks = rules.master_checks(target)
    checked = rules.run_checks(rows, checks, key=KEYS[target], target=target)
    findings = []
    if target in {"derivative_bars", "index_bars"}:
        findings.append(session_findings(parsed.frame, ctx.calendar, source_file=parsed.name, now=now))
    return _Gated(checked.good, checked.bad, {}, findings)


def gate(
    parsed: ParsedFile, ctx: GateContext, *, settings: QualitySettings, code_version: str
) -> IngestBatch:
    """Check every row of ``parsed`` and build the batch the store writes atomically.

    Raises :class:`DataError` for a target the gate does not know, or (a bug) if any row would be
    lost on the way.
    """
    if parsed.target not in KEYS or parsed.target not in TABLES:
        raise DataError(
            f"no quality rules for target {parsed.target!r}",
            remedy="this is a bug in the reader that produced the file; please report it",
            file=parsed.name,
        )
    now = dt.datetime.now(dt.UTC)
    gated = (
        _gate_bars(parsed, ctx, settings, now) if parsed.target == "bars" else _gate_simple(parsed, ctx, now)
    )
    return _batch(parsed, gated, now, code_version)


def _batch(parsed: ParsedFile, gated: _Gated, now: dt.datetime, code_version: str) -> IngestBatch:
    """The file's batch from its gated rows; raises (a bug) if any row would be lost."""
    schema = TABLES[parsed.target]
    output = schemas.conform(gated.good, schema, name=parsed.name)
    quarantine = pl.concat(
        [
            schemas.conform(parsed.rejects, schemas.QUARANTINE, name=parsed.name),
            _quarantine(gated.bad, parsed, schema, now),
        ]
    )
    if output.height + quarantine.height != parsed.rows_total:
        raise DataError(
            f"the gate accounted for {output.height} kept + {quarantine.height} quarantined rows of "
            f"{parsed.rows_total}",
            remedy="this is a bug in earnest's quality gate; please report it with the file",
            file=parsed.name,
        )
    tables = {parsed.target: output, **gated.extra_tables}
    findings = pl.concat([schemas.empty(schemas.FINDINGS), *gated.findings])
    return IngestBatch(
        sha256=parsed.sha256,
        file_name=parsed.name,
        kind=parsed.kind,
        rows_total=parsed.rows_total,
        tables=tables,
        quarantine=quarantine,
        findings=findings,
        code_version=code_version,
    )


_FILE = "__file"


def combined(parsed_files: Sequence[ParsedFile]) -> ParsedFile:
    """Several equity-bars files as one, to load one :class:`GateContext` for all of them."""
    first = parsed_files[0]
    frame = pl.concat([p.frame for p in parsed_files], how="diagonal_relaxed")
    return ParsedFile(
        name=f"{first.name} and {len(parsed_files) - 1} more",
        sha256=first.sha256,
        kind=first.kind,
        target=first.target,
        rows_total=frame.height,
        frame=frame,
        rejects=schemas.empty(schemas.QUARANTINE),
    )


def gate_many(
    parsed_files: Sequence[ParsedFile], ctx: GateContext, *, settings: QualitySettings, code_version: str
) -> list[IngestBatch]:
    """:func:`gate` for several equity-bars files of distinct sessions in one pass of the rules.

    Same batches as gating the files one by one with a context loaded for all of them (``ctx``
    from :func:`load_context` on :func:`combined`): no key can repeat across files of distinct
    sessions, and each row's checks see only its own row, bands and stored rows. The instrument
    rows for all files go with the first file's batch (they are merged, never counted).
    """
    if len(parsed_files) == 1 or any(p.target != "bars" for p in parsed_files):
        return [gate(p, ctx, settings=settings, code_version=code_version) for p in parsed_files]
    now = dt.datetime.now(dt.UTC)
    frame = pl.concat(
        [p.frame.with_columns(pl.lit(i, dtype=pl.Int32).alias(_FILE)) for i, p in enumerate(parsed_files)],
        how="diagonal_relaxed",
    )
    checked, seen = _check_bars(frame, ctx, settings)
    goods = checked.good.partition_by(_FILE, as_dict=True)
    bads = checked.bad.partition_by(_FILE, as_dict=True) if checked.bad.height else {}
    seens = seen.partition_by(_FILE, as_dict=True)
    batches = []
    for i, parsed in enumerate(parsed_files):
        seen_i = seens.get((i,), seen.clear())
        gated = _Gated(
            goods.get((i,), checked.good.clear()),
            bads.get((i,), checked.bad.clear()),
            {"instruments": instrument_rows(seen, source=parsed.kind)} if i == 0 else {},
            [
                session_findings(parsed.frame, ctx.calendar, source_file=parsed.name, now=now),
                unresolved_findings(seen_i, source_file=parsed.name, found_at=now),
            ],
        )
        batches.append(_batch(parsed, gated, now, code_version))
    return batches


__all__ = [
    "BAND_LOOKBACK_DAYS",
    "GateContext",
    "combined",
    "gate",
    "gate_many",
    "load_context",
    "session_findings",
]
