"""`depthmask bench`: options → one frozen BenchConfig → `bench_from_config`, a table on screen, JSON and
markdown files on request. Torch loads only when the command runs (and only if a row needs it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from depthmask.bench.config import MIN_ITERATIONS, MIN_SECONDS, BenchConfig
from depthmask.cli.app import INPUT, MODEL, OUTPUT, PERFORMANCE, PRECISION, app
from depthmask.cli.errors import user_errors
from depthmask.cli.export import BackboneChoice, ModeChoice
from depthmask.errors import ConfigError
from depthmask.settings import parse_size

console = Console()
progress = Console(stderr=True)


def parse_list(text: str, what: str) -> tuple[str, ...]:
    """'onnxruntime, torch' → ('onnxruntime', 'torch')."""
    values = tuple(v.strip().lower() for v in text.split(",") if v.strip())
    if not values:
        raise ConfigError(f"--{what} needs at least one value, got {text!r}")
    return values


def parse_batches(text: str) -> tuple[int, ...]:
    """'1,4,8' → (1, 4, 8)."""
    try:
        return tuple(int(v) for v in parse_list(text, "batch"))
    except ValueError:
        raise ConfigError(f"--batch takes comma-separated frame counts, e.g. 1,4,8; got {text!r}") from None


_EXAMPLES = (
    "Examples:\n\n"
    "  depthmask bench --model resnet50-audit.onnx --backend onnxruntime,openvino --precision fp32,bf16,int8 "
    "--batch 1,4,8\n\n"
    "  depthmask bench --backbone densenet161 --backend authors,torch,onnxruntime,openvino,tensorrt "
    "--precision fp32,bf16 --size 228x304 --json bench.json\n\n"
    "  depthmask bench --backbone resnet50 --backend openvino --precision bf16 --stream --profile\n\n"
    "  depthmask bench --depth-net hu2019_tiny --mask-net mask_drn_tiny --size 64x96 "
    "--backend torch,onnxruntime --iters 5 --seconds 0\n\n"
    "Paths: authors (eager PyTorch fp32, N(I), G(I), N(I⊗M) as three calls: the baseline), torch, "
    "onnxruntime, openvino, tensorrt. Combinations that cannot run here are listed as 'unavailable: why'.\n\n"
    "--backbone without checkpoints uses random weights settled to trained-like scales: right for speed, "
    "indicative only for fidelity."
)


@app.command("bench", epilog=_EXAMPLES)
@user_errors
def bench(
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="An fp32 .onnx export to measure (and derive variants from).",
            rich_help_panel=INPUT,
        ),
    ] = None,
    size: Annotated[
        str | None,
        typer.Option(
            metavar="HxW", help="Frame size in pixels [default: the network's].", rich_help_panel=INPUT
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Streaming source [default: a rendered synthetic drive].", rich_help_panel=INPUT),
    ] = None,
    backbone: Annotated[
        BackboneChoice | None,
        typer.Option(
            help="Build N = hu2019_BACKBONE with G on the fly "
            "[default: resnet50 without --model or --depth-net].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    depth_net: Annotated[
        str | None,
        typer.Option(
            "--depth-net", help="N by registry name (instead of --backbone).", rich_help_panel=MODEL
        ),
    ] = None,
    mask_net: Annotated[
        str | None, typer.Option("--mask-net", help="G [default: mask_drn_d_22].", rich_help_panel=MODEL)
    ] = None,
    checkpoint_n: Annotated[
        Path | None,
        typer.Option("--checkpoint-n", help="N's weights [default: random, settled].", rich_help_panel=MODEL),
    ] = None,
    checkpoint_g: Annotated[
        Path | None,
        typer.Option("--checkpoint-g", help="G's weights [default: random, settled].", rich_help_panel=MODEL),
    ] = None,
    mode: Annotated[ModeChoice, typer.Option(help="Graph mode.", rich_help_panel=MODEL)] = ModeChoice.audit,
    precision: Annotated[
        str, typer.Option(help="Comma list: fp32, fp16, bf16, int8.", rich_help_panel=PRECISION)
    ] = "fp32",
    fidelity: Annotated[
        bool,
        typer.Option(
            "--fidelity/--no-fidelity",
            help="Depth/mask agreement with fp32 per path.",
            rich_help_panel=PRECISION,
        ),
    ] = True,
    fidelity_frames: Annotated[
        int, typer.Option(help="Frames fidelity is measured on.", rich_help_panel=PRECISION)
    ] = 4,
    calibration: Annotated[
        str,
        typer.Option(help="Frames that settle random weights and calibrate int8.", rich_help_panel=PRECISION),
    ] = "synthetic:seed=11",
    calibration_frames: Annotated[
        int, typer.Option(help="How many calibration frames.", rich_help_panel=PRECISION)
    ] = 16,
    backend: Annotated[
        str,
        typer.Option(
            help="Comma list: authors, auto (the fastest path within the fidelity gate, probed), torch, "
            "onnxruntime, openvino, tensorrt.",
            rich_help_panel=PERFORMANCE,
        ),
    ] = "onnxruntime",
    batch: Annotated[str, typer.Option(help="Comma list of batch sizes.", rich_help_panel=PERFORMANCE)] = "1",
    device: Annotated[
        str,
        typer.Option(
            help="Comma list: cpu, cuda (TensorRT always runs on cuda).", rich_help_panel=PERFORMANCE
        ),
    ] = "cpu",
    threads: Annotated[
        int | None, typer.Option(help="CPU threads [default: all cores].", rich_help_panel=PERFORMANCE)
    ] = None,
    compile: Annotated[
        bool,
        typer.Option(
            "--compile", help="torch rows through torch.compile [default: off].", rich_help_panel=PERFORMANCE
        ),
    ] = False,
    warmup: Annotated[
        int, typer.Option(help="Untimed iterations before each row.", rich_help_panel=PERFORMANCE)
    ] = 2,
    seconds: Annotated[
        float, typer.Option(help="Each row runs at least this long.", rich_help_panel=PERFORMANCE)
    ] = MIN_SECONDS,
    iters: Annotated[
        int, typer.Option(help="…and at least this many iterations.", rich_help_panel=PERFORMANCE)
    ] = MIN_ITERATIONS,
    max_seconds: Annotated[
        float | None,
        typer.Option(
            help="Stop a slow row after this long even below --iters (it says so) [default: no limit].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = None,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Also run each row end-to-end through the streaming pipeline [default: off].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = False,
    stream_frames: Annotated[
        int, typer.Option(help="Frames streamed per end-to-end row.", rich_help_panel=PERFORMANCE)
    ] = 32,
    peak: Annotated[
        bool,
        typer.Option("--peak/--no-peak", help="Measure the CPU's GEMM peaks.", rich_help_panel=PERFORMANCE),
    ] = True,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Per-op profiles of the onnxruntime and openvino rows [default: off].",
            rich_help_panel=PERFORMANCE,
        ),
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Keep exported variants here [default: a temporary folder].", rich_help_panel=OUTPUT
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the result as JSON here.", rich_help_panel=OUTPUT)
    ] = None,
    markdown_out: Annotated[
        Path | None, typer.Option("--markdown", help="Write a markdown report here.", rich_help_panel=OUTPUT)
    ] = None,
) -> None:
    """Latency (p50/p90/p99/max, mean ± std), frames/s, GFLOP/s, % of the measured GEMM peak and fidelity
    against fp32, one row per path × precision × batch; end-to-end streaming rows with --stream."""
    from depthmask.export.config import depth_net_from_backbone

    if backbone is not None:
        if depth_net is not None:
            raise ConfigError(
                f"give --backbone or --depth-net, not both (got {backbone.value} and {depth_net})"
            )
        depth_net = depth_net_from_backbone(backbone.value)
    if model is None and depth_net is None:
        depth_net = depth_net_from_backbone("resnet50")
    height, width = parse_size(size) or (None, None)
    cfg = BenchConfig(
        model=model,
        depth_net=depth_net,
        mask_net=mask_net,
        checkpoint_n=checkpoint_n,
        checkpoint_g=checkpoint_g,
        backends=parse_list(backend, "backend"),
        precisions=parse_list(precision, "precision"),
        batches=parse_batches(batch),
        devices=parse_list(device, "device"),
        height=height,
        width=width,
        mode=mode.value,
        warmup=warmup,
        seconds=seconds,
        iters=iters,
        max_seconds=max_seconds,
        threads=threads,
        compile=compile,
        fidelity=fidelity,
        fidelity_frames=fidelity_frames,
        stream=stream,
        source=source,
        stream_frames=stream_frames,
        peak=peak,
        profile=profile,
        calibration=calibration,
        calibration_frames=calibration_frames,
        workdir=workdir,
        json=json_out,
        markdown=markdown_out,
    )
    run_bench(cfg)


def run_bench(cfg: BenchConfig) -> None:
    """Run the core with one progress line per step and row, then print and write the results."""
    from depthmask.bench.core import bench_from_config
    from depthmask.bench.table import markdown, peaks_lines, rich_table

    result = bench_from_config(
        cfg,
        on_step=lambda msg: progress.print(f"  {msg}", highlight=False, style="dim"),
        on_row=lambda row: progress.print(
            f"  [bold]{row.label}[/] batch {row.batch} {row.kind}: {row.status_text}"
        ),
    )
    console.print(rich_table(result))
    for line in peaks_lines(result):
        console.print(line, highlight=False)
    if cfg.json is not None:
        cfg.json.parent.mkdir(parents=True, exist_ok=True)
        cfg.json.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        progress.print(f"wrote {cfg.json}")
    if cfg.markdown is not None:
        cfg.markdown.parent.mkdir(parents=True, exist_ok=True)
        cfg.markdown.write_text(markdown(result))
        progress.print(f"wrote {cfg.markdown}")
