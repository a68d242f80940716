"""What every command shares: the app and its command groups, settings, the store, progress bars,
date parsing and output formats."""

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
models_app = typer.Typer(
    no_args_is_help=True, help="The model registry: list versions, show one, promote through the gate."
)
store_app = typer.Typer(no_args_is_help=True, help="The store: where it is, its schema version, its tables.")
app.add_typer(ingest_app, name="ingest")
app.add_typer(show_app, name="show")
app.add_typer(quality_app, name="quality")
app.add_typer(actions_app, name="actions")
app.add_typer(store_app, name="store")
app.add_typer(features_app, name="features")
app.add_typer(lab_app, name="lab")
app.add_typer(models_app, name="models")

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


__all__ = [
    "Fmt",
    "app",
    "console",
    "emit",
    "err_console",
    "models_app",
    "opened_store",
    "parse_date",
    "parse_instant",
    "progress_bar",
    "settings",
]
