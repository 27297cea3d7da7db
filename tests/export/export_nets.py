"""Small N and G with weights that behave like trained ones, written as depthmask checkpoints.

Freshly initialised networks give near-constant outputs (depth ≈ 0 m, mask ≈ 0.5 everywhere), against
which parity metrics say nothing. Here BatchNorm statistics are re-estimated on synthetic driving frames
(N on both I and I ⊗ M, as it runs in the audit graph), and the last convolution is rescaled so depth
spreads around 3 m (an indoor scene's scale) and the mask around the ε threshold. No training and no download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from depthmask.bench.weights import reestimate_norms
from depthmask.export.config import ExportConfig
from depthmask.export.frames import collect, frames_from_source
from depthmask.nets.checkpoint import save_checkpoint
from depthmask.nets.graph import Preprocess
from depthmask.nets.models import create_model

SIZE = (64, 96)  # H, W: small enough for CPU, large enough for every stage of the tiny nets
# Fully centred BatchNorm makes a random net chaotic (a perturbation grows ~1.5× per layer; Yang et al.,
# "A mean field theory of batch normalization", 2019), which trained nets are not: one 8-bit rounding of
# the image then flips a tenth of the mask. Half-centring keeps outputs input-dependent and bounded.
CENTRING = 0.5


def _last_conv(model: nn.Module) -> nn.Conv2d:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 1][-1]


def _settle(model: nn.Module, inputs: list[torch.Tensor], last: nn.Conv2d, mean: float, std: float) -> None:
    reestimate_norms(model, inputs, CENTRING)
    seen: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        for x in inputs:
            model(x)
    hook.remove()
    out = torch.cat(seen)
    with torch.no_grad():
        scale = std / float(out.std())
        last.weight.mul_(scale)
        last.bias.mul_(scale).add_(mean - float(out.mean()) * scale)


def make_checkpoints(
    folder: Path,
    depth_net: str = "hu2019_tiny",
    mask_net: str = "mask_drn_tiny",
    size: tuple[int, int] = SIZE,
    mask_kwargs: dict | None = None,
) -> tuple[Path, Path]:
    """(N, G) checkpoints in `folder`, seeded and reproducible."""
    frames = collect(frames_from_source("synthetic:seed=11", size[0], size[1], 16))
    x = Preprocess("bgr")(torch.from_numpy(frames))
    batches = list(x.split(4))
    torch.manual_seed(0)
    g = create_model(mask_net, **(mask_kwargs or {}))
    _settle(g, batches, g.D.conv, mean=-2.0, std=2.0)  # logits: about a third of pixels above ε
    with torch.no_grad():
        masked = [b * g(b) for b in batches]
    n = create_model(depth_net)
    _settle(n, [torch.cat([b, m]) for b, m in zip(batches, masked, strict=True)], _last_conv(n), 3.0, 0.75)
    folder.mkdir(parents=True, exist_ok=True)
    pn = save_checkpoint(n, folder / f"{depth_net}.safetensors")
    pg = save_checkpoint(g, folder / f"{mask_net}.safetensors", **{"lambda": 5.0})
    return pn, pg


def config(checkpoints: tuple[Path, Path], mode: str = "audit", **overrides: Any) -> ExportConfig:
    """An ExportConfig for the small checkpoints at SIZE."""
    n, g = checkpoints
    return ExportConfig(
        checkpoint_n=None if mode == "mask" else n,
        checkpoint_g=g,
        mode=mode,
        height=SIZE[0],
        width=SIZE[1],
        **overrides,
    )
