"""Training settings, one frozen dataclass per kind of run: `DepthTrainConfig` (N) and `MaskTrainConfig` (G).

Defaults are the authors' (spec/training.md): N with Adam, lr 1e-4 ÷10 every 5 epochs, 20 epochs, weight
decay 1e-4, batch 8 per process; G with Adam, constant lr 1e-4, 10 epochs, weight decay 1e-4, batch 8,
λ = 5. Validation lives here and raises ConfigError; the configs are saved as JSON beside the checkpoints
(`config.json`) and read back for `--resume`. This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from depthmask.errors import ConfigError
from depthmask.settings import check_choice

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("none", "bf16", "fp16")
SCHEDULES = ("step", "constant", "cosine")
BAD_INPUT_POLICIES = ("skip", "stop")
DEPTH_LOSS_NAMES = ("hu2019", "fcrn", "berhu")  # losses.DEPTH_LOSSES' keys, named here to stay torch-free

# Settings a resumed run may change: they decide how long and how verbosely it runs, not what it computes.
RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "max_steps",
        "resume",
        "out",
        "workers",
        "log_every",
        "checkpoint_every",
        "progress",
        "tensorboard",
    }
)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Settings shared by both kinds of run. Use `DepthTrainConfig` or `MaskTrainConfig`."""

    kind: ClassVar[str] = ""

    # The trained network: registry name or module:factory. Network names in a config are the user's own
    # (a module:factory is imported); a config read back from a run (`--resume`) is only compared, not built.
    network: str
    data: str  # dataset spec, e.g. 'synthetic:frames=200,seed=0' or 'kitti:/data/kitti'
    checkpoint: Path | None = None  # weights to start from (ours, the authors' or a state dict)
    pretrained: bool = False  # ImageNet-initialised encoder through the backbone library (downloads)
    input_size: tuple[int, int] | None = None  # (H, W) fed to the network; None: the registry's nominal size
    batch_size: int = 8  # per process (the authors: 8 per GPU)
    epochs: int = 10
    max_steps: int | None = None  # stop after this many optimiser steps in all (a checkpoint is written)
    lr: float = 1e-4
    weight_decay: float = 1e-4
    schedule: str = "constant"  # step: × lr_gamma every lr_step_epochs; constant; cosine over all epochs
    lr_step_epochs: int = 5
    lr_gamma: float = 0.1
    seed: int = 0
    device: str = "auto"  # auto: CUDA when available (cuda:LOCAL_RANK under torchrun), else CPU
    amp: str = "none"  # none, bf16 (autocast) or fp16 (autocast + GradScaler)
    channels_last: bool = False
    cudnn_benchmark: bool = False
    deterministic: bool = False  # torch.use_deterministic_algorithms; exact resume on CPU
    workers: int = 4  # DataLoader worker processes per process
    out: Path = Path("runs/train")
    checkpoint_every: int = 500  # optimiser steps between checkpoints (0: only at the end of each epoch)
    log_every: int = 10  # optimiser steps between metric records
    resume: Path | None = None  # a run folder or its state file (last.state.pt)
    on_bad_input: str = "stop"  # an unreadable sample: stop naming the file, or skip and count it
    progress: bool = True  # a progress bar on the main process
    tensorboard: bool = True  # also write TensorBoard events when the tensorboard package is installed

    def __post_init__(self) -> None:
        # Construction-time normalisation only (str → Path, list → tuple), so JSON round-trips compare equal.
        for name in ("checkpoint", "out", "resume"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.input_size is not None:
            object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        self._validate()

    def _validate(self) -> None:
        if not self.network:
            raise ConfigError(
                "no network given; pass a registry name (see `depthmask info`) or module:factory"
            )
        if not self.data:
            raise ConfigError("no training data given; pass a dataset spec, e.g. 'synthetic:frames=200'")
        _choice("device", self.device, DEVICES)
        _choice("amp", self.amp, AMP_MODES)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("on-bad-input", self.on_bad_input, BAD_INPUT_POLICIES)
        for name in ("batch_size", "epochs", "lr_step_epochs", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{_flag(name)} must be at least 1, got {getattr(self, name)}")
        for name in ("workers", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{_flag(name)} must be ≥ 0, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"--max-steps must be at least 1 (or omitted), got {self.max_steps}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"--weight-decay must be ≥ 0, got {self.weight_decay}")
        if not 0 < self.lr_gamma <= 1:
            raise ConfigError(f"--lr-gamma must be in (0, 1], got {self.lr_gamma}")
        if self.input_size is not None and (len(self.input_size) != 2 or min(self.input_size) < 8):
            raise ConfigError(f"--size must be HxW with both at least 8 pixels, got {self.input_size}")
        if self.deterministic and self.cudnn_benchmark:
            raise ConfigError(
                "--deterministic and --cudnn-benchmark contradict each other (benchmark picks kernels "
                "by timing); drop one"
            )
        if self.pretrained and self.checkpoint is not None:
            raise ConfigError(
                "--pretrained and --checkpoint both give starting weights; the checkpoint would overwrite "
                "the ImageNet encoder, so pass only one"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, with `kind` first."""
        d: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            d[f.name] = (
                str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
            )
        return d

    def save_json(self, path: str | Path, **extra: Any) -> Path:
        """Write the settings (plus `extra`, e.g. the effective device) as JSON, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({**self.to_dict(), **extra}, indent=2) + "\n")
        os.replace(tmp, path)
        return path

    def differences(self, other: TrainConfig) -> list[str]:
        """Names of the settings that differ between two configs of the same kind."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True, kw_only=True)
class DepthTrainConfig(TrainConfig):
    """Training the depth net N on images with ground-truth depth (the authors' schedule by default)."""

    kind: ClassVar[str] = "depth"

    network: str = "hu2019_resnet50"  # the paper's Table 1 network
    epochs: int = 20
    schedule: str = "step"
    # hu2019 (l_depth + l_grad + l_normal), fcrn (ℓ1) or berhu (Laina's reverse Huber); None: by family
    loss: str | None = None
    out: Path = Path("runs/train-depth")

    def _validate(self) -> None:
        super()._validate()
        if self.loss is not None:
            _choice("loss", self.loss, DEPTH_LOSS_NAMES)


@dataclass(frozen=True, kw_only=True)
class MaskTrainConfig(TrainConfig):
    """Training the mask net G against a frozen N by Algorithm 1 (frames only; no ground truth needed)."""

    kind: ClassVar[str] = "mask"

    network: str = "mask_drn_d_22"
    depth_network: str | None = None  # N: registry name or module:factory (None: named by depth_checkpoint)
    depth_checkpoint: Path | None = None  # N's weights: our checkpoint, the authors' file or a state dict
    lam: float = 5.0  # λ of Eq. 4, the weight of the sparseness term mean(M)
    rank_weight: float = 0.0  # μ of the ranking term (MaskTask.ranking_term); 0: the paper's Eq. 4 alone
    out: Path = Path("runs/train-mask")

    def __post_init__(self) -> None:
        if self.depth_checkpoint is not None and not isinstance(self.depth_checkpoint, Path):
            object.__setattr__(self, "depth_checkpoint", Path(self.depth_checkpoint))
        super().__post_init__()

    def _validate(self) -> None:
        super()._validate()
        if not self.lam >= 0:
            raise ConfigError(f"--lam must be ≥ 0, got {self.lam}")
        if not 0 <= self.rank_weight < float("inf"):
            raise ConfigError(f"--rank-weight must be a finite number ≥ 0 (e.g. 3), got {self.rank_weight}")
        if self.depth_checkpoint is None and self.depth_network is None:
            raise ConfigError(
                "G is trained against a depth net N: pass --depth-checkpoint (ours or the authors' file) "
                "and/or --depth-network NAME|module:factory"
            )
        if self.depth_checkpoint is None and ":" not in self.depth_network:
            # A registry N without weights is a random network; explaining it teaches nothing.
            raise ConfigError(
                f"--depth-network {self.depth_network!r} without --depth-checkpoint would be a randomly "
                "initialised N; pass its trained weights with --depth-checkpoint"
            )


CONFIG_KINDS: dict[str, type[TrainConfig]] = {"depth": DepthTrainConfig, "mask": MaskTrainConfig}


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Rebuild a config from `to_dict()` output (unknown keys, e.g. the effective device, are ignored)."""
    kind = data.get("kind")
    if kind not in CONFIG_KINDS:
        raise ConfigError(f"training config has kind {kind!r}; expected one of {', '.join(CONFIG_KINDS)}")
    cls = CONFIG_KINDS[kind]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def load_config(path: str | Path) -> TrainConfig:
    """Read a `config.json` written beside a run's checkpoints."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not read the training config {path}: {exc}") from None
    return config_from_dict(data)


def _choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    check_choice(f"--{flag}", value, choices)


def _flag(name: str) -> str:
    return name.replace("_", "-")
