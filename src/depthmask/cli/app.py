"""The typer app. Command modules register themselves on `app`; nothing here imports torch."""

from __future__ import annotations

import typer

from depthmask import __version__

app = typer.Typer(
    name="depthmask",
    help="See what a monocular depth network looks at: train, export and stream N and its mask net G.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"depthmask {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """depthmask: Hu, Zhang & Okatani (ICCV 2019) as a deployment toolkit."""


def main() -> None:
    """Console-script entry point."""
    app()


# Importing the command modules registers their commands on `app` (order = order in --help).
from depthmask.cli import bench, check, convert, demo, evaluate, export, info, report, run, train  # noqa: E402, F401
