"""`depthmask info [FILE]`: describe an artefact, or (no FILE) this installation and its networks."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from depthmask import __version__
from depthmask.cli.app import app
from depthmask.cli.errors import user_errors
from depthmask.errors import module_available

console = Console()


@app.command(
    epilog=(
        "Examples:\n\n  depthmask info\n\n  depthmask info densenet161-audit.onnx\n\n"
        "  depthmask info resnet50-fp16.engine\n\n  depthmask info runs/g/best.safetensors\n\n"
        "  depthmask info model_densenet"
    )
)
@user_errors
def info(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="An exported .onnx or engine (with its .json sidecar), or a checkpoint (ours or the "
            "authors'); omit for the installation."
        ),
    ] = None,
) -> None:
    """Describe a model, an engine or a checkpoint, or this installation and the registered networks."""
    if file is not None:
        from depthmask.describe import describe

        _print_mapping(f"{file}", describe(file))
        return
    _print_mapping("depthmask", _environment())
    if module_available("torch"):
        from depthmask.nets.models import list_models, model_entry

        table = Table(title="registered networks")
        for col in ("name", "role", "family", "input H×W", "description"):
            table.add_column(col)
        for name in list_models():
            e = model_entry(name)
            table.add_row(name, e.role, e.family, f"{e.input_size[0]}×{e.input_size[1]}", e.description)
        console.print(table)


def _environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for mod in ("torch", "onnxruntime", "tensorrt", "cv2"):
        if not module_available(mod):
            env[mod] = "not installed"
            continue
        m = __import__(mod)
        env[mod] = getattr(m, "__version__", "installed")
        if mod == "onnxruntime":
            env["onnxruntime providers"] = ", ".join(m.get_available_providers())
    return env


def _print_mapping(title: str, data: dict[str, Any]) -> None:
    table = Table(title=escape(title), show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in data.items():
        # Values come from files: escaped, so text such as "[/]" is shown, not read as rich markup.
        shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        table.add_row(escape(str(key)), escape(shown))
    console.print(table)
