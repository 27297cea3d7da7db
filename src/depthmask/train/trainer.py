"""Training N (`train_depth`) and G by Algorithm 1 (`train_mask`): single process or torchrun DDP.

Each builds the networks, the task and the dataset from a frozen config and hands them to the shared
`TrainingLoop` (see `depthmask.train.loop` for the run folder's files).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from depthmask.errors import ConfigError
from depthmask.nets.loading import DEFAULT_BYO_SIZE, build_network, load_network
from depthmask.nets.models import model_entry
from depthmask.nets.models.byo import is_factory_spec
from depthmask.train.config import DepthTrainConfig, MaskTrainConfig, TrainConfig
from depthmask.train.distributed import DistContext, setup
from depthmask.train.loop import (
    WEIGHTS_NAME,
    StepCallback,
    StepInfo,
    TrainingError,
    TrainingLoop,
    TrainResult,
)
from depthmask.train.tasks import DepthTask, MaskTask

__all__ = [
    "WEIGHTS_NAME",
    "StepCallback",
    "StepInfo",
    "TrainResult",
    "TrainingError",
    "train_depth",
    "train_mask",
]


def train_depth(
    cfg: DepthTrainConfig, *, dataset: Dataset | None = None, on_step: StepCallback | None = None
) -> TrainResult:
    """Train a depth net N with its family's loss (Hu et al.: l_depth + l_grad + l_normal; FCRN: ℓ1).

    Samples need `image` and `depth` (and optionally `valid`); a prediction of another size than `depth`
    is resized bilinearly (align_corners=True) before the loss. `dataset` replaces `cfg.data` (which then
    only labels the run); `on_step` is called after every optimiser step on every process.
    """
    with _session(cfg) as ctx:
        input_size = cfg.input_size or _nominal_size(cfg.network)
        model = _trained_network(cfg, "depth", input_size)
        task = DepthTask(model, _depth_loss_name(cfg))
        effective = {"input_size": list(input_size), "loss": task.loss_name}
        data = dataset if dataset is not None else _build_dataset(cfg, input_size)
        return TrainingLoop(cfg, ctx, task, data, input_size, effective, on_step).fit()


def train_mask(
    cfg: MaskTrainConfig, *, dataset: Dataset | None = None, on_step: StepCallback | None = None
) -> TrainResult:
    """Train the mask net G against a frozen N by Algorithm 1 (Eq. 4 with λ = cfg.lam, and the ranking
    term when cfg.rank_weight > 0); images only.

    N comes from `cfg.depth_network` / `cfg.depth_checkpoint` (registry + checkpoint, the authors' files,
    or module:factory); it stays in eval mode with frozen weights while gradients flow through it to the
    masked input ψ ⊗ G(ψ), ψ ImageNet-normalised.
    """
    with _session(cfg) as ctx:
        size_hint = cfg.input_size or DEFAULT_BYO_SIZE
        depth_net = load_network(
            cfg.depth_network,
            cfg.depth_checkpoint,
            role="depth",
            input_size=size_hint,
            trusted_factory=cfg.depth_network,  # the user's own; a checkpoint may not name code
            option="--depth-network",
        )
        input_size = cfg.input_size or _nominal_size(depth_net.depthmask_name)
        model = _trained_network(cfg, "mask", input_size)
        task = MaskTask(model, depth_net, cfg.lam, cfg.rank_weight)
        effective = {
            "input_size": list(input_size),
            "depth_network": depth_net.depthmask_name,
            "depth_sha256": depth_net.depthmask_sha256,
        }
        data = dataset if dataset is not None else _build_dataset(cfg, input_size)
        return TrainingLoop(cfg, ctx, task, data, input_size, effective, on_step).fit()


@contextlib.contextmanager
def _session(cfg: TrainConfig) -> Iterator[DistContext]:
    """Process group, seeds and global torch flags for the run's duration (flags restored afterwards)."""
    ctx = setup(cfg.device)
    flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    try:
        if cfg.deterministic:
            if ctx.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            # CUDA has no deterministic bilinear-upsampling backward (every N and G uses it): warn there.
            torch.use_deterministic_algorithms(True, warn_only=ctx.device.type == "cuda")
            torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        torch.manual_seed(cfg.seed)
        yield ctx
    finally:
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags[2], flags[3]
        ctx.close()


def _nominal_size(spec: str) -> tuple[int, int]:
    return DEFAULT_BYO_SIZE if is_factory_spec(spec) else model_entry(spec).input_size


def _trained_network(cfg: TrainConfig, role: str, input_size: tuple[int, int]) -> nn.Module:
    """The network to train: from cfg.checkpoint, ImageNet-initialised (--pretrained), or random."""
    if cfg.checkpoint is not None:
        model = load_network(
            cfg.network,
            cfg.checkpoint,
            role=role,
            input_size=input_size,
            trusted_factory=cfg.network,
            option="--network",
        )
    else:
        if cfg.pretrained and is_factory_spec(cfg.network):
            raise ConfigError(
                f"--pretrained applies to registry networks; {cfg.network!r} builds its own weights"
            )
        kwargs = {"pretrained": True} if cfg.pretrained else None
        model = build_network(cfg.network, role=role, kwargs=kwargs, trusted_factory=cfg.network)
    return model.train()


def _depth_loss_name(cfg: DepthTrainConfig) -> str:
    if cfg.loss is not None:
        return cfg.loss
    if is_factory_spec(cfg.network):
        raise ConfigError(
            f"{cfg.network!r} is your own network; say which loss trains it: --loss hu2019 "
            "(l_depth + l_grad + l_normal) or --loss fcrn (ℓ1)"
        )
    family = model_entry(cfg.network).family
    if family not in ("hu2019", "fcrn"):
        raise ConfigError(f"{cfg.network!r} (family {family!r}) has no default loss; pass --loss")
    return family


def _build_dataset(cfg: TrainConfig, input_size: tuple[int, int]) -> Dataset:
    from depthmask.train.data import dataset_from_spec

    return dataset_from_spec(cfg.data, split="train", input_size=input_size)
