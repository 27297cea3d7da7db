"""`RunConfig`: every setting of `depthmask run`, validated in one place."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from depthmask.contract.constants import ATTENTION_JUMP_IOU
from depthmask.errors import ConfigError, closest
from depthmask.runtime.regions import Box, unique
from depthmask.settings import check_choice
from depthmask.sources.fit import FITS

SAVE_KINDS = frozenset({"video", "depth", "depth_masked", "mask", "samples"})
PRECISIONS = ("fp32", "bf16", "fp16")  # compute precision of the torch backend (files carry their own)
POLICIES = ("every", "live")
# Bounds that no real run comes near; past them a value is a typo (and 5000 threads hang ONNX Runtime).
MAX_BATCH = 1024
MAX_BUFFER = 4096
MAX_WAIT_MS = 60_000.0
MAX_THREADS_PER_CORE = 4
MAX_FRAMES = 10**9
MIN_OVERLAY_WIDTH, MAX_OVERLAY_WIDTH = 64, 7680  # 8K UHD


@dataclass(frozen=True)
class RunConfig:
    """Settings of one streaming run (sources → model → outputs)."""

    sources: tuple[str, ...]
    model: Path
    backend: str | None = None  # None: chosen from the model file's suffix
    batch: int = 1
    max_wait_ms: float = 10.0
    policy: Literal["every", "live"] | None = None  # None: each source's default (files every, cameras live)
    realtime: bool = False
    out: Path = Path("runs/run")
    save: frozenset[str] = field(default_factory=lambda: frozenset({"video", "depth", "mask", "samples"}))
    show: bool = False
    fit: Literal["resize", "crop", "letterbox"] = "resize"
    buffer: int | None = None  # frames held per source; None: 8 under `every`, 2 (the newest) under `live`
    threads: int | None = None
    device: str | None = None  # None: the backend's default (torch: cpu; onnxruntime: best provider)
    precision: Literal["fp32", "bf16", "fp16"] | None = None  # torch backend only; None = fp32
    depth_range: tuple[float, float] | None = None  # fixed colour range for the overlay; None adapts slowly
    depth_net: str | None = None  # the user's own N (`module:factory`) for --backend torch to rebuild
    max_frames: int | None = None  # read at most this many frames from each source; None: to its end
    overlay_width: int = 1280  # overlay, samples and report pictures: the frame's own size, at most this wide
    exist_ok: bool = False  # write into `out` even when it holds an earlier run (else out2, out3, …)
    jump_iou: float = ATTENTION_JUMP_IOU  # flag attention_jump where mask_iou_prev falls below it (0: never)
    roi: tuple[Box, ...] = ()  # boxes (source pixels) audited on every frame; needs a region graph
    roi_file: Path | None = None  # per-frame boxes (JSONL), e.g. a detector's; needs a region graph

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError(
                "no source given; pass a video, folder, KITTI drive, camera, URL or 'synthetic:'"
            )
        for source in self.sources:
            if not isinstance(source, str) or not source.strip():
                raise ConfigError(
                    f"source {source!r} is empty; pass a video, folder, KITTI drive, camera, URL or "
                    "'synthetic:'"
                )
        _bounded("--batch", self.batch, 1, MAX_BATCH)
        _bounded("--max-wait-ms", self.max_wait_ms, 0, MAX_WAIT_MS, integer=False)
        if self.buffer is not None:
            _bounded("--buffer", self.buffer, 1, MAX_BUFFER)
        _bounded("--overlay-width", self.overlay_width, MIN_OVERLAY_WIDTH, MAX_OVERLAY_WIDTH)
        _bounded("--jump-iou", self.jump_iou, 0, 1, "an IoU", integer=False)
        if self.threads is not None:
            cores = os.cpu_count() or 1
            _bounded(
                "--threads", self.threads, 1, max(MAX_THREADS_PER_CORE * cores, 1), f"{cores} cores here"
            )
        if self.max_frames is not None:
            _bounded("--max-frames", self.max_frames, 1, MAX_FRAMES)
        if not all(isinstance(b, Box) for b in self.roi):
            raise ConfigError(f"--roi takes NAME=X0,Y0,X1,Y1 boxes, got {self.roi!r}")
        unique(self.roi, "--roi")
        check_choice("--policy", self.policy, POLICIES, optional=True)
        check_choice("--fit", self.fit, FITS)
        check_choice("--precision", self.precision, PRECISIONS, optional=True)
        unknown = sorted(set(self.save) - SAVE_KINDS)
        if unknown:
            raise ConfigError(
                f"--save {','.join(unknown)}: unknown; choose from {', '.join(sorted(SAVE_KINDS))}"
                + closest(unknown[0], SAVE_KINDS)
            )
        if self.depth_range is not None:
            lo, hi = self.depth_range
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
                raise ConfigError(
                    f"--depth-range must be MIN,MAX in metres with 0 ≤ MIN < MAX, finite; got {lo},{hi}"
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for summary.json)."""
        d = asdict(self)
        d["model"], d["out"], d["save"] = str(self.model), str(self.out), sorted(self.save)
        d["roi"] = {b.name: b.to_list() for b in self.roi}
        d["roi_file"] = str(self.roi_file) if self.roi_file is not None else None
        return d


def _bounded(option: str, value: Any, lo: float, hi: float, why: str = "", *, integer: bool = True) -> None:
    """Refuse a value that is not a finite number (an int where `integer`) in [lo, hi]."""
    kind = int if integer else (int, float)
    ok = (
        isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value) and lo <= value <= hi
    )
    if not ok:
        what = "a whole number" if integer else "a number"
        note = f" ({why})" if why else ""
        raise ConfigError(f"{option} must be {what} from {lo:g} to {hi:g}{note}, got {value!r}")
