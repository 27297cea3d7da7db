"""What one training step computes: N's supervised depth loss, or Algorithm 1's objective for G.

A task holds the network being trained (`model`) and whatever else its loss needs (the frozen N for G);
the training loop (`depthmask.train.trainer`) owns devices, DDP, optimiser, checkpoints and logging.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from depthmask.errors import ConfigError
from depthmask.nets.curve import DEFAULT_KEEPS
from depthmask.nets.models.upprojection import resize
from depthmask.train.faithfulness import top_share
from depthmask.train.losses import DEPTH_LOSSES, hu_loss, mask_objective

KEEP_THRESHOLD = 0.025  # M′ = (M > 0.025), the paper's binarised mask (Table 1)
# The ranking term's shares: the curve's, less 100 % (there the term would be Eq. 4's l_dif at M = 1).
RANK_KEEPS = tuple(k for k in DEFAULT_KEEPS if k < 1.0)
AutocastFactory = Callable[[], AbstractContextManager[Any]]


@dataclass
class StepOutput:
    """The loss to minimise and detached scalars to log (the loss among them)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]


class DepthTask:
    """N trained on images with ground truth: hu2019 loss (l_depth + l_grad + l_normal) or fcrn ℓ1."""

    kind = "depth"
    inputs = ("image", "depth", "valid")  # sample keys a step reads (the rest stays on the host)

    def __init__(self, model: nn.Module, loss: str) -> None:
        self.model = model
        self.loss_name = loss
        self.loss_fn = DEPTH_LOSSES[loss]

    def check_sample(self, sample: dict[str, Any], data: str) -> None:
        """Refuse a dataset without ground-truth depth before training starts."""
        if "depth" not in sample:
            raise ConfigError(
                f"training N needs ground-truth depth, but the samples of {data!r} have only "
                f"{', '.join(sorted(sample))}; use a dataset with depth (kitti:, nyu-csv:, synthetic:)"
            )

    def to(self, device: torch.device, channels_last: bool) -> None:
        """Move the networks (channels-last memory format when asked)."""
        _place(self.model, device, channels_last)

    def compute(self, net: nn.Module, data: dict[str, torch.Tensor], autocast: AutocastFactory) -> StepOutput:
        """Predict depth, bring it to the ground truth's size, and compare over valid pixels."""
        depth = data["depth"]
        valid = data.get("valid")
        with autocast():
            pred = net(data["image"])
        pred = pred.float()  # the losses' logs and Sobel filters run in fp32 whatever the autocast
        if pred.shape[-2:] != depth.shape[-2:]:
            pred = resize(pred, depth.shape[-2:])
        if valid is not None:
            # NaN × 0 is NaN: pixels without ground truth must hold a finite value before masking.
            depth = torch.where(valid, depth, torch.zeros_like(depth))
        loss = self.loss_fn(pred, depth, valid)
        with torch.no_grad():
            sq = (pred - depth) ** 2
            mse = sq.mean() if valid is None else (sq * valid).sum() / valid.sum().clamp_min(1)
        return StepOutput(loss, {"loss": loss.detach(), "rmse": mse.sqrt()})

    def provenance(self) -> dict[str, Any]:
        """What the weights file should record about how N was trained."""
        return {"role": "depth", "loss": self.loss_name}


class MaskTask:
    """Algorithm 1: G in train mode; N frozen in eval mode, with gradients flowing through it to the input."""

    kind = "mask"
    inputs = ("image",)

    def __init__(self, model: nn.Module, depth_net: nn.Module, lam: float, rank_weight: float = 0.0) -> None:
        self.model = model
        self.depth_net = depth_net.eval()  # BatchNorm running statistics; never switched to train mode
        for p in self.depth_net.parameters():
            p.requires_grad_(False)
        self.lam = lam
        self.rank_weight = rank_weight

    def check_sample(self, sample: dict[str, Any], data: str) -> None:
        """G needs images only; anything else in the samples is ignored."""
        if "image" not in sample:
            raise ConfigError(f"the samples of {data!r} have no 'image'; G is trained on images")

    def to(self, device: torch.device, channels_last: bool) -> None:
        """Move G and the frozen N."""
        _place(self.model, device, channels_last)
        _place(self.depth_net, device, channels_last)

    def compute(self, net: nn.Module, data: dict[str, torch.Tensor], autocast: AutocastFactory) -> StepOutput:
        """Y = N(ψ) without grad; M = G(ψ); L = l_dif(Y, N(ψ ⊗ M)) + λ·mean(M) (Eq. 4), plus with a
        `rank_weight` μ the ranking term μ·l_dif(Y, N(ψ ⊗ top_k(M))) (`ranking_term`)."""
        image = data["image"]  # ImageNet-normalised: a masked-out pixel becomes the mean colour
        with torch.no_grad(), autocast():
            target = self.depth_net(image)
        with autocast():
            mask = net(image)
            masked = self.depth_net(image * mask)
        obj = mask_objective(target.float(), masked.float(), mask.float(), self.lam)
        loss = obj.total
        with torch.no_grad():
            keep = (mask > KEEP_THRESHOLD).float().mean()
        metrics = {"dif": obj.dif.detach(), "mask_mean": obj.sparsity.detach(), "keep": keep}
        if self.rank_weight:
            rank = self.ranking_term(image, target, mask, autocast)
            loss = loss + self.rank_weight * rank
            metrics["rank"] = rank.detach()
        return StepOutput(loss, {"loss": loss.detach(), **metrics})

    def ranking_term(
        self, image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, autocast: AutocastFactory
    ) -> torch.Tensor:
        """l_dif(Y, N(ψ ⊗ K)), K the binary keep-map of M's largest share k (one of RANK_KEEPS, drawn per
        step from torch's seeded generator), which the faithfulness curve measures. The gradient passes
        straight through the binarisation to M: Eq. 4 alone says nothing about the order of the pixels it
        drives towards 0, and this term teaches G which of them to reveal first at every budget."""
        k = RANK_KEEPS[int(torch.randint(len(RANK_KEEPS), ()))]
        kept = top_share(mask.detach(), k).to(mask.dtype)
        kept = kept + mask - mask.detach()  # forward: the binary map; backward: d/dM
        with autocast():
            ranked = self.depth_net(image * kept)
        return hu_loss(ranked.float(), target.float().detach())

    def provenance(self) -> dict[str, Any]:
        """λ, the ranking term's weight and the N this G explains (its name and weights' sha256)."""
        return {
            "role": "mask",
            "lambda": self.lam,
            "rank_weight": self.rank_weight,
            "depth_network": getattr(self.depth_net, "depthmask_name", None),
            "depth_checkpoint": getattr(self.depth_net, "depthmask_checkpoint", None),
            "depth_sha256": getattr(self.depth_net, "depthmask_sha256", None),
        }


def _place(model: nn.Module, device: torch.device, channels_last: bool) -> None:
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)


def autocast_factory(device: torch.device, amp: str) -> AutocastFactory:
    """A maker of torch.autocast contexts for bf16/fp16, or of no-op contexts for full precision."""
    if amp == "none":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)
