"""Trained-like random weights for benchmarks: residual branches damped, BatchNorm statistics re-estimated
on synthetic frames, the one-channel heads aimed along their features' principal direction and rescaled.

Freshly initialised networks give near-constant outputs (depth ≈ 0 m, mask ≈ 0.5 everywhere); fidelity
figures measured on them say nothing (every pixel is below the depth metrics' 1 mm floor, every mask
pixel above ε). Speed does not depend on the weights' values, fidelity does, so `settle` makes random
networks behave like trained ones in how much their outputs move when their input moves a little:

- every residual branch's last BatchNorm gets γ = `RESIDUAL_GAIN`: trained ResNets keep those γ small
  (hence the "zero-γ" initialisation of Goyal et al. 2017); at γ = 1 a random ResNet-50 amplifies a
  ±1 grey level of input noise ~3× more than a trained network does;
- BatchNorm running statistics are re-estimated on synthetic driving frames (N on both I and I ⊗ M, as it
  runs in the audit graph) and only rescale (centring a random net makes it chaotic: one rounding of the
  input flips much of the mask, which trained nets do not do);
- the last convolution of each network reads the first principal component of its input patches, not a
  random direction (a random read-out cancels the coherent part of its 100+ channels and keeps the
  rounding noise, which no trained head does), then is rescaled so depth spreads around an indoor
  scene's ~3 m and the mask logits around the ε threshold.

Measured at 114×152 (hu2019_resnet50 + mask_drn_d_22, fp32 against itself under ±1 grey level): depth
abs_rel 4.8 % with only the statistics settled, 0.32 % settled as above; the trained demo networks: 0.11 %.
Trained checkpoints are always better evidence; they need no settling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# A channel whose variance is ≈ 0 on the frames would amplify rounding noise by 1/sqrt(eps); floor it.
VAR_FLOOR = 0.05
CENTRING = 0.0  # fraction of the estimated mean BatchNorm subtracts: 0 = rescale only (least chaotic)
RESIDUAL_GAIN = 0.2  # γ of each residual branch's last BatchNorm (see the module)
SETTLE_BATCH = 4
PCA_SAMPLES = 8192  # patch positions per image for the head's principal direction (bounded memory)


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


def residual_branch_norms(model: nn.Module) -> Iterator[nn.modules.batchnorm._BatchNorm]:
    """The last BatchNorm of each residual block's branch.

    A residual block is recognised by its `downsample` attribute (torchvision's and timm's ResNet and
    SENet blocks, and our DRN's, all have one, None where the shortcut is the identity).
    """
    for block in model.modules():
        if not hasattr(block, "downsample"):
            continue
        norms = [c for c in block.children() if isinstance(c, nn.modules.batchnorm._BatchNorm)]
        if norms:
            yield norms[-1]


def principal_direction(conv: nn.Conv2d, inputs: list[torch.Tensor], seed: int = 0) -> torch.Tensor:
    """Unit weights for `conv` (one output channel) along the first principal component of its input
    patches (the patches the convolution sees, sampled at up to `PCA_SAMPLES` positions per image)."""
    g = torch.Generator().manual_seed(seed)
    cov: torch.Tensor | None = None
    total = torch.zeros((), dtype=torch.float64)
    count = 0
    for x in inputs:
        for image in x.split(1):
            patches = F.unfold(
                image, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride
            )[0].T  # [positions, C·kh·kw]
            if len(patches) > PCA_SAMPLES:
                patches = patches[torch.randperm(len(patches), generator=g)[:PCA_SAMPLES]]
            p = patches.double()
            cov = p.T @ p if cov is None else cov + p.T @ p
            total = total + p.sum(0)
            count += len(p)
    assert cov is not None, "principal_direction needs at least one input"
    mean = total / count
    _, vectors = torch.linalg.eigh(cov / count - torch.outer(mean, mean))
    top = vectors[:, -1]
    top = top if float(top.sum()) >= 0 else -top  # eigh's sign is arbitrary; fix it for reproducibility
    return top.to(conv.weight.dtype).view_as(conv.weight)


@torch.no_grad()
def reestimate_norms(model: nn.Module, inputs: list[torch.Tensor], centring: float = CENTRING) -> None:
    """BatchNorm running statistics re-estimated on `inputs` (variance floored, mean scaled by
    `centring`); leaves `model` in eval mode."""
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


@torch.no_grad()
def _settle(model: nn.Module, inputs: list[torch.Tensor], head: HeadScale, centring: float) -> None:
    for norm in residual_branch_norms(model):
        norm.weight.fill_(RESIDUAL_GAIN)  # fill, not multiply: settling twice gives the same weights
    reestimate_norms(model, inputs, centring)
    last = last_single_channel_conv(model)
    if last.bias is None:
        raise ValueError(f"{type(model).__name__}'s head has no bias to put its outputs' mean at {head.mean}")
    last.weight.copy_(principal_direction(last, _head_inputs(model, last, inputs)))
    out = torch.cat(_head_outputs(model, last, inputs))
    scale = head.std / max(float(out.std()), 1e-12)
    last.weight.mul_(scale)
    last.bias.mul_(scale).add_(head.mean - float(out.mean()) * scale)


def _head_inputs(model: nn.Module, last: nn.Conv2d, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    return _hooked(model, last, inputs, lambda _m, args, _out: args[0])


def _head_outputs(model: nn.Module, last: nn.Conv2d, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    return _hooked(model, last, inputs, lambda _m, _args, out: out)


def _hooked(model: nn.Module, layer: nn.Module, inputs: list[torch.Tensor], pick: Any) -> list[torch.Tensor]:
    """What `pick(module, args, output)` returns at `layer`, for each input run through `model`."""
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda m, args, out: seen.append(pick(m, args, out)))
    try:
        for x in inputs:
            model(x)
    finally:
        hook.remove()
    return seen


def settle(graph: Any, frames: np.ndarray, *, centring: float = CENTRING) -> None:
    """Make an AuditGraph's random N and G behave like trained ones (in place; see the module).

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
