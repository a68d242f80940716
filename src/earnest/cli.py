"""The ``earnest`` command line. Maps errors to exit codes and clear messages in one place."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="earnest: honest event-driven research on NSE/BSE data.")


@app.command()
def version() -> None:
    """Print the installed version."""
    from earnest import __version__

    typer.echo(__version__)


def main() -> None:
    app()


__all__ = ["app", "main"]
