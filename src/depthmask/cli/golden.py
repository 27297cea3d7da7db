"""`depthmask golden record|verify`: store a model's outputs on a few frames, then gate any artefact of the
same input size against them (exit 4 when a limit fails) — a deployment check for CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from depthmask.cli.app import INPUT, MODEL, OUTPUT, PERFORMANCE, PRECISION, app
from depthmask.cli.errors import user_errors
from depthmask.contract import exits
from depthmask.errors import OutputError

console = Console()

golden_app = typer.Typer(
    name="golden",
    help="Golden outputs and a gate: record a model's outputs once, verify artefacts against them in CI.",
    epilog=(
        "Examples:\n\n"
        "  depthmask golden record densenet161-audit.onnx --source drive_0001_sync/ --frames 16 "
        "--out golden/\n\n"
        "  depthmask golden verify densenet161-audit-fp16.engine golden/ --max-p99-ms 40\n\n"
        "Each command's options: depthmask golden record --help, depthmask golden verify --help."
    ),
    no_args_is_help=True,
)
app.add_typer(golden_app, name="golden")

_RECORD_EXAMPLES = (
    "Examples:\n\n"
    "  depthmask golden record densenet161-audit.onnx --source drive_0001_sync/ --frames 16 --out golden/\n\n"
    "  depthmask golden record demo-audit.onnx --source synthetic:frames=8 --frames 8 --out golden/\n\n"
    "Writes DIR/golden.npz (the frames as uint8 and every output) and DIR/golden.json (model name and "
    "sha256, its checkpoints' hashes, source, input size, stats per frame); no absolute path is stored."
)
_VERIFY_EXAMPLES = (
    "Examples:\n\n"
    "  depthmask golden verify densenet161-audit-fp16.onnx golden/\n\n"
    "  depthmask golden verify densenet161-audit-int8.engine golden/ --gate gate.toml\n\n"
    "  depthmask golden verify retrained-audit.onnx golden/ --max-abs-rel 0.05 --min-iou 0.9 --min-fps 30\n\n"
    "A gate file (.json or .toml) sets max_abs_rel, min_iou, max_p99_ms, min_fps; flags given on the command "
    "line override it. Exit 4 when a limit fails."
)


@golden_app.command("record", epilog=_RECORD_EXAMPLES)
@user_errors
def record(
    model: Annotated[Path, typer.Argument(help="Any artefact the runtime runs: .onnx, .engine.")],
    source: Annotated[
        str,
        typer.Option(help="Frames: folder, glob, video, KITTI drive or synthetic:….", rich_help_panel=INPUT),
    ] = "synthetic",
    frames: Annotated[int, typer.Option(help="How many frames to record.", rich_help_panel=INPUT)] = 8,
    backend: Annotated[
        str | None,
        typer.Option(help="Runtime backend [default: by the file's suffix].", rich_help_panel=PERFORMANCE),
    ] = None,
    batch: Annotated[int, typer.Option(help="Frames per inference call.", rich_help_panel=PERFORMANCE)] = 4,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory for golden.json and golden.npz.", rich_help_panel=OUTPUT),
    ] = Path("golden"),
) -> None:
    """Run MODEL on the first frames of a source and store its outputs as the golden reference."""
    from depthmask.golden.record import RecordConfig, golden_from_model

    cfg = RecordConfig(model=model, source=source, out=out, frames=frames, batch=batch, backend=backend)
    doc = golden_from_model(cfg)
    size = doc["input"]
    console.print(
        f"recorded {doc['frames']} frames ({size['width']}×{size['height']}) of {doc['model']['file']} "
        f"→ {out}/golden.json, {out}/golden.npz",
        highlight=False,
    )


def _given(ctx: typer.Context, name: str) -> bool:
    """True when option `name` came from the command line (not its default), so it overrides a gate file."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


@golden_app.command("verify", epilog=_VERIFY_EXAMPLES)
@user_errors
def verify(
    ctx: typer.Context,
    artefact: Annotated[
        Path, typer.Argument(help="The artefact to verify: .onnx at any precision, .engine.")
    ],
    golden: Annotated[Path, typer.Argument(help="A directory written by `depthmask golden record`.")],
    backend: Annotated[
        str | None,
        typer.Option(help="Runtime backend [default: by the file's suffix].", rich_help_panel=MODEL),
    ] = None,
    gate: Annotated[
        Path | None,
        typer.Option(
            help="A gate file (.json or .toml) of limits; flags override it.", rich_help_panel=PRECISION
        ),
    ] = None,
    max_abs_rel: Annotated[
        float, typer.Option(help="Most depth abs_rel (depth and depth_masked).", rich_help_panel=PRECISION)
    ] = 0.01,
    min_iou: Annotated[
        float, typer.Option(help="Least mask IoU of M > ε.", rich_help_panel=PRECISION)
    ] = 0.95,
    max_p99_ms: Annotated[
        float | None,
        typer.Option(
            help="Most p99 latency, ms per batch [default: not gated].", rich_help_panel=PERFORMANCE
        ),
    ] = None,
    min_fps: Annotated[
        float | None,
        typer.Option(help="Least throughput, frames/s [default: not gated].", rich_help_panel=PERFORMANCE),
    ] = None,
    batch: Annotated[int, typer.Option(help="Frames per inference call.", rich_help_panel=PERFORMANCE)] = 4,
    warmup: Annotated[
        int, typer.Option(help="Untimed batches before the timed pass.", rich_help_panel=PERFORMANCE)
    ] = 1,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Write the result here [default: DIR/verify-ARTEFACT.json].",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
) -> None:
    """Run ARTEFACT on the golden frames and gate it on depth abs_rel, mask IoU and latency."""
    from depthmask.golden.gate import GateLimits, read_gate
    from depthmask.golden.verify import VerifyConfig, render, verify_golden

    limits = GateLimits()
    if gate is not None:
        limits = limits.updated(read_gate(gate), origin=f"gate file {gate}")
    flags = {"max_abs_rel": max_abs_rel, "min_iou": min_iou, "max_p99_ms": max_p99_ms, "min_fps": min_fps}
    given = {k: v for k, v in flags.items() if _given(ctx, k)}
    limits = limits.updated(given, origin="flags")
    cfg = VerifyConfig(
        artefact=artefact, golden=golden, limits=limits, batch=batch, warmup=warmup, backend=backend
    )
    result = verify_golden(cfg)
    console.print(render(result))
    target = json_out or golden / f"verify-{artefact.name}.json"
    try:
        target.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc}") from None
    if not result.passed:
        failed = ", ".join(f"{c.key} ({c.gate.what})" for c in result.failures)
        Console(stderr=True).print(f"[bold red]gate failed:[/] {failed}", highlight=False)
        raise typer.Exit(exits.CHECK_FAILED)
