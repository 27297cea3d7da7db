"""`depthmask check MODEL`: parity of an exported artefact against its PyTorch reference, as a table."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from depthmask.cli.app import INPUT, MODEL, OUTPUT, PERFORMANCE, PRECISION, app
from depthmask.cli.errors import user_errors
from depthmask.contract import exits

console = Console()
PARITY_FAILED = exits.CHECK_FAILED


class ReferenceChoice(str, enum.Enum):
    torch = "torch"


_EXAMPLES = (
    "Examples:\n\n"
    "  depthmask check densenet161-audit.onnx\n\n"
    "  depthmask check densenet161-audit-int8.onnx --source drive_0001_sync/ --frames 32\n\n"
    "  depthmask check resnet50-audit-fp16.engine --checkpoint-n n.safetensors "
    "--checkpoint-g g.safetensors\n\n"
    "The PyTorch reference is rebuilt from the weights named in the model's metadata; pass "
    "--checkpoint-n/--checkpoint-g when those files moved, and --depth-net FILE.py:FACTORY when N is your "
    "own (depthmask never imports code that a model file names)."
)


@app.command("check", epilog=_EXAMPLES)
@user_errors
def check(
    model: Annotated[Path, typer.Argument(help="An exported .onnx or .engine (with its .json sidecar).")],
    source: Annotated[
        str | None,
        typer.Option(
            help="Frames: folder, glob, video, KITTI drive or synthetic: [default: synthetic].",
            rich_help_panel=INPUT,
        ),
    ] = None,
    frames: Annotated[int, typer.Option(help="How many frames to compare.", rich_help_panel=INPUT)] = 8,
    checkpoint_n: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-n", help="N's weights, if not where the metadata says.", rich_help_panel=MODEL
        ),
    ] = None,
    checkpoint_g: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-g", help="G's weights, if not where the metadata says.", rich_help_panel=MODEL
        ),
    ] = None,
    depth_net: Annotated[
        str | None,
        typer.Option(
            "--depth-net",
            help="N's module:factory, when the model was exported from your own N (its code is imported).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    against: Annotated[
        ReferenceChoice, typer.Option(help="The reference to compare with.", rich_help_panel=PRECISION)
    ] = ReferenceChoice.torch,
    batch: Annotated[int, typer.Option(help="Frames per inference call.", rich_help_panel=PERFORMANCE)] = 4,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the result as JSON here.", rich_help_panel=OUTPUT),
    ] = None,
) -> None:
    """Run the same frames through the artefact and through PyTorch; report depth, mask and stats errors
    against the tolerances of the artefact's precision."""
    from depthmask.export.check import CheckConfig, check_model
    from depthmask.export.parity import render

    cfg = CheckConfig(
        model=model,
        against=against.value,
        source=source,
        frames=frames,
        batch=batch,
        checkpoint_n=checkpoint_n,
        checkpoint_g=checkpoint_g,
        depth_net=depth_net,
    )
    result = check_model(cfg)
    console.print(render(result))
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    if not result.passed:
        failed = ", ".join(g.what for g in result.failures)
        Console(stderr=True).print(f"[bold red]beyond tolerance:[/] {failed}", highlight=False)
        raise typer.Exit(PARITY_FAILED)
