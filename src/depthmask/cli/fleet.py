"""`depthmask fleet`: audit many drives over a Ray cluster, resumable, with one merged report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from depthmask.cli.app import OUTPUT, PERFORMANCE, app
from depthmask.cli.errors import user_errors
from depthmask.cli.run import (
    BackendOption,
    BatchOption,
    DeviceOption,
    FitChoice,
    FitOption,
    JumpIouOption,
    MaxFramesOption,
    ModelOption,
    OverlayWidthOption,
    RoiFileOption,
    RoiOption,
    SaveOption,
    parse_rois,
    parse_save,
)
from depthmask.contract.constants import ATTENTION_JUMP_IOU
from depthmask.progress import Meter

if TYPE_CHECKING:
    from depthmask.fleet.core import DriveState

console = Console(stderr=True)


@app.command(
    epilog=(
        "Examples:\n\n"
        "  depthmask fleet kitti/2011_*_sync --model densenet161-audit.onnx --out runs/kitti\n\n"
        "  depthmask fleet drives.txt --model m.onnx --workers 8 --address auto\n\n"
        "  depthmask fleet 'synthetic:seed=1' 'synthetic:seed=2' --model m.onnx --workers 2\n\n"
        "Run the same command again to resume: drives already complete with this model are skipped."
    )
)
@user_errors
def fleet(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Drives: KITTI drive folders, videos, image folders, synthetic: sources, a .txt list of "
            "drives (one a line) or a glob of drive folders; each drive is one unit of work."
        ),
    ],
    model: ModelOption,
    max_frames: MaxFramesOption = None,
    fit: FitOption = FitChoice.resize,
    backend: BackendOption = None,
    batch: BatchOption = 1,
    device: DeviceOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Ray workers, each holding one loaded model [default: as many as the CPUs (or GPUs) hold].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    cpus_per_worker: Annotated[
        float,
        typer.Option(help="CPUs each worker takes (and its inference threads).", rich_help_panel=PERFORMANCE),
    ] = 1.0,
    gpus_per_worker: Annotated[
        float | None,
        typer.Option(
            help="GPUs each worker takes [default: 1 where the cluster has GPUs, else 0].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Join a Ray cluster: auto, ray://HOST:PORT or HOST:PORT "
            "[default: a local one for this run].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    retries: Annotated[
        int, typer.Option(help="Further attempts of a drive that fails.", rich_help_panel=PERFORMANCE)
    ] = 2,
    out: Annotated[
        Path,
        typer.Option(help="Fleet folder: fleet.json, report.html, drives/NAME/.", rich_help_panel=OUTPUT),
    ] = Path("runs/fleet"),
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Audit every drive again, even those complete from an earlier run [default: off].",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    save: SaveOption = "video,depth,mask,samples",
    overlay_width: OverlayWidthOption = 1280,
    jump_iou: JumpIouOption = ATTENTION_JUMP_IOU,
    roi: RoiOption = None,
    roi_file: RoiFileOption = None,
) -> None:
    """Audit a fleet's drives on Ray: one model per worker, a drive per task, resumable, one merged report."""
    from depthmask.fleet.config import FleetConfig
    from depthmask.runtime.config import RunConfig

    run_cfg = RunConfig(
        sources=tuple(sources), model=model, backend=backend, batch=batch, fit=fit.value, device=device,
        max_frames=max_frames, out=out, save=parse_save(save), overlay_width=overlay_width, exist_ok=True,
        jump_iou=jump_iou, roi=parse_rois(roi), roi_file=roi_file,
    )  # fmt: skip
    cfg = FleetConfig(
        run=run_cfg, workers=workers, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
        address=address, retries=retries, resume=not fresh,
    )  # fmt: skip
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    result = run_fleet_with_progress(cfg)
    print_fleet_summary(result)
    raise typer.Exit(result["exit_status"])


def run_fleet_with_progress(cfg: object) -> dict:
    """The fleet core under a drive bar: drives done/total, frames/s across the fleet, ETA."""
    from depthmask.fleet.core import fleet as core

    meter = Meter(
        console, "fleet", unit="drives", fps=0.0, failed=0,
        detail="{task.fields[fps]:.1f} frames/s · failed {task.fields[failed]}",
    )  # fmt: skip
    frames = failed = 0

    def on_start(due: int, done: int) -> None:
        if done:
            console.print(f"{done} drives complete from an earlier run: skipped", highlight=False)
        meter.begin(due)

    def on_drive(state: DriveState) -> None:
        nonlocal frames, failed
        frames += state.frames
        failed += state.status == "failed"
        elapsed = meter.task.elapsed or 1e-9
        meter.update(advance=1, fps=frames / elapsed, failed=failed)

    with meter:
        return core(cfg, on_start=on_start, on_drive=on_drive)


def print_fleet_summary(result: dict) -> None:
    """Totals, fleet-wide means, failed drives, and where the report is."""
    t = result["totals"]
    d, c = t["drives"], t["counts"]
    table = Table(title=f"depthmask fleet → {result['config']['run']['out']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("drives", f"{d['complete']} of {d['total']} complete ({d['resumed']} from an earlier run), "
                            f"{d['failed']} failed, {d['pending']} not done")  # fmt: skip
    table.add_row("frames", f"{t['frames']} (ok {c['ok']}, dropped {c['dropped']}, "
                            f"decode_error {c['decode_error']}, skipped {c['skipped']})")  # fmt: skip
    table.add_row("throughput", f"{result['frames_per_s']} frames/s over {result['wall_s']} s")
    cluster = result.get("cluster") or {}
    if cluster:
        table.add_row("cluster", f"{cluster.get('address')} · {cluster.get('nodes')} node(s) · "
                                 f"{cluster.get('workers')} workers")  # fmt: skip
    for name, st in result["stats"].items():
        if st["count"]:
            table.add_row(name, f"mean {st['mean']:.4f} · p50 {st['p50']:.4f} · p90 {st['p90']:.4f}")
    if result["interrupted"]:
        table.add_row("interrupted", f"{result['signal']}: drives in flight are due on the next run")
    console.print(table)
    for row in result["drives"]:
        if row["status"] == "failed":
            console.print(
                f"[red]failed:[/] {escape(row['drive'])}: {escape(row['errors'][-1])}", highlight=False
            )
    report = Path(result["config"]["run"]["out"]) / "report.html"
    if report.is_file():
        console.print(f"report: {report}", highlight=False)
