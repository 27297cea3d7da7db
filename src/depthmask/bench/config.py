"""`BenchConfig`: every setting of `depthmask bench` in one frozen dataclass, validated on creation.

Torch-free (the CLI's --help and the base install import it). Never mutated: derive variants with
`dataclasses.replace`. The config is written into every result file, so a JSON says how it was measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthmask.contract.spec import MODES
from depthmask.errors import ConfigError, closest
from depthmask.settings import settings_dict

# The paths a row can run: the runtime's backends plus "authors" (the authors' way: eager PyTorch fp32,
# N(I), G(I), N(I ⊗ M) as three calls with NumPy between them), which exists only as a baseline here.
AUTHORS = "authors"
AUTO = "auto"  # the runtime's --backend auto: the probed fastest path within the fidelity gate, measured
KNOWN_BACKENDS = (AUTHORS, AUTO, "torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
DEVICES = ("cpu", "cuda")

# Contracts §5: at least 3 s and 20 iterations after a declared warm-up.
MIN_SECONDS = 3.0
MIN_ITERATIONS = 20
DEFAULT_WARMUP = 2
FIDELITY_SOURCE = "synthetic:seed=2"  # frames fidelity is measured on (never the settling/calibration ones)
CALIBRATION_SOURCE = "synthetic:seed=11"


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how.

    model: an exported .onnx file (its metadata names the networks; the PyTorch graph is rebuilt from it
    for the torch and authors rows when the weights can be found), or None to build the fused graph on the
    fly from `depth_net`/`mask_net` (registry names) with `checkpoint_n`/`checkpoint_g`, or with random
    weights settled to trained-like scales (`depthmask.bench.weights`) when no checkpoint is given.
    backends × precisions × batches × devices: one row each (an `unavailable: why` row for combinations
    that cannot run here). height/width: frame size, None = the network's nominal size.
    warmup: untimed iterations first. seconds/iters: each row runs until both are reached; max_seconds
    (None = no cap) stops a slow row earlier, and the row says so. stream: also run each available
    combination end-to-end through the runtime pipeline from `source` (None = a video rendered from the
    synthetic scene at the frames' size), `stream_frames` frames. fidelity: compare each path's outputs
    with the fp32 PyTorch graph on `fidelity_frames` frames. peak: measure the GEMM peak of each CPU
    precision in the same run. workdir: where exported variants go (None = a temporary folder).
    """

    model: Path | None = None
    depth_net: str | None = None
    mask_net: str | None = None
    checkpoint_n: Path | None = None
    checkpoint_g: Path | None = None
    backends: tuple[str, ...] = ("onnxruntime",)
    precisions: tuple[str, ...] = ("fp32",)
    batches: tuple[int, ...] = (1,)
    devices: tuple[str, ...] = ("cpu",)
    height: int | None = None
    width: int | None = None
    mode: str = "audit"
    warmup: int = DEFAULT_WARMUP
    seconds: float = MIN_SECONDS
    iters: int = MIN_ITERATIONS
    max_seconds: float | None = None
    threads: int | None = None
    compile: bool = False
    fidelity: bool = True
    fidelity_frames: int = 4
    stream: bool = False
    source: str | None = None
    stream_frames: int = 32
    peak: bool = True
    profile: bool = False
    settle: bool = True
    calibration: str = CALIBRATION_SOURCE
    calibration_frames: int = 16
    seed: int = 0
    workdir: Path | None = None
    json: Path | None = None
    markdown: Path | None = None

    def __post_init__(self) -> None:
        for name in ("model", "checkpoint_n", "checkpoint_g", "workdir", "json", "markdown"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        for name in ("backends", "precisions", "devices"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        object.__setattr__(self, "batches", tuple(int(b) for b in self.batches))
        self._validate()

    def _validate(self) -> None:
        from depthmask.runtime.backends import BACKENDS

        known = sorted({*KNOWN_BACKENDS, *BACKENDS})
        for what, values, choices in (
            ("backend", self.backends, known),
            ("precision", self.precisions, PRECISIONS),
            ("device", self.devices, DEVICES),
            ("mode", (self.mode,), MODES),
        ):
            if not values:
                raise ConfigError(f"--{what} needs at least one value; choose from {', '.join(choices)}")
            for v in values:
                if v not in choices:
                    raise ConfigError(
                        f"unknown {what} {v!r}; choose from {', '.join(choices)}.{closest(v, choices)}"
                    )
        if any(b < 1 for b in self.batches) or not self.batches:
            raise ConfigError(f"--batch takes positive frame counts, e.g. 1,4,8; got {list(self.batches)}")
        if (self.height is None) != (self.width is None):
            raise ConfigError(f"give the frame size as HxW (both), got {self.height}×{self.width}")
        if self.height is not None and (self.height < 16 or self.width < 16):  # type: ignore[operator]
            raise ConfigError(f"--size must be at least 16x16 pixels, got {self.height}x{self.width}")
        if self.model is not None:
            if self.depth_net is not None or self.mask_net is not None:
                raise ConfigError(
                    "give --model FILE or --backbone/--depth-net (a graph built on the fly), not both"
                )
            if not self.model.is_file():
                raise ConfigError(
                    f"--model {str(self.model)!r} does not exist; export one with `depthmask export`"
                )
            if self.model.suffix.lower() != ".onnx":
                raise ConfigError(
                    f"--model {self.model.name}: bench reads the fp32 ONNX export (.onnx) and derives every "
                    "other precision and backend from it"
                )
        if self.warmup < 0 or self.iters < 1 or self.seconds < 0:
            raise ConfigError(
                f"--warmup must be ≥ 0, --iters ≥ 1 and --seconds ≥ 0; got {self.warmup}, {self.iters}, "
                f"{self.seconds}"
            )
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ConfigError(f"--max-seconds must be positive, got {self.max_seconds}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be positive, got {self.threads}")
        if self.fidelity_frames < 1 or self.stream_frames < 1 or self.calibration_frames < 1:
            raise ConfigError("--fidelity-frames, --stream-frames and --calibration-frames must be positive")
        for name in ("checkpoint_n", "checkpoint_g"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigError(f"--{name.replace('_', '-')} {str(path)!r} does not exist")

    @property
    def size(self) -> tuple[int, int] | None:
        """(H, W) as configured, or None for the network's nominal size."""
        return (self.height, self.width) if self.height is not None and self.width is not None else None

    @property
    def random_weights(self) -> bool:
        """True when the graph is built on the fly without checkpoints."""
        return self.model is None and (self.checkpoint_n is None or self.checkpoint_g is None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (paths as strings, tuples as lists)."""
        return settings_dict(self)
