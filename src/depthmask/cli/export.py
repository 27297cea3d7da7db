"""`depthmask export`: options → one frozen ExportConfig → `artefacts_from_config`. Torch loads only when
the command runs."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from depthmask.cli.app import ADVANCED, INPUT, MODEL, OUTPUT, PERFORMANCE, PRECISION, app
from depthmask.cli.errors import user_errors
from depthmask.contract import exits
from depthmask.contract.constants import GATE_MAX_ABS_REL, GATE_MIN_IOU
from depthmask.export.config import (
    CalibrationMethod,
    ExportConfig,
    Fallback,
    FallbackBackend,
    Format,
    Precision,
    depth_net_from_backbone,
)
from depthmask.settings import parse_percentages, parse_size

if TYPE_CHECKING:
    from depthmask.export.pipeline import ExportResult

console = Console(stderr=True)
PARITY_FAILED = exits.CHECK_FAILED  # artefacts written, but they differ from PyTorch beyond tolerance


class ModeChoice(str, enum.Enum):
    audit = "audit"
    masked = "masked"
    mask = "mask"


class BackboneChoice(str, enum.Enum):
    resnet50 = "resnet50"
    densenet161 = "densenet161"
    senet154 = "senet154"


class ChannelOrderChoice(str, enum.Enum):
    bgr = "bgr"
    rgb = "rgb"


def parse_profile(text: str | None) -> tuple[int, int, int] | None:
    """'1,4,16' → (1, 4, 16)."""
    if text is None:
        return None
    from depthmask.errors import ConfigError

    try:
        lo, opt, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--batch-profile takes MIN,OPT,MAX frames (e.g. 1,4,16), got {text!r}") from None
    return lo, opt, hi


RANDOM_WARNING = (
    "[bold]--random-weights[/]: these networks are UNTRAINED. Their depth, masks and statistics mean "
    "nothing; use the files only to measure speed or test plumbing. Export trained networks with "
    "--checkpoint-n and --checkpoint-g."
)

_EXAMPLES = (
    "Examples:\n\n"
    "  depthmask export --backbone densenet161 --checkpoint-n model_densenet --checkpoint-g mask_densenet\n\n"
    "  depthmask export --checkpoint-n n.safetensors --checkpoint-g g.safetensors --format both "
    "--precision fp16 --batch-profile 1,8,16\n\n"
    "  depthmask export --checkpoint-n n.safetensors --checkpoint-g g.safetensors --precision int8 "
    "--calibration 2011_09_26_drive_0001_sync/ --size 256x832\n\n"
    "  depthmask export --depth-net my_pkg.nets:build --checkpoint-n n.pt --checkpoint-g g.safetensors "
    "--mode masked\n\n"
    "  depthmask export --depth-net hu2019_tiny --mask-net mask_drn_tiny --random-weights -o tiny.onnx"
)


@app.command("export", epilog=_EXAMPLES)
@user_errors
def export(
    size: Annotated[
        str | None,
        typer.Option(
            metavar="HxW", help="Frame size in pixels [default: the network's].", rich_help_panel=INPUT
        ),
    ] = None,
    channel_order: Annotated[
        ChannelOrderChoice, typer.Option(help="Frames' channel order.", rich_help_panel=INPUT)
    ] = ChannelOrderChoice.bgr,
    depth_net: Annotated[
        str | None,
        typer.Option(
            "--depth-net",
            help="N: registry name or module:factory [default: from --checkpoint-n, else hu2019_resnet50].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    backbone: Annotated[
        BackboneChoice | None,
        typer.Option(help="Shortcut for --depth-net hu2019_BACKBONE.", rich_help_panel=MODEL),
    ] = None,
    mask_net: Annotated[
        str | None,
        typer.Option(
            "--mask-net",
            help="G [default: from --checkpoint-g, else mask_drn_d_22].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    checkpoint_n: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-n",
            help="N's weights: ours (.safetensors), the authors' file.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    checkpoint_g: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint-g",
            help="G's weights: ours (.safetensors), the authors' file.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    mode: Annotated[
        ModeChoice, typer.Option(help="audit: mask, depth, depth_masked, stats.", rich_help_panel=MODEL)
    ] = ModeChoice.audit,
    regions: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Add the region input (mode audit): letterbox padding left out of every statistic, and "
            "per-box statistics for `run --roi/--roi-file`, up to N boxes a frame on TensorRT (ONNX "
            "Runtime takes any number; 0: padding only) [default: no region input].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    curve: Annotated[
        str | None,
        typer.Option(
            metavar="PERCENTS",
            help="Add the faithfulness curve output (mode audit): per frame, N(I ⊗ top-k % of M) against "
            "N(I) beside a random and an edge-map top-k %, e.g. 5,10,20,40,60,80,100 (N runs 2 + 3×k "
            "times a frame) [default: no curve].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    random_weights: Annotated[
        bool,
        typer.Option(
            "--random-weights",
            help="Export UNTRAINED networks (benchmarks and tests only) [default: off].",
            rich_help_panel=MODEL,
        ),
    ] = False,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of --random-weights (recorded; `check` rebuilds them).", rich_help_panel=MODEL
        ),
    ] = 0,
    precision: Annotated[
        Precision, typer.Option(help="fp32, fp16, or int8 (needs --calibration).", rich_help_panel=PRECISION)
    ] = Precision.fp32,
    calibration: Annotated[
        str | None,
        typer.Option(
            help="int8 calibration frames: folder, glob, video, KITTI drive, synthetic:.",
            rich_help_panel=PRECISION,
        ),
    ] = None,
    calibration_frames: Annotated[
        int, typer.Option(help="How many calibration frames to read.", rich_help_panel=PRECISION)
    ] = 128,
    calibration_method: Annotated[
        CalibrationMethod,
        typer.Option(
            help="int8 activation ranges (under --fallback auto: the most faithful of the three).",
            rich_help_panel=PRECISION,
        ),
    ] = CalibrationMethod.minmax,
    fallback: Annotated[
        Fallback,
        typer.Option(
            help="auto: when the fp16/int8 artefact misses the gate (--max-abs-rel, --min-iou against "
            "fp32), find the layers responsible by measuring and keep them in fp32.",
            rich_help_panel=PRECISION,
        ),
    ] = Fallback.off,
    max_abs_rel: Annotated[
        float,
        typer.Option(
            help="--fallback's gate: depth and masked depth abs_rel against fp32.", rich_help_panel=PRECISION
        ),
    ] = GATE_MAX_ABS_REL,
    min_iou: Annotated[
        float,
        typer.Option(
            help="--fallback's gate: the masks' IoU (M > ε) with fp32's.", rich_help_panel=PRECISION
        ),
    ] = GATE_MIN_IOU,
    fallback_backend: Annotated[
        FallbackBackend,
        typer.Option(
            help="What --fallback auto's trials run on: the backend the artefact will run on (OpenVINO "
            "quantizes a graph with float layers its own way).",
            rich_help_panel=PRECISION,
        ),
    ] = FallbackBackend.onnxruntime,
    check: Annotated[
        bool,
        typer.Option(
            "--check/--no-check", help="Parity against PyTorch after export.", rich_help_panel=PRECISION
        ),
    ] = True,
    batch: Annotated[
        int | None, typer.Option(help="Fixed batch [default: dynamic].", rich_help_panel=PERFORMANCE)
    ] = None,
    batch_profile: Annotated[
        str | None,
        typer.Option(
            metavar="MIN,OPT,MAX",
            help="TensorRT batch profile of a dynamic engine [default: 1,4,16].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    workspace: Annotated[
        float, typer.Option(help="TensorRT workspace, GiB.", rich_help_panel=PERFORMANCE)
    ] = 4.0,
    timing_cache: Annotated[
        Path | None,
        typer.Option(
            help="TensorRT timing cache: read when it exists, updated after the build "
            "[default: beside the engine].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Artefact path [default: NET-MODE[-PRECISION].onnx].",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    format: Annotated[
        Format, typer.Option("--format", help="onnx, engine (TensorRT) or both.", rich_help_panel=OUTPUT)
    ] = Format.onnx,
    opset: Annotated[int, typer.Option(help="ONNX opset.", rich_help_panel=ADVANCED)] = 18,
) -> None:
    """Fuse G → mask → N into one graph from uint8 frames to mask, depth and audit statistics, and write it
    as ONNX (dynamic batch) and/or a TensorRT engine, with its metadata and a parity check."""
    from depthmask.errors import ConfigError

    if backbone is not None:
        if depth_net is not None:
            raise ConfigError(
                f"give --backbone or --depth-net, not both (got {backbone.value} and {depth_net})"
            )
        depth_net = depth_net_from_backbone(backbone.value)
    profile = parse_profile(batch_profile)
    height, width = parse_size(size) or (None, None)
    cfg = ExportConfig(
        depth_net=depth_net,
        mask_net=mask_net,
        checkpoint_n=checkpoint_n,
        checkpoint_g=checkpoint_g,
        mode=mode.value,
        height=height,
        width=width,
        batch=batch,
        **({"batch_profile": profile} if profile else {}),
        format=format.value,
        precision=precision.value,
        calibration=calibration,
        calibration_frames=calibration_frames,
        opset=opset,
        output=output,
        check=check,
        channel_order=channel_order.value,
        workspace_gib=workspace,
        timing_cache=timing_cache,
        random_weights=random_weights,
        seed=seed,
        regions=regions,
        curve=parse_percentages(curve, "--curve") if curve else (),
        fallback=fallback.value,
        calibration_method=calibration_method.value,
        max_abs_rel=max_abs_rel,
        min_iou=min_iou,
        fallback_backend=fallback_backend.value,
    )
    if cfg.random_weights:
        console.print(Panel(RANDOM_WARNING, title="WARNING", border_style="bold red", style="red"))
    result = run_export(cfg)
    print_result(result)
    if not result.passed:
        raise typer.Exit(PARITY_FAILED)


def run_export(cfg: ExportConfig) -> ExportResult:
    """The export core with a spinner and the elapsed time on each step, then its line "  name: 12.3 s"
    (on a log or a pipe: a line as each step starts and one as it ends)."""
    from depthmask.cli.progress import step_spinner
    from depthmask.export.pipeline import artefacts_from_config

    return artefacts_from_config(cfg, step_progress=lambda name: step_spinner(console, name))


def print_result(result: ExportResult) -> None:
    """The artefacts written, then each parity table."""
    from depthmask.export.parity import render

    meta = result.metadata
    table = Table(title="depthmask export", show_header=True, title_justify="left")
    for col in ("artefact", "size", "mode", "precision", "input", "GFLOP/frame"):
        table.add_column(col)
    inp = meta["input"]
    for path in result.artefacts:
        size = sum(p.stat().st_size for p in (path, path.with_name(path.name + ".data")) if p.is_file())
        table.add_row(
            str(path),
            f"{size / 2**20:.1f} MiB",
            meta["mode"],
            result.config.precision,
            f"{inp['batch']}×{inp['height']}×{inp['width']}×3 uint8 {inp['channel_order'].upper()}",
            f"{meta['gflop_per_frame']:.2f}",
        )
    console.print(table)
    if meta.get("fallback"):
        console.print(fallback_table(meta["fallback"]))
    for parity in result.parity:
        console.print(render(parity))
    if result.config.random_weights:
        console.print("[bold red]reminder: random (untrained) weights[/]")


BACKEND_NAMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}  # as the table names them


def fallback_table(report: dict) -> Table:
    """`--fallback auto`: fidelity and the trials' backend's frames/s before and after, and what was
    kept."""
    gate = report["gate"]
    title = (
        f"--fallback auto ({report['precision']}, calibration {report.get('method') or '–'}; gate abs_rel ≤ "
        f"{gate['max_abs_rel']:.2%}, mask IoU ≥ {gate['min_iou']:g}): {len(report['kept_fp32'])} nodes "
        f"kept in fp32, {len(report['trials'])} trials, {report['seconds']:.0f} s"
    )
    table = Table(title=title, title_justify="left")
    backend = BACKEND_NAMES.get(report.get("backend") or "onnxruntime", report.get("backend"))
    for col in ("artefact", "abs_rel", "mask IoU", "gate", f"frames/s ({backend}, batch 1)"):
        table.add_column(col)
    fp32 = report.get("fp32_fps")
    table.add_row("fp32", "–", "–", "–", f"{fp32:.2f}" if fp32 else "–")
    for label, row in (("all reduced", report["before"]), ("with fallback", report["after"])):
        fps = row.get("fps")
        table.add_row(
            label, f"{row['abs_rel']:.3%}", f"{row['mask_iou']:.4f}", "pass" if row["passed"] else "FAIL",
            f"{fps:.2f}" + (f" ({fps / fp32:.2f}× fp32)" if fp32 and fps else "") if fps else "–",
        )  # fmt: skip
    frames = report.get("frames") or {}
    notes = [
        "abs_rel and IoU: the worse of "
        + " and ".join(f"{count} {name.replace('_', ' ')} frames" for name, count in frames.items())
    ] if frames else []  # fmt: skip
    kept = report["kept_fp32"]
    if kept:
        shown = ", ".join(kept[:8]) + (f", … ({len(kept) - 8} more)" if len(kept) > 8 else "")
        gflop = report.get("gflop") or {}
        share = (
            f" ({gflop['kept_fp32']:.1f} of {gflop['candidates']:.1f} GFLOP per frame)"
            if gflop.get("candidates")
            else ""
        )
        notes.append(f"kept in fp32{share}: {shown}")
    table.caption = "\n".join(notes) or None
    return table
