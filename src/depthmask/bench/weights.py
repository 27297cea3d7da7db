"""Trained-like random weights for benchmarks: BatchNorm statistics re-estimated on synthetic frames, the
one-channel heads rescaled.

Freshly initialised networks give near-constant outputs (depth ≈ 0 m, mask ≈ 0.5 everywhere); fidelity
figures measured on them say nothing (every pixel is below the depth metrics' 1 mm floor, every mask
pixel above ε). Speed does not depend on the weights' values, fidelity does, so `settle` makes random
networks behave like trained ones in scale: BatchNorm running statistics are re-estimated on synthetic
driving frames (N on both I and I ⊗ M, as it runs in the audit graph), half-centred (a fully centred random
net is chaotic: one rounding of the input flips much of the mask, which trained nets do not do), and the
last convolution of each network is rescaled so depth spreads around an indoor scene's ~3 m and the mask
logits around the ε threshold. Trained checkpoints are always better evidence; they need no settling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

# A channel whose variance is ≈ 0 on the frames would amplify rounding noise by 1/sqrt(eps); floor it.
VAR_FLOOR = 0.05
CENTRING = 0.0  # fraction of the estimated mean BatchNorm subtracts: 0 = rescale only (least chaotic)
SETTLE_BATCH = 4


@dataclass(frozen=True)
class HeadScale:
    """Where a network's last one-channel convolution should put its outputs: mean and spread."""

    mean: float
    std: float


DEPTH_HEAD = HeadScale(mean=3.0, std=0.75)  # metres, before N's output activation (there is none)
MASK_HEAD = HeadScale(mean=-2.0, std=2.0)  # logits: sigmoid(-2) ≈ 0.12, about a third of pixels above ε


def last_single_channel_conv(model: nn.Module) -> nn.Conv2d:
    """The network's last convolution with one output channel (its head: depth, or the mask's logits)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 1]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no one-channel convolution to rescale")
    return convs[-1]


@torch.no_grad()
def _settle(model: nn.Module, inputs: list[torch.Tensor], head: HeadScale, centring: float) -> None:
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over every batch below, not an exponential one
    model.train()
    for x in inputs:
        model(x)
    model.eval()
    for m in norms:
        m.running_var.clamp_(min=VAR_FLOOR)
        m.running_mean.mul_(centring)
    last = last_single_channel_conv(model)
    seen: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        for x in inputs:
            model(x)
    finally:
        hook.remove()
    out = torch.cat(seen)
    scale = head.std / max(float(out.std()), 1e-12)
    last.weight.mul_(scale)
    last.bias.mul_(scale).add_(head.mean - float(out.mean()) * scale)


def settle(graph: Any, frames: np.ndarray, *, centring: float = CENTRING) -> None:
    """Make an AuditGraph's random N and G behave like trained ones in scale (in place; see the module).

    `frames`: uint8 [N, H, W, 3] in the graph's channel order, ideally not the frames fidelity is
    measured on. G is settled first, then N on [I; I ⊗ M] with the settled G's masks.
    """
    x = graph.preprocess(torch.from_numpy(np.ascontiguousarray(frames)))
    batches = list(x.split(SETTLE_BATCH))
    _settle(graph.mask_net, batches, MASK_HEAD, centring)
    if graph.depth_net is not None:
        with torch.no_grad():
            both = [torch.cat([b, b * graph.mask_net(b)]) for b in batches]
        _settle(graph.depth_net, both, DEPTH_HEAD, centring)
    graph.eval()
