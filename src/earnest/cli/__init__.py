"""The ``earnest`` command line: the edge that reads argv, the environment and the user's files.

Commands live in :mod:`earnest.cli.data` (ingest, show, quality, actions, store),
:mod:`earnest.cli.research` (features, lab, train, models, backtest) and
:mod:`earnest.cli.production` (daily, scheduler, serve, apikey, alerts); :mod:`earnest.cli._common`
holds what they share. Errors are mapped to exit codes and clear messages in one place (:func:`main`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from earnest.cli import data as _data
from earnest.cli import production as _production
from earnest.cli import research as _research
from earnest.cli._common import app, err_console
from earnest.core.errors import EarnestError

_COMMAND_MODULES = (_data, _research, _production)  # importing them registers their commands


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
