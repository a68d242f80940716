"""Commands that load and read back data: ingest, show, quality, actions, store."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from earnest.cli._common import (
    Fmt,
    actions_app,
    console,
    emit,
    ingest_app,
    opened_store,
    parse_date,
    parse_instant,
    progress_bar,
    quality_app,
    settings,
    show_app,
    store_app,
)
from earnest.core.errors import NotFoundError


# ---- ingest ------------------------------------------------------------------------------------
def _ingest(paths: list[Path], *, strict: bool, reconcile: bool) -> None:
    from earnest.workflows.ingest import ingest_paths
    from earnest.workflows.render import render_ingest

    s = settings()
    with opened_store(s) as store, progress_bar("ingest") as update:
        report = ingest_paths(
            store, paths, settings=s.quality, progress=update, strict=strict, run_reconcile=reconcile
        )
    render_ingest(console, report)
    if report.failed:
        raise typer.Exit(3)


@ingest_app.command("files")
def ingest_files(
    paths: Annotated[list[Path], typer.Argument(help="files, folders or zips; formats are auto-detected")],
    strict: Annotated[bool, typer.Option(help="fail on files no reader recognises")] = False,
    reconcile: Annotated[
        bool, typer.Option(help="infer corporate actions and run series checks afterwards")
    ] = True,
) -> None:
    """Ingest exchange files (bhavcopies, bands, indices, masters, corporate actions, generic CSV)."""
    _ingest(paths, strict=strict, reconcile=reconcile)


@ingest_app.command("csv")
def ingest_csv(
    paths: Annotated[list[Path], typer.Argument(help="CSV files in the generic layout (docs/formats.md)")],
    reconcile: Annotated[
        bool, typer.Option(help="infer corporate actions and run series checks afterwards")
    ] = True,
) -> None:
    """Ingest generic CSV price files: date,symbol,open,high,low,close,volume[,isin,series,prev_close,...]."""
    _ingest(paths, strict=True, reconcile=reconcile)


@ingest_app.command("nse")
def ingest_nse(
    date_from: Annotated[str, typer.Option("--from", help="first session, YYYY-MM-DD")],
    date_to: Annotated[
        str | None, typer.Option("--to", help="last session, YYYY-MM-DD (default: --from)")
    ] = None,
    products: Annotated[
        list[str] | None,
        typer.Option("--product", help="products to fetch (repeatable); default: bhavcopy, full, pr"),
    ] = None,
) -> None:
    """Download NSE archive files for a date range (cached, resumable), then ingest them."""
    from earnest.core.calendar import nse_calendar
    from earnest.sources import download as dl
    from earnest.workflows.render import render_download

    s = settings()
    start = parse_date(date_from, "--from")
    end = parse_date(date_to, "--to") or start
    if start is None or end is None:  # pragma: no cover - --from is required
        raise typer.BadParameter("--from is required")
    chosen = products or list(dl.DEFAULT_PRODUCTS)
    with progress_bar("download") as update:
        report = dl.download_range(
            chosen,
            start,
            end,
            cache_dir=s.cache_dir,
            calendar=nse_calendar(),
            settings=s.download,
            progress=update,
        )
    render_download(console, report)
    paths = report.paths()
    if paths:
        _ingest(paths, strict=False, reconcile=True)
    if report.failed():
        raise typer.Exit(5)


@ingest_app.command("results")
def ingest_results(
    symbols: Annotated[str, typer.Option("--symbols", help="comma-separated NSE symbols, e.g. TCS,INFY")],
    date_from: Annotated[str, typer.Option("--from", help="first broadcast date, YYYY-MM-DD")],
    date_to: Annotated[
        str | None, typer.Option("--to", help="last broadcast date, YYYY-MM-DD (default: today)")
    ] = None,
    period: Annotated[str, typer.Option(help="Quarterly, Half-Yearly, Annual or Others")] = "Quarterly",
) -> None:
    """Download NSE results listings and their XBRL filings (cached, resumable), then ingest them."""
    from earnest.sources.results_download import download_results
    from earnest.workflows.render import render_download

    s = settings()
    start = parse_date(date_from, "--from")
    end = parse_date(date_to, "--to")
    if start is None:  # pragma: no cover - --from is required
        raise typer.BadParameter("--from is required")
    wanted = [x.strip().upper() for x in symbols.split(",") if x.strip()]
    if not wanted:
        raise typer.BadParameter("--symbols needs at least one symbol")
    with progress_bar("results") as update:
        report = download_results(
            wanted, start, end, cache_dir=s.cache_dir, settings=s.download, period=period, progress=update
        )
    render_download(console, report)
    paths = report.paths()
    if paths:
        _ingest(paths, strict=False, reconcile=False)
    if report.failed():
        raise typer.Exit(5)


# ---- show --------------------------------------------------------------------------------------
@show_app.command("bars")
def show_bars(
    symbol: Annotated[list[str], typer.Option("--symbol", "-s", help="symbol(s) or ISIN(s), repeatable")],
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    adjusted: Annotated[bool, typer.Option(help="adjust for splits and bonuses")] = False,
    as_of: Annotated[str | None, typer.Option(help="point in time for the adjustment, YYYY-MM-DD")] = None,
    fmt: Fmt = "table",
) -> None:
    """Print stored daily bars, raw or corporate-action adjusted (optionally as of a date)."""
    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    with opened_store() as store:
        isins = [
            s for s in symbol if len(s) == 12 and s[:2].isalpha() and s[2:].isalnum() and s[-1].isdigit()
        ]
        names = [s.upper() for s in symbol if s not in isins]
        if adjusted:
            from earnest.marketdata.adjust import adjusted_bars

            when = None
            if as_of is not None:
                day = parse_date(as_of, "--as-of")
                assert day is not None
                when = dt.datetime.combine(day, dt.time(23, 59, 59), dt.UTC)
            frames = []
            if names:
                frames.append(adjusted_bars(store, symbols=names, start=start, end=end, as_of=when))
            if isins:
                frames.append(adjusted_bars(store, instrument_ids=isins, start=start, end=end, as_of=when))
            bars = pl.concat(frames, how="diagonal_relaxed")
            cols = [
                "symbol",
                "series",
                "date",
                "adj_open",
                "adj_high",
                "adj_low",
                "adj_close",
                "adj_volume",
                "adj_factor",
                "close",
            ]
        else:
            frames = []
            if names:
                frames.append(store.bars(symbols=names, start=start, end=end))
            if isins:
                frames.append(store.bars(instrument_ids=isins, start=start, end=end))
            bars = pl.concat(frames)
            cols = [
                "symbol",
                "series",
                "date",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "delivery_qty",
                "source_file",
            ]
    if bars.is_empty():
        raise NotFoundError(
            f"no bars stored for {', '.join(symbol)}"
            + (f" between {start} and {end}" if start or end else ""),
            remedy="check the symbol with `earnest store info` or ingest data first",
        )
    emit(
        bars.select([c for c in cols if c in bars.columns]),
        fmt,
        title="adjusted bars" if adjusted else "bars",
    )


@show_app.command("events")
def show_events(
    symbol: Annotated[list[str], typer.Option("--symbol", "-s", help="symbol(s), repeatable")],
    as_of: Annotated[
        str | None,
        typer.Option(help="point in time: YYYY-MM-DD (end of that day, IST) or an ISO time with offset"),
    ] = None,
    intraday: Annotated[
        str, typer.Option(help="results released in session: next_open (default) or same_close")
    ] = "next_open",
    all_versions: Annotated[bool, typer.Option(help="list every version, not only the latest known")] = False,
    fmt: Fmt = "table",
) -> None:
    """Print results events: broadcast time, first tradable session, version and key figures."""
    from earnest.core.calendar import IntradayRule
    from earnest.workflows.events import event_table

    when = parse_instant(as_of, "--as-of") if as_of is not None else None
    try:
        rule = IntradayRule(intraday)
    except ValueError:
        raise typer.BadParameter("--intraday must be next_open or same_close") from None
    with opened_store() as store:
        table = event_table(
            store,
            symbols=[x.upper() for x in symbol],
            as_of=when,
            intraday=rule,
            latest_only=not all_versions,
        )
    if table.is_empty():
        raise NotFoundError(
            f"no results events stored for {', '.join(symbol)}" + (f" known by {when}" if when else ""),
            remedy="ingest results first: `earnest ingest results --symbols ... --from ...` or "
            "`earnest ingest files` on listings and XBRL files",
        )
    emit(table, fmt, title="results events" + (f" as of {when}" if when else ""))


# ---- quality -----------------------------------------------------------------------------------
@quality_app.command("report")
def quality_report_cmd(
    file: Annotated[str | None, typer.Option(help="only this source file")] = None,
    limit: Annotated[int, typer.Option(help="how many quarantined rows and findings to list")] = 20,
    fmt: Fmt = "table",
) -> None:
    """What the quality gate quarantined and flagged, by file, rule and row."""
    from earnest.quality.report import quality_report
    from earnest.workflows.render import render_quality

    with opened_store() as store:
        report = quality_report(store, file=file, limit=limit)
    if fmt == "json":
        sys.stdout.write(json.dumps(report.to_dict(), default=str, indent=1) + "\n")
    else:
        render_quality(console, report)


# ---- corporate actions ---------------------------------------------------------------------------
@actions_app.command("list")
def actions_list(
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    status: Annotated[str | None, typer.Option(help="confirmed, inferred or rejected")] = None,
    fmt: Fmt = "table",
) -> None:
    """List corporate actions (recorded and inferred)."""
    where: dict[str, Any] = {}
    if symbol:
        where["symbol"] = symbol.upper()
    if status:
        where["status"] = status
    with opened_store() as store:
        frame = store.read("corporate_actions", where=where, order_by=["ex_date", "symbol"])
    cols = [
        "action_id",
        "symbol",
        "series",
        "ex_date",
        "action_type",
        "price_factor",
        "source",
        "status",
        "purpose",
    ]
    emit(frame.select(cols), fmt, title="corporate actions")


def _set_status(ids: list[str], status: str) -> None:
    with opened_store() as store:
        n = store.set_action_status(ids, status)
    if n != len(set(ids)):
        raise NotFoundError(
            f"{len(set(ids)) - n} of the action ids were not found", remedy="see `earnest actions list`"
        )
    console.print(f"{n} action(s) marked {status}")


@actions_app.command("confirm")
def actions_confirm(ids: Annotated[list[str], typer.Argument(help="action ids")]) -> None:
    """Confirm inferred actions: they stay in the adjustment."""
    _set_status(ids, "confirmed")


@actions_app.command("reject")
def actions_reject(ids: Annotated[list[str], typer.Argument(help="action ids")]) -> None:
    """Reject inferred actions: they leave the adjustment and are never inferred again."""
    _set_status(ids, "rejected")


# ---- store ------------------------------------------------------------------------------------
@store_app.command("info")
def store_info(fmt: Fmt = "table") -> None:
    """Where the store is, its schema version and how many rows each table holds."""
    from earnest.store import TABLES

    s = settings()
    with opened_store(s) as store:
        counts = {t: store.count(t) for t in TABLES}
        version = store.schema_version()
    frame = pl.DataFrame({"table": list(counts), "rows": list(counts.values())})
    if fmt == "table":
        console.print(f"store [bold]{s.store_url}[/] schema version {version}")
    emit(frame, fmt)


@store_app.command("migrate")
def store_migrate() -> None:
    """Apply pending schema migrations."""
    with opened_store() as store:
        console.print(f"schema version {store.schema_version()}")
