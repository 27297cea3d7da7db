"""`depthmask demo`: the whole path on the built-in default — shipped small N and G, a synthetic drive.

Works on the runtime-only install (ONNX Runtime, no torch): the fused ONNX model shipped in
`depthmask/assets/` streams a procedurally generated drive (or any source) through the batched, pipelined
runtime — overlay video, per-frame depth and mask files, audit.jsonl, summary.json — and then report.html
is written from the run folder. The shipped weights were made by `scripts/train_demo_models.py`; what it
ran and what the models scored on held-out frames is in `assets/demo-provenance.json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from depthmask.errors import ConfigError, SourceError

ASSET_DEPTH = "demo-depth.safetensors"  # N in our checkpoint format (the [train] extra loads it)
ASSET_MASK = "demo-mask.safetensors"  # G
ASSET_MODEL = "demo-audit.onnx"  # G → mask → N fused, exported from the two files above
ASSET_PROVENANCE = "demo-provenance.json"
DEFAULT_FRAMES = 120  # 12 s of driving at the scene's 10 frames/s
DEMO_SEED = 7  # the drive the demo shows: a scene the shipped networks were not trained on
FAR_ATTENTION_UNIFORM = 0.2  # far_attention of a mask blind to depth (mass spread evenly)
REBUILD_HINT = "run `python scripts/train_demo_models.py` from a source checkout to rebuild the demo assets"


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo: where to write, how many frames, which source, backend and batch.

    `frames` applies to the synthetic drive only (None: DEFAULT_FRAMES); a `source` is read to its end,
    or to `max_frames`. Each demo writes a new folder (`runs/demo`, `runs/demo2`, …) unless `exist_ok`.
    """

    out: Path = Path("runs/demo")
    frames: int | None = None
    source: str | None = None  # None: the synthetic drive of seed DEMO_SEED at the shipped model's size
    backend: str | None = None  # None: ONNX Runtime (from the model's suffix)
    batch: int = 4
    threads: int | None = None  # None: ONNX Runtime's default (all cores)
    max_frames: int | None = None  # read at most this many frames of the source
    exist_ok: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.out, Path):
            object.__setattr__(self, "out", Path(self.out))
        if self.frames is not None and self.frames < 1:
            raise ConfigError(f"--frames must be at least 1, got {self.frames}")
        if self.frames is not None and self.source is not None:
            raise ConfigError(
                f"--frames {self.frames} sets the length of the synthetic drive, but --source "
                f"{self.source!r} was given and is read to its end; drop --frames (for a synthetic source "
                "write 'synthetic:frames=N')"
            )
        if self.batch < 1:
            raise ConfigError(f"--batch must be at least 1, got {self.batch}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ConfigError(f"--max-frames must be at least 1, got {self.max_frames}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return {
            "out": str(self.out),
            "frames": self.frames,
            "source": self.source,
            "backend": self.backend,
            "batch": self.batch,
            "threads": self.threads,
            "max_frames": self.max_frames,
            "exist_ok": self.exist_ok,
        }


def asset_path(name: str) -> Path:
    """Path of one file shipped in `depthmask/assets/` (SourceError when the install lacks it)."""
    path = Path(str(resources.files("depthmask") / "assets" / name))
    if not path.is_file():
        raise SourceError(f"the shipped demo file {path} is missing; reinstall depthmask, or {REBUILD_HINT}")
    return path


def shipped_model() -> Path:
    """The fused audit ONNX model shipped inside the package."""
    return asset_path(ASSET_MODEL)


def shipped_checkpoints() -> tuple[Path, Path]:
    """(N, G): the checkpoints the shipped ONNX model was exported from."""
    return asset_path(ASSET_DEPTH), asset_path(ASSET_MASK)


def shipped_provenance() -> dict[str, Any]:
    """How the shipped weights were made: commands, seeds, sizes, steps, versions, held-out metrics."""
    path = asset_path(ASSET_PROVENANCE)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path} is not valid JSON ({exc}); reinstall depthmask, or {REBUILD_HINT}"
        ) from None


def demo_source(cfg: DemoConfig, height: int, width: int) -> str:
    """The source string the demo streams: the user's, or the synthetic drive at the model's size."""
    if cfg.source is not None:
        return cfg.source
    frames = cfg.frames if cfg.frames is not None else DEFAULT_FRAMES
    return f"synthetic:frames={frames},height={height},width={width},seed={DEMO_SEED}"


def demo(
    cfg: DemoConfig,
    on_result: Callable[[Any], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,
) -> dict[str, Any]:
    """Run the demo; returns the run summary with `report` (report.html) and `demo` (what ran) added.

    The summary is also in the run folder's summary.json (`summary["out"]`), including the `demo`
    section, so the report and later readers see which shipped model and source the run used.
    """
    from depthmask.report import build_report
    from depthmask.runtime.backends.onnxruntime import read_onnx_info
    from depthmask.runtime.config import RunConfig
    from depthmask.runtime.run import run
    from depthmask.runtime.sinks.audit import write_json_atomic

    model = shipped_model()
    provenance = shipped_provenance()
    info = read_onnx_info(model)  # the frame size the synthetic drive is rendered at
    source = demo_source(cfg, info.height, info.width)
    run_cfg = RunConfig(
        sources=(source,), model=model, backend=cfg.backend, batch=cfg.batch, out=cfg.out,
        threads=cfg.threads, max_frames=cfg.max_frames, exist_ok=cfg.exist_ok,
    )  # fmt: skip
    summary = run(run_cfg, on_result=on_result, on_start=on_start)
    out = Path(summary["out"])
    summary["demo"] = {
        "config": cfg.to_dict(),
        "source": source,
        "model": str(model),
        "far_attention_uniform": FAR_ATTENTION_UNIFORM,
        "shipped": {
            "networks": provenance.get("networks"),
            "held_out_metrics": provenance.get("metrics"),
            "commands": provenance.get("commands"),
        },
    }
    write_json_atomic(out / "summary.json", summary)
    summary["report"] = str(build_report(out))
    return summary
