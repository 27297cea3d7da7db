"""The typer app. Command modules register themselves on `app`; nothing here imports torch."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from depthmask import __version__
from depthmask.contract import exits

# The help panels every command sorts its options into (`rich_help_panel=`). A command declares its options
# panel by panel in this order, so the panels come in this order in every --help.
INPUT = "Input"  # what is read: data, sources, the artefact checked or measured, --size, frame counts
MODEL = "Model"  # which networks and weights: --network/--depth-net/--mask-net, checkpoints, --mode
TRAINING = "Training"  # how N or G is trained: epochs, lr, schedule, loss, λ, seed, resume
PRECISION = "Precision"  # numeric precision and its verification: --precision, --amp, calibration, parity
PERFORMANCE = "Performance"  # how fast: backend, batch, device, threads, workers, compile, bench's timing
OUTPUT = "Output"  # what is written and where: -o/--out, --format, --save, --json, logs, --dry-run
ADVANCED = "Advanced"  # rarely changed: opset, thresholds of the paper's protocol
PANELS = (INPUT, MODEL, TRAINING, PRECISION, PERFORMANCE, OUTPUT, ADVANCED)


def _flags_take_no_value(params: list[Any]) -> list[Any]:
    """A flag takes no value, so --help shows none beside it (typer ≥ 0.26 prints `<bool>` there)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """Every depthmask command (set on each by `_finish_help`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))


class Group(TyperGroup):
    """`depthmask` and its command groups (`train`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))


_EXAMPLES = (
    "Examples:\n\n"
    "  depthmask demo\n\n"
    "  depthmask train depth -n hu2019_resnet50 --pretrained -d nyu-csv:data/nyu2_train.csv\n\n"
    "  depthmask export --backbone densenet161 --checkpoint-n model_densenet --checkpoint-g mask_densenet "
    "--size 228x304\n\n"
    "  depthmask run dashcam.mp4 --model densenet161-audit.onnx\n\n"
    "  depthmask bench --backbone resnet50 --backend torch,onnxruntime --size 228x304\n\n"
    "Each command's own examples: depthmask COMMAND --help."
)

app = typer.Typer(
    name="depthmask",
    cls=Group,
    help="See what a monocular depth network looks at: train, export and stream N and its mask net G.",
    epilog=_EXAMPLES,
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


def console_command() -> list[str]:
    """How a script runs `depthmask`: the console script beside this Python, else the CLI through its
    main() (an environment installed without its scripts)."""
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("depthmask")
    return [str(exe)] if exe.is_file() else [sys.executable, "-c", "from depthmask.cli import main; main()"]


# Importing the command modules registers their commands on `app` (order = order in --help).
from depthmask.cli import (  # noqa: E402, F401
    bench,
    check,
    convert,
    demo,
    evaluate,
    export,
    fleet,
    golden,
    info,
    report,
    run,
    train,
)


def _finish_help(typer_app: typer.Typer) -> None:
    """Every command's help ends with the exit statuses (one text, `depthmask.contract.exits.HELP`), and
    every command and group renders its flags without a value (`Command`, `Group`)."""
    for command in typer_app.registered_commands:
        if exits.HELP not in (command.epilog or ""):
            command.epilog = f"{command.epilog}\n\n{exits.HELP}" if command.epilog else exits.HELP
        if command.cls in (None, TyperCommand):
            command.cls = Command
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            group.typer_instance.info.cls = Group
            _finish_help(group.typer_instance)


_finish_help(app)
