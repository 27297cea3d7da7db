"""`depthmask run`: stream sources through an exported model, with overlay video, files and an audit log."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from depthmask.cli.app import app
from depthmask.cli.errors import user_errors
from depthmask.errors import DepthmaskError

if TYPE_CHECKING:  # the runtime is imported inside the command, so --help stays light
    from depthmask.runtime.records import Result

console = Console(stderr=True)


class PolicyChoice(str, enum.Enum):
    every = "every"
    live = "live"


class PrecisionChoice(str, enum.Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class FitChoice(str, enum.Enum):
    resize = "resize"
    crop = "crop"
    letterbox = "letterbox"


def parse_range(text: str | None) -> tuple[float, float] | None:
    """'0,80' → (0.0, 80.0)."""
    if text is None:
        return None
    from depthmask.errors import ConfigError

    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--depth-range takes MIN,MAX in metres (e.g. 0,80), got {text!r}") from None
    return lo, hi


@app.command(
    epilog=(
        "Examples:\n\n"
        "  depthmask run 2011_09_26_drive_0001_sync/ --model densenet161-audit.onnx --batch 8\n\n"
        "  depthmask run dashcam.mp4 --model m.onnx --save video,depth --out runs/dashcam\n\n"
        "  depthmask run rtsp://127.0.0.1:8554/cam --model m.engine --policy live\n\n"
        "  depthmask run 'synthetic:frames=60' --model m.onnx\n\n"
        "  depthmask run clip.mp4 --model m.onnx --backend torch --precision bf16\n\n"
        "  depthmask run long_drive.mp4 --model m.onnx --max-frames 500"
    )
)
@user_errors
def run(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Video, folder, glob, .txt list, KITTI drive, camera, URL, "
            "synthetic:, or a .streams file; repeat for several."
        ),
    ],
    model: Annotated[Path, typer.Option("--model", "-m", help="Exported .onnx or .engine file.")],
    backend: Annotated[
        str | None, typer.Option(help="onnxruntime, tensorrt or torch (default: by file).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Frames per inference call.")] = 1,
    max_wait_ms: Annotated[
        float, typer.Option(help="How long a batch waits to fill after its first frame.")
    ] = 10.0,
    policy: Annotated[
        PolicyChoice | None, typer.Option(help="every: nothing dropped; live: keep newest.")
    ] = None,
    realtime: Annotated[bool, typer.Option(help="Pace files at their native frame rate.")] = False,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/run"),
    save: Annotated[
        str, typer.Option(help="Comma list of video,depth,depth_masked,mask,samples.")
    ] = "video,depth,mask,samples",
    show: Annotated[bool, typer.Option(help="Show a live window (needs OpenCV with GUI).")] = False,
    fit: Annotated[
        FitChoice, typer.Option(help="How frames are fitted to the model's input size.")
    ] = FitChoice.resize,
    threads: Annotated[int | None, typer.Option(help="Inference threads (CPU).")] = None,
    device: Annotated[
        str | None,
        typer.Option(help="torch: cpu, cuda, cuda:N; onnxruntime: cpu or cuda; tensorrt: cuda:N."),
    ] = None,
    precision: Annotated[
        PrecisionChoice | None,
        typer.Option(help="Compute precision of --backend torch (files keep their exported one)."),
    ] = None,
    depth_range: Annotated[
        str | None, typer.Option(help="Fixed overlay depth range MIN,MAX in metres.")
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option(help="Read at most this many frames from each source [default: all].")
    ] = None,
    depth_net: Annotated[
        str | None,
        typer.Option(
            help="Your own N (package.module:factory or file.py:factory) for --backend torch to rebuild; "
            "depthmask imports code only when you name it here."
        ),
    ] = None,
) -> None:
    """Stream frames through the fused model: overlay video, per-frame depth/mask files, audit.jsonl."""
    from depthmask.runtime.config import RunConfig

    cfg = RunConfig(
        sources=tuple(sources),
        model=model,
        backend=backend,
        batch=batch,
        max_wait_ms=max_wait_ms,
        policy=policy.value if policy else None,
        realtime=realtime,
        out=out,
        save=frozenset(s.strip() for s in save.split(",") if s.strip()),
        show=show,
        fit=fit.value,
        threads=threads,
        device=device,
        precision=precision.value if precision else None,
        depth_range=parse_range(depth_range),
        depth_net=depth_net,
        max_frames=max_frames,
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    summary = run_with_progress(cfg)
    print_summary(summary)
    write_report(cfg.out)
    raise typer.Exit(summary["exit_status"])


def write_report(out: Path) -> None:
    """report.html beside audit.jsonl and summary.json; a report that cannot be written (a full disk)
    is said in one line and changes nothing about the run's exit status."""
    from depthmask.report import build_report

    try:
        console.print(f"report: {build_report(out)}", highlight=False)
    except OSError as exc:
        console.print(f"[yellow]warning:[/] report.html could not be written ({exc})", highlight=False)


def run_with_progress(cfg: Any, core: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """`core(cfg, on_result=…)` (default: the run core) with a progress line: frames/s, drops, failures."""
    if core is None:
        from depthmask.runtime.run import run as core

    counts = {"ok": 0, "dropped": 0, "failed": 0}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "{task.fields[fps]:.1f} frames/s · dropped {task.fields[dropped]} · failed {task.fields[failed]}"
        ),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("run", total=None, fps=0.0, dropped=0, failed=0)

        def on_result(res: Result) -> None:
            key = "ok" if res.status == "ok" else "dropped" if res.status == "dropped" else "failed"
            counts[key] += 1
            elapsed = progress.tasks[0].elapsed or 1e-9
            progress.update(task, advance=1, fps=counts["ok"] / elapsed, dropped=counts["dropped"],
                            failed=counts["failed"])  # fmt: skip

        try:
            return core(cfg, on_result=on_result)
        except DepthmaskError:
            if not any(counts.values()):  # nothing ran: the error line alone, without an empty bar
                progress.live.transient = True
            raise


def print_summary(summary: dict[str, Any]) -> None:
    """The end-of-run table: counts, throughput, latency and mean mask statistics."""
    table = Table(title=f"depthmask run → {summary['config']['out']}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    c = summary["counts"]
    table.add_row("frames", f"{summary['frames']} (ok {c['ok']}, dropped {c['dropped']}, "
                            f"decode_error {c['decode_error']}, skipped {c['skipped']})")  # fmt: skip
    table.add_row("throughput", f"{summary['throughput_fps']} frames/s over {summary['wall_s']} s")
    lat = summary["latency_ms"]
    if lat["count"]:
        table.add_row(
            "latency ms", f"p50 {lat['p50']} · p90 {lat['p90']} · p99 {lat['p99']} · max {lat['max']}"
        )
    for name, st in summary["stats"].items():
        if st["count"]:
            table.add_row(name, f"mean {st['mean']:.4f} · p50 {st['p50']:.4f}")
    if summary["interrupted"]:
        table.add_row("interrupted", "yes: outputs flushed, video finalised")
    console.print(table)
