"""`depthmask convert`: the authors' released files (or any loadable weights) → our checkpoint format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from depthmask.cli.app import MODEL, TRAINING, app
from depthmask.cli.errors import user_errors

console = Console()


@app.command(
    epilog=(
        "Examples:\n\n  depthmask convert model_densenet densenet161-n.safetensors\n\n"
        "  depthmask convert mask_resnet resnet50-g.safetensors --lam 5"
    )
)
@user_errors
def convert(
    source: Annotated[
        Path, typer.Argument(help="Released file (model_resnet, mask_densenet, …) or a state dict.")
    ],
    output: Annotated[Path, typer.Argument(help="Where to write the .safetensors checkpoint.")],
    network: Annotated[
        str | None,
        typer.Option(
            "--network",
            help="Registry name or module:factory [default: detected from the keys].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    lam: Annotated[
        float | None,
        typer.Option("--lam", help="λ the mask net was trained with (provenance).", rich_help_panel=TRAINING),
    ] = None,
) -> None:
    """Convert a checkpoint to depthmask's format (safetensors + JSON config), loading it strictly first."""
    from depthmask.nets.checkpoint import save_checkpoint
    from depthmask.nets.loading import load_network

    # --network is the user's own: the one module:factory that may be imported (a file may not name code).
    model = load_network(network, source, trusted_factory=network, option="--network")
    extra = {"converted_from": str(source), "source_sha256": model.depthmask_sha256}
    if lam is not None:
        extra["lambda"] = lam
    path = save_checkpoint(model, output, **extra)
    console.print(f"wrote {path} ({model.depthmask_name}, strict load of {source} passed)")
