"""N of Laina et al. (3DV 2016), "FCRN": ResNet-50 encoder and four up-projections, trained with ℓ1.

Our up-projection is the bilinear one shared with Hu et al. (resize ×2, then the two-branch block)
instead of Laina's un-pooling + interleaved convolutions: the same receptive structure, one block for
the whole project; the TensorFlow weights are not meant to load.
"""

from __future__ import annotations

import torch
from torch import nn

from depthmask.nets.models.backbones import build_encoder
from depthmask.nets.models.hu2019 import Decoder
from depthmask.nets.models.registry import register_model


class FCRNDecoder(Decoder):
    """Hu et al.'s decoder layers (1×1 conv to half the channels + BN, four up-projections), each
    up-projection doubling the resolution (no skip sizes, no ReLU after the BN), then a 3×3 conv to depth."""

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.pred = nn.Conv2d(self.out_channels, 1, kernel_size=3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = self.bn(self.conv(x))
        for up in (self.up1, self.up2, self.up3, self.up4):
            h, w = x.shape[-2:]
            x = up(x, (2 * h, 2 * w))
        return self.pred(x)


class FCRN(nn.Module):
    """Laina et al.: B×3×228×304 → B×1×128×160 depth in metres."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.E = encoder
        self.D = FCRNDecoder(encoder.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(self.E(x)[-1])


@register_model("fcrn_resnet50", role="depth", family="fcrn", input_size=(228, 304))
def fcrn_resnet50(pretrained: bool = False) -> FCRN:
    """Laina et al. FCRN on ResNet-50."""
    return FCRN(build_encoder("resnet50", pretrained))


@register_model("fcrn_tiny", role="depth", family="fcrn", input_size=(96, 320))
def fcrn_tiny() -> FCRN:
    """FCRN on a narrow ResNet: tests."""
    return FCRN(build_encoder("resnet_tiny"))
