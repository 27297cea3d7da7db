"""The typer app. Command modules register themselves on `app`; nothing here imports torch."""

from __future__ import annotations

import typer

from depthmask import __version__
from depthmask.contract import exits

app = typer.Typer(
    name="depthmask",
    help="See what a monocular depth network looks at: train, export and stream N and its mask net G.",
    no_args_is_help=True,
    add_completion=False,
    # Markdown, not rich markup: rich reads "[default: 120]" or "[train]" in a help text as a style tag
    # and drops it.
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
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


def _document_exit_statuses(typer_app: typer.Typer) -> None:
    """Every command's help ends with the exit statuses (one text, `depthmask.contract.exits.HELP`)."""
    for command in typer_app.registered_commands:
        if exits.HELP not in (command.epilog or ""):
            command.epilog = f"{command.epilog}\n\n{exits.HELP}" if command.epilog else exits.HELP
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _document_exit_statuses(group.typer_instance)


_document_exit_statuses(app)
