"""The optimiser and learning-rate schedule of a config (the authors': Adam with weight decay)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from depthmask.train.config import TrainConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam, lr and weight decay from the config (L2 in the gradient, as in the authors' torch.optim.Adam)."""
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per epoch: `step` (× lr_gamma every lr_step_epochs), `constant` or `cosine`."""
    sched = torch.optim.lr_scheduler
    if cfg.schedule == "step":
        return sched.StepLR(optimizer, step_size=cfg.lr_step_epochs, gamma=cfg.lr_gamma)
    if cfg.schedule == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    # ConstantLR with factor 1 keeps a scheduler (and its state) in every run without changing the rate.
    return sched.ConstantLR(optimizer, factor=1.0, total_iters=0)
