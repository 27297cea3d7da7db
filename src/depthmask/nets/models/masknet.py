"""G, the mask network of Hu, Zhang & Okatani (ICCV 2019): DRN-D-22 encoder + up-projection decoder + sigmoid.

Names follow the authors' code (E.base.0 … E.base.8, D.up1..3, D.conv) so `mask_*` checkpoints load strictly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from depthmask.errors import ConfigError
from depthmask.nets.models.drn import drn_d_22
from depthmask.nets.models.registry import register_model
from depthmask.nets.models.upprojection import UpProjection


class MaskEncoder(nn.Module):
    """The nine DRN stages as `base`; returns the outputs the decoder needs for its target sizes."""

    def __init__(self, drn: nn.Module) -> None:
        super().__init__()
        self.base = nn.Sequential(*(getattr(drn, f"layer{i}") for i in range(9)))
        self.out_channels = drn.out_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        half = quarter = x
        for i, stage in enumerate(self.base):
            x = stage(x)
            if i == 2:
                half = x
            elif i == 3:
                quarter = x
        return half, quarter, x


class MaskDecoder(nn.Module):
    """Three up-projections back to 1/4, 1/2 and full resolution, then a 3×3 conv to one channel."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        c = in_channels
        self.up1 = UpProjection(c, c // 2)
        self.up2 = UpProjection(c // 2, c // 4)
        self.up3 = UpProjection(c // 4, c // 8)
        self.conv = nn.Conv2d(c // 8, 1, kernel_size=3, padding=1, bias=True)

    def forward(
        self, x: torch.Tensor, quarter: Sequence[int], half: Sequence[int], full: Sequence[int]
    ) -> torch.Tensor:
        x = self.up1(x, quarter)
        x = self.up2(x, half)
        x = self.up3(x, full)
        return self.conv(x)


class MaskNet(nn.Module):
    """G: B×3×H×W (ImageNet-normalised) → mask B×1×H×W in (0, 1)."""

    def __init__(self, drn: nn.Module) -> None:
        super().__init__()
        self.E = MaskEncoder(drn)
        self.D = MaskDecoder(self.E.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half, quarter, feats = self.E(x)
        logits = self.D(feats, quarter.shape[-2:], half.shape[-2:], x.shape[-2:])
        return torch.sigmoid(logits)


@register_model("mask_drn_d_22", role="mask", family="mask", input_size=(228, 304))
def mask_drn_d_22(pretrained: bool = False) -> MaskNet:
    """G of the paper: DRN-D-22 encoder and up-projection decoder (25.3M parameters)."""
    return MaskNet(drn_d_22(pretrained))


@register_model("mask_drn_tiny", role="mask", family="mask", input_size=(96, 320))
def mask_drn_tiny(width: int = 8) -> MaskNet:
    """A narrow DRN-D-22 (the same stages, `width`·(1,1,2,4,8,8,8,8) channels): tests and the demo."""
    if width < 8 or width % 8:
        raise ConfigError(
            f"mask_drn_tiny width must be a positive multiple of 8 (decoder divides by 8), got {width}"
        )
    channels = tuple(width * m for m in (1, 1, 2, 4, 8, 8, 8, 8))
    return MaskNet(drn_d_22(channels=channels))
