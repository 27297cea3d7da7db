"""`depthmask demo`: the built-in default, end to end, in about a minute on a laptop CPU, no download."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from depthmask.cli.app import app
from depthmask.cli.errors import user_errors

console = Console(stderr=True)


@app.command(
    epilog=(
        "Examples:\n\n  depthmask demo\n\n  depthmask demo --frames 300 --out runs/demo300\n\n"
        "  depthmask demo --source dashcam.mp4 --out runs/dashcam"
    )
)
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("runs/demo"),
    frames: Annotated[
        int | None, typer.Option(help="Frames of the synthetic drive [default: 120, 12 s at 10 frames/s].")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Any source instead of the synthetic drive (video, folder, KITTI drive, camera)."),
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="onnxruntime [default], or torch (needs the [train] extra).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Frames per inference call.")] = 4,
    threads: Annotated[int | None, typer.Option(help="Inference threads [default: all cores].")] = None,
) -> None:
    """Stream a synthetic drive through the shipped N and G: overlay video, per-frame depth and mask, audit
    log, summary.json and report.html, then a summary table."""
    from depthmask.cli.run import print_summary, run_with_progress
    from depthmask.demo import DemoConfig
    from depthmask.demo import demo as demo_core

    t0 = time.perf_counter()
    cfg = DemoConfig(out=out, frames=frames, source=source, backend=backend, batch=batch, threads=threads)
    summary = run_with_progress(cfg, core=demo_core)
    print_summary(summary)
    print_reading(summary)
    console.print(
        f"report: {summary['report']}  ({time.perf_counter() - t0:.1f} s in all)",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(summary["exit_status"])


def print_reading(summary: dict[str, Any]) -> None:
    """How to read the numbers: the mask's sparseness, its fidelity, and where it looked."""
    stats = summary["stats"]

    def mean(name: str) -> float | None:
        return stats.get(name, {}).get("mean")

    far, kept, fid = mean("far_attention"), mean("mask_keep"), mean("fid_rmse")
    uniform = summary["demo"]["far_attention_uniform"]
    if far is None or kept is None or fid is None:
        return
    where = "towards the far scene and the vanishing point" if far > uniform else "mostly nearby"
    console.print(
        f"G kept {kept:.0%} of the pixels (mask_keep) and N's depth from them moved by {fid:.2f} m RMSE "
        f"(fid_rmse). far_attention {far:.2f}: the share of the mask on the farthest 20 % of the scene "
        f"({uniform:.2f} for a mask blind to depth) — N looks {where}.",
        highlight=False,
        soft_wrap=True,
    )
