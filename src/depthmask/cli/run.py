"""`depthmask run`: stream sources through an exported model, with overlay video, files and an audit log."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from depthmask.cli.app import ADVANCED, INPUT, MODEL, OUTPUT, PERFORMANCE, PRECISION, app
from depthmask.cli.errors import user_errors
from depthmask.contract.constants import ATTENTION_JUMP_IOU
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


# Options `fleet` shares with `run`: one definition each.
SourcesArgument = Annotated[
    list[str],
    typer.Argument(
        help="Video, folder, glob, .txt list, KITTI drive, camera, URL, "
        "synthetic:, or a .streams file; repeat for several."
    ),
]
ModelOption = Annotated[
    Path, typer.Option("--model", "-m", help="Exported .onnx or .engine file.", rich_help_panel=INPUT)
]
MaxFramesOption = Annotated[
    int | None,
    typer.Option(
        help="Read at most this many frames from each source [default: all].", rich_help_panel=INPUT
    ),
]
FitOption = Annotated[
    FitChoice, typer.Option(help="How frames are fitted to the model's input size.", rich_help_panel=INPUT)
]
BackendOption = Annotated[
    str | None,
    typer.Option(
        help="onnxruntime, openvino, tensorrt, torch, or auto: the fastest backend × precision within the "
        "fidelity gate, probed once per model and machine [default: by the file].",
        rich_help_panel=PERFORMANCE,
    ),
]
BatchOption = Annotated[int, typer.Option(help="Frames per inference call.", rich_help_panel=PERFORMANCE)]
DeviceOption = Annotated[
    str | None,
    typer.Option(
        help="torch: cpu, cuda, cuda:N; onnxruntime: cpu or cuda; tensorrt: cuda:N "
        "[default: the backend's best].",
        rich_help_panel=PERFORMANCE,
    ),
]
SaveOption = Annotated[
    str, typer.Option(help="Comma list of video,depth,depth_masked,mask,samples.", rich_help_panel=OUTPUT)
]
OverlayWidthOption = Annotated[
    int,
    typer.Option(
        help="Overlay video and sample pictures: the footage's own size, at most this wide.",
        rich_help_panel=OUTPUT,
    ),
]
JumpIouOption = Annotated[
    float,
    typer.Option(
        help="Flag attention_jump where a mask's IoU with its source's previous mask (mask_iou_prev) is "
        "below this (0: never).",
        rich_help_panel=ADVANCED,
    ),
]


RoiOption = Annotated[
    list[str] | None,
    typer.Option(
        "--roi",
        help="A region to audit on every frame, NAME=X0,Y0,X1,Y1 in the source's pixels (repeat for "
        "more): the mask's share inside it, fidelity and mask_keep inside it. Needs a model exported with "
        "--regions.",
        rich_help_panel=INPUT,
    ),
]
RoiFileOption = Annotated[
    Path | None,
    typer.Option(
        "--roi-file",
        help='Per-frame regions, JSONL: {"frame": 12, "source": ID (optional), "boxes": [{"name": "lead", '
        '"box": [x0, y0, x1, y1]}]} a line (e.g. a detector\'s boxes). Needs a model exported with '
        "--regions.",
        rich_help_panel=INPUT,
    ),
]


def parse_rois(texts: list[str] | None) -> tuple[Any, ...]:
    """['lead=400,150,800,375', …] → Box per text (ConfigError naming a bad one)."""
    from depthmask.runtime.regions import parse_roi

    return tuple(parse_roi(t) for t in texts or ())


def parse_save(text: str) -> frozenset[str]:
    """'video,depth' → {'video', 'depth'}."""
    return frozenset(s.strip() for s in text.split(",") if s.strip())


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
    sources: SourcesArgument,
    model: ModelOption,
    max_frames: MaxFramesOption = None,
    fit: FitOption = FitChoice.resize,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime", help="Pace files at their native frame rate [default: off].", rich_help_panel=INPUT
        ),
    ] = False,
    depth_net: Annotated[
        str | None,
        typer.Option(
            help="Your own N (package.module:factory or file.py:factory) for --backend torch to rebuild; "
            "depthmask imports code only when you name it here.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    precision: Annotated[
        PrecisionChoice | None,
        typer.Option(
            help="Compute precision of --backend torch (files keep their exported one) [default: fp32].",
            rich_help_panel=PRECISION,
        ),
    ] = None,
    backend: BackendOption = None,
    batch: BatchOption = 1,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            help="How long a batch waits to fill after its first frame.", rich_help_panel=PERFORMANCE
        ),
    ] = 10.0,
    policy: Annotated[
        PolicyChoice | None,
        typer.Option(
            help="every: nothing dropped; live: the newest frames, older ones dropped and recorded "
            "[default: every for files, live for cameras and streams].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    buffer: Annotated[
        int | None,
        typer.Option(
            help="Frames held per source while a batch runs "
            "[default: 8 under every, 2 (the newest) under live].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="Inference threads (CPU) [default: the backend's].", rich_help_panel=PERFORMANCE),
    ] = None,
    device: DeviceOption = None,
    out: Annotated[Path, typer.Option(help="Output folder.", rich_help_panel=OUTPUT)] = Path("runs/run"),
    exist_ok: Annotated[
        bool,
        typer.Option(
            "--exist-ok",
            help="Write into --out even when it holds an earlier run [default: off: a new run2, run3, …].",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    save: SaveOption = "video,depth,mask,samples",
    overlay_width: OverlayWidthOption = 1280,
    depth_range: Annotated[
        str | None,
        typer.Option(
            help="Fixed overlay depth range MIN,MAX in metres [default: follows the scene slowly].",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    show: Annotated[
        bool,
        typer.Option(
            "--show",
            help="Show a live window (needs OpenCV with GUI) [default: off].",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    jump_iou: JumpIouOption = ATTENTION_JUMP_IOU,
    roi: RoiOption = None,
    roi_file: RoiFileOption = None,
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
        save=parse_save(save),
        show=show,
        fit=fit.value,
        threads=threads,
        device=device,
        precision=precision.value if precision else None,
        depth_range=parse_range(depth_range),
        depth_net=depth_net,
        max_frames=max_frames,
        buffer=buffer,
        overlay_width=overlay_width,
        exist_ok=exist_ok,
        jump_iou=jump_iou,
        roi=parse_rois(roi),
        roi_file=roi_file,
    )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    summary = run_with_progress(cfg)
    print_summary(summary)
    write_report(Path(summary["out"]))
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
    """`core(cfg, on_result=…, on_start=…)` (default: the run core) under a frame bar: count, total,
    percent, frames/s and ETA, drops and failures; plain lines every few seconds when not on a terminal."""
    from depthmask.cli.progress import FrameProgress

    if core is None:
        from depthmask.runtime.run import run as core

    with FrameProgress(console, "run") as bar:

        def on_result(res: Result) -> None:
            bar.count(res.status)

        try:
            return core(cfg, on_result=on_result, on_start=bar.begin)
        except DepthmaskError:
            if not any(bar.counts.values()):  # nothing ran: the error line alone, without an empty bar
                bar.discard()
            raise


def print_summary(summary: dict[str, Any]) -> None:
    """The end-of-run table (counts, throughput, latency end to end and by stage, mask statistics), then
    each warning once."""
    table = Table(title=f"depthmask run → {summary.get('out', summary['config']['out'])}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    c = summary["counts"]
    table.add_row("frames", f"{summary['frames']} (ok {c['ok']}, dropped {c['dropped']}, "
                            f"decode_error {c['decode_error']}, skipped {c['skipped']})")  # fmt: skip
    table.add_row("throughput", f"{summary['throughput_fps']} frames/s over {summary['wall_s']} s")
    auto = summary.get("backend_auto")
    if auto:
        table.add_row("backend auto", auto["why"] + (" (cached)" if auto["cached"] else ""))
    lat = summary["latency_ms"]
    if lat["count"]:
        table.add_row(
            "end-to-end ms",
            f"p50 {lat['p50']} · p90 {lat['p90']} · p99 {lat['p99']} · max {lat['max']} "
            "(frame read → record written)",
        )
        compute = summary.get("compute_ms", {})
        per_batch, per_frame = compute.get("per_batch", {}), compute.get("per_frame", {})
        if per_batch.get("count"):
            table.add_row(
                "compute ms",
                f"p50 {per_batch['p50']} per batch · {per_frame['p50']} per frame (inference alone)",
            )
        stages = summary.get("stages_ms", {})
        parts = [f"{k} {stages[k]['mean']}" for k in summary.get("latency_stages", {}).get("stages", ())
                 if stages.get(k, {}).get("count")]  # fmt: skip
        if parts:
            table.add_row("stages ms (mean)", " + ".join(parts) + f" = {lat['mean']} end-to-end")
    for name, st in summary["stats"].items():
        if st["count"]:
            table.add_row(name, f"mean {st['mean']:.4f} · p50 {st['p50']:.4f}")
    flagged = {k: n for k, n in summary.get("flags", {}).items() if n}
    if flagged:
        table.add_row("flagged frames", ", ".join(f"{k} {n}" for k, n in flagged.items()))
    if summary["interrupted"]:
        table.add_row("interrupted", "yes: outputs flushed, video finalised")
    console.print(table)
    for warning in summary.get("warnings", ()):
        console.print(f"[yellow]warning:[/] {escape(warning['message'])}", highlight=False, soft_wrap=True)
