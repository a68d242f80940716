"""The ``earnest`` command line: the edge that reads argv, the environment and the user's files.

Errors are mapped to exit codes and clear messages in one place (:func:`main`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from earnest.config import Settings, load_settings
from earnest.core.errors import EarnestError, NotFoundError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="earnest: honest, point-in-time event-driven research on NSE/BSE data.",
)
ingest_app = typer.Typer(no_args_is_help=True, help="Load exchange files into the store (quality-gated).")
show_app = typer.Typer(no_args_is_help=True, help="Read back what is stored.")
quality_app = typer.Typer(no_args_is_help=True, help="Quality gate results: quarantine and findings.")
actions_app = typer.Typer(
    no_args_is_help=True, help="Corporate actions: list, confirm or reject inferred ones."
)
features_app = typer.Typer(no_args_is_help=True, help="Point-in-time features: list them, build them.")
lab_app = typer.Typer(
    no_args_is_help=True, help="The hypothesis lab: run a hypothesis file, read the trial ledger."
)
store_app = typer.Typer(no_args_is_help=True, help="The store: where it is, its schema version, its tables.")
app.add_typer(ingest_app, name="ingest")
app.add_typer(show_app, name="show")
app.add_typer(quality_app, name="quality")
app.add_typer(actions_app, name="actions")
app.add_typer(store_app, name="store")
app.add_typer(features_app, name="features")
app.add_typer(lab_app, name="lab")

_state: dict[str, Any] = {"home": None, "store": None}

Fmt = Annotated[str, typer.Option("--format", "-f", help="table, csv or json")]


@app.callback()
def _root(
    home: Annotated[
        Path | None, typer.Option(help="data directory (default $EARNEST_HOME or ~/.earnest)")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="store URL (default $EARNEST_STORE or DuckDB in home)")
    ] = None,
) -> None:
    _state["home"] = home
    _state["store"] = store


def settings() -> Settings:
    overrides: dict[str, Any] = {}
    if _state["home"] is not None:
        overrides["home"] = _state["home"]
    if _state["store"] is not None:
        overrides["store"] = _state["store"]
    return load_settings(**overrides)


@contextmanager
def opened_store(s: Settings | None = None) -> Iterator[Any]:
    from earnest.store import open_store

    s = s or settings()
    store = open_store(s.store_url)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name[-48:])

        yield update


def parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD", param_hint=name) from None


def parse_instant(value: str, name: str) -> dt.datetime:
    """A date (the end of that day in IST) or an ISO 8601 time with an offset, as UTC."""
    from earnest.core.calendar import IST

    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time(23, 59, 59), IST).astimezone(dt.UTC)
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name}: {value!r} is not YYYY-MM-DD or an ISO time") from None
    if when.tzinfo is None:
        raise typer.BadParameter(f"{name}: {value!r} has no offset; add +05:30 (IST) or Z (UTC)")
    return when.astimezone(dt.UTC)


def emit(frame: pl.DataFrame, fmt: str, *, title: str = "") -> None:
    """Print a frame as a rich table, CSV or JSON."""
    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str, indent=1) + "\n")
    elif fmt == "table":
        table = Table(title=title or None, show_lines=False)
        for col in frame.columns:
            numeric = frame.schema[col].is_numeric()
            table.add_column(col, justify="right" if numeric else "left")
        for row in frame.iter_rows():
            table.add_row(
                *("" if v is None else f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row)
            )
        console.print(table)
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}; use table, csv or json", param_hint="--format")


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


# ---- features ----------------------------------------------------------------------------------
@features_app.command("list")
def features_list(fmt: Fmt = "table") -> None:
    """Every registered feature: inputs, lookback, outputs, when its values become known."""
    from earnest.workflows.features import features_frame

    emit(features_frame(), fmt, title="features")


@features_app.command("build")
def features_build(
    symbol: Annotated[list[str] | None, typer.Option("--symbol", "-s", help="only these symbols")] = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", help="only these features")] = None,
    adjusted: Annotated[bool, typer.Option(help="compute on corporate-action adjusted bars")] = False,
    rebuild: Annotated[bool, typer.Option(help="recompute everything, not only new sessions")] = False,
) -> None:
    """Compute features on the stored bars and materialise them (incremental: only new sessions)."""
    from earnest.workflows.features import build

    with opened_store() as store, progress_bar("features") as update:
        report = build(
            store,
            features=feature,
            symbols=[x.upper() for x in symbol] if symbol else None,
            adjusted=adjusted,
            rebuild=rebuild,
            progress=update,
        )
    console.print(
        f"features: {report.total_rows:,} values computed, {report.rows_inserted:,} new rows stored"
        + (f", {report.rows_replaced:,} replaced" if report.rows_replaced else "")
        + (f"; skipped {report.skipped}" if report.skipped else "")
    )


# ---- lab ---------------------------------------------------------------------------------------
@lab_app.command("run")
def lab_run(
    hypothesis: Annotated[Path, typer.Argument(help="a hypothesis TOML file (see examples/)")],
    out: Annotated[Path | None, typer.Option(help="folder for report.html and report.json")] = None,
    fmt: Fmt = "table",
) -> None:
    """Evaluate a hypothesis against its baselines: event study, power, verdict; record its trials."""
    from earnest.lab.spec import load_hypothesis
    from earnest.workflows.lab import run_hypothesis
    from earnest.workflows.render import render_study

    h = load_hypothesis(hypothesis)
    target = out or settings().home / "reports" / h.name
    with opened_store() as store, err_console.status("lab") as status:
        run = run_hypothesis(store, h, out_dir=target, progress=lambda stage: status.update(f"lab: {stage}"))
    if fmt == "json":
        from earnest.reports.lab import study_json

        sys.stdout.write(json.dumps(study_json(run.study), default=str, indent=1) + "\n")
        return
    render_study(console, run.study)
    console.print(f"report: {run.html_path}  ({run.n_trials} trial(s) in question {h.question!r})")


@lab_app.command("ledger")
def lab_ledger(
    question: Annotated[str | None, typer.Option(help="only this research question")] = None,
    fmt: Fmt = "table",
) -> None:
    """Every trial recorded, with Benjamini-Hochberg adjusted p-values per research question."""
    from earnest.lab.ledger import adjusted_p, ledger

    with opened_store() as store:
        questions = (
            [question] if question else ledger(store, None).get_column("question").unique().sort().to_list()
        )
        frames = [adjusted_p(store, q) for q in questions]
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    emit(frame, fmt, title="trial ledger")


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


# ---- demo -------------------------------------------------------------------------------------
@app.command()
def demo(
    data: Annotated[
        Path | None, typer.Option(help="a folder of real exchange files instead of the simulation")
    ] = None,
    home: Annotated[Path, typer.Option(help="demo data directory (recreated)")] = Path(".earnest-demo"),
    seed: Annotated[int, typer.Option(help="seed of the simulated market")] = 7,
    svg: Annotated[Path | None, typer.Option(help="also save the screen as an SVG picture")] = None,
) -> None:
    """Run the main job end to end on DuckDB: simulated NSE-like market (or DATA) -> ingest -> quality report."""
    from earnest.workflows.demo import run_demo

    out = Console(record=svg is not None)
    run_demo(out, home=home, data=data, seed=seed)
    if svg is not None:
        svg.parent.mkdir(parents=True, exist_ok=True)
        out.save_svg(str(svg), title="make demo")


@app.command()
def version() -> None:
    """Print the installed version."""
    from earnest import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point: run the app and turn earnest errors into messages and exit codes."""
    from earnest.core.memory import keep_freed_memory

    keep_freed_memory()  # reuse freed array memory instead of page-faulting it in again
    try:
        rc = app(standalone_mode=False)
    except EarnestError as exc:
        err_console.print(f"[bold red]error:[/] {exc.render()}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted: the store is unchanged for the file being written")
        sys.exit(130)
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        err_console.print("please report this with the command you ran; set EARNEST_DEBUG=1 for a traceback")
        import os

        if os.environ.get("EARNEST_DEBUG"):
            raise
        sys.exit(70)
    sys.exit(rc if isinstance(rc, int) else 0)


__all__ = ["app", "main"]
