"""`ExportConfig`: every setting of `depthmask export` in one frozen dataclass, validated on creation.

Never mutated: derive variants with `dataclasses.replace`. The config travels inside every artefact's
metadata (`export_config`), so an ONNX file or engine says how it was made.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthmask.contract.constants import EPSILON, FAR_FRACTION, GATE_MAX_ABS_REL, GATE_MIN_IOU
from depthmask.contract.metadata import MAX_REGIONS
from depthmask.contract.spec import CHANNEL_ORDERS, MODES, check_keeps
from depthmask.errors import ConfigError, closest
from depthmask.settings import settings_dict


class Format(str, enum.Enum):
    """Which artefacts to write."""

    onnx = "onnx"
    engine = "engine"
    both = "both"


class Precision(str, enum.Enum):
    """Numeric precision of the artefact."""

    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


class Fallback(str, enum.Enum):
    """What to do when a reduced-precision artefact misses the fidelity gate."""

    off = "off"
    auto = "auto"  # keep the layers responsible in fp32 (found by measuring)


class CalibrationMethod(str, enum.Enum):
    """How int8 activation ranges are calibrated (ONNX Runtime's calibrators)."""

    minmax = "minmax"
    percentile = "percentile"
    entropy = "entropy"


class FallbackBackend(str, enum.Enum):
    """What `--fallback auto`'s trials run on: the CPU backends that run an ONNX file as it is."""

    onnxruntime = "onnxruntime"
    openvino = "openvino"


FALLBACKS = tuple(f.value for f in Fallback)
FALLBACK_BACKENDS = tuple(b.value for b in FallbackBackend)
CALIBRATION_METHODS = tuple(m.value for m in CalibrationMethod)
MIN_OPSET = 17  # TorchScript fallback's floor; the dynamo exporter emits ≥ 18 (Resize-18, ReduceMean-18)
MAX_OPSET = 23
BACKBONE_SHORTCUTS = {
    "resnet50": "hu2019_resnet50",
    "densenet161": "hu2019_densenet161",
    "senet154": "hu2019_senet154",
}


@dataclass(frozen=True)
class ExportConfig:
    """What to export and how.

    depth_net / mask_net: registry names or `module:factory` (N only); None = named by the checkpoint,
    else hu2019_resnet50 / mask_drn_d_22. They are the user's own choice (never filled from a file): a
    `module:factory` here is imported, while a checkpoint may name only registered networks.
    height/width: the frames' size in pixels, None = the network's nominal size. batch: None = dynamic
    batch axis; an int fixes it. batch_profile: TensorRT's (min, opt, max) batch for a dynamic engine.
    calibration: a source string (folder, glob, video, KITTI drive, `synthetic:`) whose frames calibrate
    int8. workspace_gib: TensorRT's workspace pool. regions: give the audit graph its `regions` input
    (letterbox padding left out of every statistic, per-box statistics), planned for up to this many
    boxes per frame (TensorRT's profile; ONNX Runtime takes any number).
    """

    depth_net: str | None = None
    mask_net: str | None = None
    checkpoint_n: Path | None = None
    checkpoint_g: Path | None = None
    mode: str = "audit"
    height: int | None = None
    width: int | None = None
    batch: int | None = None
    batch_profile: tuple[int, int, int] = (1, 4, 16)
    format: str = "onnx"
    precision: str = "fp32"
    calibration: str | None = None
    calibration_frames: int = 128
    opset: int = 18
    output: Path | None = None
    check: bool = True
    check_frames: int = 4
    random_weights: bool = False
    seed: int = 0
    channel_order: str = "bgr"
    epsilon: float = EPSILON
    far_fraction: float = FAR_FRACTION
    simplify: bool = True
    workspace_gib: float = 4.0
    timing_cache: Path | None = None
    regions: int | None = None  # None: no region input; N: the `regions` input, planned for N boxes a frame
    curve: tuple[float, ...] = ()  # kept shares of the optional `curve` output (faithfulness per frame)
    fallback: str = "off"  # "auto": keep the layers that break the fidelity gate in fp32 (fp16, int8)
    calibration_method: str = "minmax"  # int8 ranges; under --fallback auto, chosen by measured fidelity
    max_abs_rel: float = GATE_MAX_ABS_REL  # the fallback's gate: depth and masked depth against fp32
    min_iou: float = GATE_MIN_IOU  # and the masks' IoU
    fallback_backend: str = "onnxruntime"  # what the fallback's trials run on: the deployment's backend

    def __post_init__(self) -> None:
        for name in ("checkpoint_n", "checkpoint_g", "output", "timing_cache"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.batch_profile is not None:
            object.__setattr__(self, "batch_profile", tuple(int(v) for v in self.batch_profile))
        self._validate()

    def _validate(self) -> None:
        _choice("mode", self.mode, MODES)
        _choice("format", self.format, [f.value for f in Format])
        _choice("precision", self.precision, [p.value for p in Precision])
        _choice("channel order", self.channel_order, CHANNEL_ORDERS)
        if (self.height is None) != (self.width is None):
            raise ConfigError(f"give the frame size as --size HxW (both), got {self.height}x{self.width}")
        if self.height is not None and (self.height < 16 or self.width < 16):  # type: ignore[operator]
            raise ConfigError(f"--size must be at least 16x16 pixels, got {self.height}x{self.width}")
        if self.batch is not None and self.batch < 1:
            raise ConfigError(
                f"--batch must be a positive number of frames (or omitted: dynamic), got {self.batch}"
            )
        lo, opt, hi = self.batch_profile
        if not 1 <= lo <= opt <= hi:
            raise ConfigError(f"--batch-profile needs 1 ≤ min ≤ opt ≤ max, got {lo},{opt},{hi}")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ConfigError(f"--opset must be in {MIN_OPSET}..{MAX_OPSET}, got {self.opset}")
        if self.precision == "int8" and not self.calibration:
            raise ConfigError(
                "--precision int8 needs --calibration SOURCE: frames like the deployment footage (a folder "
                "or glob of images, a video file, a KITTI drive; 'synthetic:' only for tests)"
            )
        if self.calibration_frames < 1 or self.check_frames < 1:
            raise ConfigError("--calibration-frames and the check's frame count must be positive")
        if not 0.0 < self.epsilon < 1.0 or not 0.0 < self.far_fraction <= 1.0:
            raise ConfigError(
                f"epsilon must be in (0, 1) and far_fraction in (0, 1]; got {self.epsilon}, "
                f"{self.far_fraction}"
            )
        if self.regions is not None:
            if isinstance(self.regions, bool) or not isinstance(self.regions, int):
                raise ConfigError(f"--regions must be a whole number of boxes, got {self.regions!r}")
            if not 0 <= self.regions < MAX_REGIONS:
                raise ConfigError(
                    f"--regions must be 0…{MAX_REGIONS - 1} boxes per frame, got {self.regions}"
                )
            if self.mode != "audit":
                raise ConfigError(
                    f"--regions needs mode 'audit' (the mode that computes statistics), got {self.mode!r}"
                )
        if self.curve:
            object.__setattr__(self, "curve", check_keeps(tuple(self.curve)))
            if self.mode != "audit":
                raise ConfigError(
                    f"--curve needs mode 'audit' (the mode that computes statistics), got {self.mode!r}"
                )
        _choice("--fallback", self.fallback, FALLBACKS)
        _choice("--calibration-method", self.calibration_method, CALIBRATION_METHODS)
        _choice("--fallback-backend", self.fallback_backend, FALLBACK_BACKENDS)
        if self.fallback == "auto" and self.precision == "fp32":
            raise ConfigError(
                "--fallback auto repairs a reduced-precision export; add --precision fp16 or int8"
            )
        if not (0 < self.max_abs_rel < 1 and 0 <= self.min_iou <= 1):
            raise ConfigError(
                f"--max-abs-rel must be in (0, 1) and --min-iou in [0, 1]; got {self.max_abs_rel}, "
                f"{self.min_iou}"
            )
        if self.workspace_gib <= 0:
            raise ConfigError(f"--workspace must be positive GiB, got {self.workspace_gib}")
        if self.mode == "mask" and (self.depth_net is not None or self.checkpoint_n is not None):
            raise ConfigError(
                "mode 'mask' runs the mask net G alone; drop --depth-net/--checkpoint-n, or choose mode "
                "'masked' or 'audit'"
            )
        needs_n = self.mode != "mask"
        if not self.random_weights and (self.checkpoint_g is None or (needs_n and self.checkpoint_n is None)):
            missing = [
                f
                for f, v in (
                    ("--checkpoint-n", self.checkpoint_n if needs_n else 1),
                    ("--checkpoint-g", self.checkpoint_g),
                )
                if v is None
            ]
            raise ConfigError(
                f"no weights given ({' and '.join(missing)} missing). Export trained networks by passing "
                "them, or add --random-weights to export untrained ones (benchmarks and tests only)"
            )
        for name in ("checkpoint_n", "checkpoint_g"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigError(f"--{name.replace('_', '-')} {str(path)!r} does not exist")

    @property
    def fixed_batch(self) -> bool:
        """True when the batch axis is a constant."""
        return self.batch is not None

    @property
    def max_regions(self) -> int | None:
        """Maps per frame the `regions` input plans for: the frame's content and the boxes."""
        return None if self.regions is None else self.regions + 1

    @property
    def profile(self) -> tuple[int, int, int]:
        """TensorRT's (min, opt, max) batch: the fixed batch three times, or `batch_profile`."""
        return (self.batch,) * 3 if self.batch is not None else self.batch_profile  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (paths as strings, tuples as lists)."""
        return settings_dict(self)


def _choice(what: str, value: str, choices: Any) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(
            f"unknown {what} {value!r}; choose one of {', '.join(choices)}.{closest(value, choices)}"
        )


def depth_net_from_backbone(backbone: str) -> str:
    """`--backbone resnet50` → hu2019_resnet50 (the paper's three depth nets)."""
    if backbone not in BACKBONE_SHORTCUTS:
        raise ConfigError(
            f"unknown --backbone {backbone!r}; choose one of {', '.join(BACKBONE_SHORTCUTS)} "
            f"(or name any network with --depth-net).{closest(backbone, BACKBONE_SHORTCUTS)}"
        )
    return BACKBONE_SHORTCUTS[backbone]
