"""`depthmask demo`: the built-in default, end to end, in about a minute on a laptop CPU, no download."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from depthmask.cli.app import INPUT, OUTPUT, PERFORMANCE, app
from depthmask.cli.errors import user_errors

console = Console(stderr=True)
FAR_MARGIN = 0.05  # far_attention this close to the uniform mask's says no more than "no preference"


@app.command(
    epilog=(
        "Examples:\n\n  depthmask demo\n\n  depthmask demo --frames 300 --out runs/demo300\n\n"
        "  depthmask demo --source dashcam.mp4 --max-frames 200 --out runs/dashcam"
    )
)
@user_errors
def demo(
    frames: Annotated[
        int | None,
        typer.Option(
            help="Frames of the synthetic drive [default: 120, 12 s at 10 frames/s].", rich_help_panel=INPUT
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Any source instead of the synthetic drive (video, folder, KITTI drive, camera).",
            rich_help_panel=INPUT,
        ),
    ] = None,
    max_frames: Annotated[
        int | None,
        typer.Option(
            help="Read at most this many frames of the source [default: all].", rich_help_panel=INPUT
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            help="onnxruntime [default], openvino, auto (the fastest within the fidelity gate, probed once), "
            "or torch (needs the [train] extra).",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    batch: Annotated[int, typer.Option(help="Frames per inference call.", rich_help_panel=PERFORMANCE)] = 4,
    threads: Annotated[
        int | None, typer.Option(help="Inference threads [default: all cores].", rich_help_panel=PERFORMANCE)
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.", rich_help_panel=OUTPUT)] = Path(
        "runs/demo"
    ),
    exist_ok: Annotated[
        bool,
        typer.Option(
            "--exist-ok",
            help="Write into --out even when it holds an earlier run [default: off: a new demo2, demo3, …].",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
) -> None:
    """Stream a synthetic drive through the shipped N and G: overlay video, per-frame depth and mask, audit
    log, summary.json and report.html, then a summary table."""
    from depthmask.cli.run import print_summary, run_with_progress
    from depthmask.demo import DemoConfig
    from depthmask.demo import demo as demo_core

    t0 = time.perf_counter()
    cfg = DemoConfig(
        out=out, frames=frames, source=source, backend=backend, batch=batch, threads=threads,
        max_frames=max_frames, exist_ok=exist_ok,
    )  # fmt: skip
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
    if kept is None or fid is None:
        return
    sentence = (
        f"G kept {kept:.0%} of the pixels (mask_keep) and N's depth from them moved by {fid:.2f} m RMSE "
        "(fid_rmse)."
    )
    flagged = sum(summary.get("flags", {}).values())
    ok = summary["counts"]["ok"]
    if far is None or flagged * 2 > ok:
        # Most masks were (almost) empty or full: where they put their mass says nothing about N.
        sentence += " The masks were mostly empty or full, so they do not show where N looks (see warnings)."
    else:
        where = (
            "towards the far scene and the vanishing point" if far > uniform + FAR_MARGIN
            else "mostly nearby" if far < uniform - FAR_MARGIN
            else "at far and near alike"
        )  # fmt: skip
        sentence += (
            f" far_attention {far:.2f}: the share of the mask on the farthest 20 % of the scene "
            f"({uniform:.2f} for a mask blind to depth) — N looks {where}."
        )
    console.print(sentence, highlight=False, soft_wrap=True)
