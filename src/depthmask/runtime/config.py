"""`RunConfig`: every setting of `depthmask run`, validated in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from depthmask.errors import ConfigError

SAVE_KINDS = frozenset({"video", "depth", "depth_masked", "mask", "samples"})
PRECISIONS = ("fp32", "bf16", "fp16")  # compute precision of the torch backend (files carry their own)


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
    buffer: int = 8
    threads: int | None = None
    device: str | None = None  # None: the backend's default (torch: cpu; onnxruntime: best provider)
    precision: Literal["fp32", "bf16", "fp16"] | None = None  # torch backend only; None = fp32
    depth_range: tuple[float, float] | None = None  # fixed colour range for the overlay; None adapts slowly

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError(
                "no source given; pass a video, folder, KITTI drive, camera, URL or 'synthetic:'"
            )
        if self.batch < 1:
            raise ConfigError(f"--batch must be at least 1, got {self.batch}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"--max-wait-ms must be ≥ 0, got {self.max_wait_ms}")
        if self.buffer < 1:
            raise ConfigError(f"--buffer must be at least 1, got {self.buffer}")
        unknown = sorted(set(self.save) - SAVE_KINDS)
        if unknown:
            raise ConfigError(
                f"--save {','.join(unknown)}: unknown; choose from {', '.join(sorted(SAVE_KINDS))}"
            )
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.depth_range is not None and not self.depth_range[0] < self.depth_range[1]:
            raise ConfigError(f"--depth-range must be MIN,MAX with MIN < MAX, got {self.depth_range}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for summary.json)."""
        d = asdict(self)
        d["model"], d["out"], d["save"] = str(self.model), str(self.out), sorted(self.save)
        return d
