"""N of Hu, Ozay, Zhang & Okatani (WACV 2019): encoder E, decoder D, multi-scale fusion MFF, refinement R.

Module names follow the authors' code (JunjH/Revisiting_Single_Depth_Estimation) so their released
checkpoints load strictly; see `spec/networks.md`.
"""

from __future__ import annotations

import torch
from torch import nn

from depthmask.nets.models.backbones import build_encoder
from depthmask.nets.models.registry import register_model
from depthmask.nets.models.upprojection import UpProjection

NOMINAL_SIZE = (228, 304)


class Decoder(nn.Module):
    """1×1 conv halving the channels, then four up-projections each halving them again."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        c = num_features // 2
        self.conv = nn.Conv2d(num_features, c, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.up1 = UpProjection(c, c // 2)
        self.up2 = UpProjection(c // 2, c // 4)
        self.up3 = UpProjection(c // 4, c // 8)
        self.up4 = UpProjection(c // 8, c // 16)
        self.out_channels = c // 16

    def forward(self, b1: torch.Tensor, b2: torch.Tensor, b3: torch.Tensor, b4: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(b4)))
        x = self.up1(x, b3.shape[-2:])
        x = self.up2(x, b2.shape[-2:])
        x = self.up3(x, b1.shape[-2:])
        h, w = b1.shape[-2:]
        return self.up4(x, (2 * h, 2 * w))


class MultiFeatureFusion(nn.Module):
    """Each encoder block up-projected to `width` channels at the decoder's size, fused by a 5×5 conv."""

    def __init__(self, block_channel: tuple[int, ...], width: int = 16) -> None:
        super().__init__()
        self.up1 = UpProjection(block_channel[0], width)
        self.up2 = UpProjection(block_channel[1], width)
        self.up3 = UpProjection(block_channel[2], width)
        self.up4 = UpProjection(block_channel[3], width)
        c = 4 * width
        self.conv = nn.Conv2d(c, c, kernel_size=5, padding=2, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.out_channels = c

    def forward(
        self, b1: torch.Tensor, b2: torch.Tensor, b3: torch.Tensor, b4: torch.Tensor, size
    ) -> torch.Tensor:
        x = torch.cat([self.up1(b1, size), self.up2(b2, size), self.up3(b3, size), self.up4(b4, size)], dim=1)
        return torch.relu(self.bn(self.conv(x)))


class Refinement(nn.Module):
    """Three 5×5 convs on [decoder, MFF]; the last has a bias and gives depth in metres (no activation)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        c = in_channels
        self.conv0 = nn.Conv2d(c, c, kernel_size=5, padding=2, bias=False)
        self.bn0 = nn.BatchNorm2d(c)
        self.conv1 = nn.Conv2d(c, c, kernel_size=5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, 1, kernel_size=5, padding=2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn0(self.conv0(x)))
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.conv2(x)


class HuDepthNet(nn.Module):
    """N: depth in metres at half the input resolution, B×3×H×W (ImageNet-normalised) → B×1×H/2×W/2."""

    def __init__(self, encoder: nn.Module, mff_width: int = 16) -> None:
        super().__init__()
        self.E = encoder
        self.D = Decoder(encoder.num_features)
        self.MFF = MultiFeatureFusion(encoder.block_channel, mff_width)
        self.R = Refinement(self.D.out_channels + self.MFF.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b2, b3, b4 = self.E(x)
        d = self.D(b1, b2, b3, b4)
        m = self.MFF(b1, b2, b3, b4, d.shape[-2:])
        return self.R(torch.cat([d, m], dim=1))


def hu2019(backbone: str, pretrained: bool = False, mff_width: int = 16) -> HuDepthNet:
    """N of Hu et al. on any supported backbone (ImageNet encoder weights when `pretrained`)."""
    return HuDepthNet(build_encoder(backbone, pretrained), mff_width)


@register_model("hu2019_resnet50", role="depth", family="hu2019", input_size=NOMINAL_SIZE)
def hu2019_resnet50(pretrained: bool = False) -> HuDepthNet:
    """Hu et al. 2019 on ResNet-50 (67.6M parameters)."""
    return hu2019("resnet50", pretrained)


@register_model("hu2019_densenet161", role="depth", family="hu2019", input_size=NOMINAL_SIZE)
def hu2019_densenet161(pretrained: bool = False) -> HuDepthNet:
    """Hu et al. 2019 on DenseNet-161 (77.1M parameters)."""
    return hu2019("densenet161", pretrained)


@register_model("hu2019_senet154", role="depth", family="hu2019", input_size=NOMINAL_SIZE)
def hu2019_senet154(pretrained: bool = False) -> HuDepthNet:
    """Hu et al. 2019 on SENet-154 (157.1M parameters)."""
    return hu2019("senet154", pretrained)


@register_model("hu2019_resnet18", role="depth", family="hu2019", input_size=NOMINAL_SIZE)
def hu2019_resnet18(pretrained: bool = False) -> HuDepthNet:
    """Hu et al. 2019 on ResNet-18: a light member for edge devices."""
    return hu2019("resnet18", pretrained)


@register_model("hu2019_tiny", role="depth", family="hu2019", input_size=(96, 320))
def hu2019_tiny(mff_width: int = 4) -> HuDepthNet:
    """Hu et al. 2019 on a narrow ResNet (16–128 channels): tests and the built-in demo."""
    return hu2019("resnet_tiny", mff_width=mff_width)


@register_model("hu2019_densenet_tiny", role="depth", family="hu2019", input_size=(96, 320))
def hu2019_densenet_tiny(mff_width: int = 4) -> HuDepthNet:
    """Hu et al. 2019 on a small-growth DenseNet: the DenseNet code path at test size."""
    return hu2019("densenet_tiny", mff_width=mff_width)
