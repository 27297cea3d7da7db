"""N of Laina et al. (3DV 2016), "FCRN": ResNet-50 encoder and four up-projections.

`fcrn_resnet50` is the published network (the authors' TensorFlow `ResNet50UpProj`): 1×1 conv 2048→1024
with a bias + BN (no ReLU), four fast up-projections 1024→512→256→128→64 (`fast_upprojection`), dropout,
3×3 conv to one channel with a bias, ReLU; 228×304 → 128×160. Every decoder conv has a bias, those
followed by BN too, as theirs do. The encoder is torchvision's ResNet-50; theirs is the Caffe one
(stride on the first 1×1 conv rather than the 3×3, a bias on conv1, BN ε 1e-4): the same shapes.

`fcrn_resnet50_bilinear` is our earlier variant, kept so its checkpoints load: Hu et al.'s bilinear
up-projection block (resize ×2, then the two-branch 5×5 block), no bias on the 1×1 conv, no final ReLU.
"""

from __future__ import annotations

import torch
from torch import nn

from depthmask.nets.models.backbones import build_encoder
from depthmask.nets.models.fast_upprojection import FastUpProjection, Padding
from depthmask.nets.models.hu2019 import Decoder
from depthmask.nets.models.registry import register_model


class LainaDecoder(nn.Module):
    """1×1 conv to half the channels + BN, four fast up-projections halving them, dropout, 3×3 conv, ReLU."""

    def __init__(self, num_features: int, dropout: float = 0.0, padding: Padding = "after") -> None:
        super().__init__()
        c = num_features // 2
        self.conv = nn.Conv2d(num_features, c, kernel_size=1)
        self.bn = nn.BatchNorm2d(c)
        self.up1 = FastUpProjection(c, c // 2, padding)
        self.up2 = FastUpProjection(c // 2, c // 4, padding)
        self.up3 = FastUpProjection(c // 4, c // 8, padding)
        self.up4 = FastUpProjection(c // 8, c // 16, padding)
        # The released graph keeps a dropout layer here (keep_prob 1 at inference); its training rate
        # is not published, so none by default.
        self.drop = nn.Dropout(dropout)
        self.pred = nn.Conv2d(c // 16, 1, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        x = self.up4(self.up3(self.up2(self.up1(x))))
        return torch.relu(self.pred(self.drop(x)))


class BilinearDecoder(Decoder):
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
    """Laina et al.: B×3×228×304 → B×1×128×160 depth in metres (the encoder's last block × 16)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.E = encoder
        self.D = decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(self.E(x)[-1])


def _laina(encoder: nn.Module, dropout: float, padding: Padding) -> FCRN:
    return FCRN(encoder, LainaDecoder(encoder.num_features, dropout, padding))


def _bilinear(encoder: nn.Module) -> FCRN:
    return FCRN(encoder, BilinearDecoder(encoder.num_features))


@register_model("fcrn_resnet50", role="depth", family="fcrn", input_size=(228, 304))
def fcrn_resnet50(pretrained: bool = False, dropout: float = 0.0, padding: Padding = "after") -> FCRN:
    """Laina et al. FCRN on ResNet-50, as published (fast up-projections)."""
    return _laina(build_encoder("resnet50", pretrained), dropout, padding)


@register_model("fcrn_resnet50_bilinear", role="depth", family="fcrn", input_size=(228, 304))
def fcrn_resnet50_bilinear(pretrained: bool = False) -> FCRN:
    """FCRN on ResNet-50 with our bilinear up-projection (earlier checkpoints)."""
    return _bilinear(build_encoder("resnet50", pretrained))


@register_model("fcrn_tiny", role="depth", family="fcrn", input_size=(96, 320))
def fcrn_tiny(dropout: float = 0.0, padding: Padding = "after") -> FCRN:
    """FCRN (fast up-projections) on a narrow ResNet: tests."""
    return _laina(build_encoder("resnet_tiny"), dropout, padding)


@register_model("fcrn_bilinear_tiny", role="depth", family="fcrn", input_size=(96, 320))
def fcrn_bilinear_tiny() -> FCRN:
    """FCRN with the bilinear up-projection on a narrow ResNet: tests."""
    return _bilinear(build_encoder("resnet_tiny"))
