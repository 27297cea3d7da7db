"""DRN-D (Yu, Koltun & Funkhouser, "Dilated Residual Networks", CVPR 2017), arch D, without its classifier.

Written by hand because neither torchvision nor timm provides DRN; module names and order follow
fyu/drn so the authors' G checkpoints (which embed DRN-D-22) load strictly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

DRN_D_22_CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
DRN_D_22_LAYERS = (1, 1, 2, 2, 2, 2, 1, 1)
# ImageNet weights published with fyu/drn (not on torchvision/timm); used only when asked for.
DRN_D_22_URL = "http://dl.yf.io/drn/drn_d_22-4bd2f8ea.pth"


class BasicBlock(nn.Module):
    """3×3 → BN → ReLU → 3×3 → BN, plus the (optionally down-sampled) input, then ReLU."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: tuple[int, int] = (1, 1),
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            inplanes, planes, 3, stride=stride, padding=dilation[0], dilation=dilation[0], bias=False
        )
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation[1], dilation=dilation[1], bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class DRN(nn.Module):
    """DRN arch D: layer0..layer8; output at 1/8 of the input resolution with `channels[-1]` channels."""

    def __init__(
        self, channels: Sequence[int] = DRN_D_22_CHANNELS, layers: Sequence[int] = DRN_D_22_LAYERS
    ) -> None:
        super().__init__()
        if len(channels) != 8 or len(layers) != 8:
            raise ValueError(f"DRN-D needs 8 channel widths and 8 layer counts, got {channels} and {layers}")
        self.inplanes = channels[0]
        self.layer0 = nn.Sequential(
            nn.Conv2d(3, channels[0], 7, padding=3, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(inplace=True),
        )
        self.layer1 = self._conv_layers(channels[0], layers[0], stride=1)
        self.layer2 = self._conv_layers(channels[1], layers[1], stride=2)
        self.layer3 = self._residual_layer(channels[2], layers[2], stride=2)
        self.layer4 = self._residual_layer(channels[3], layers[3], stride=2)
        self.layer5 = self._residual_layer(channels[4], layers[4], dilation=2)
        self.layer6 = self._residual_layer(channels[5], layers[5], dilation=4)
        self.layer7 = self._conv_layers(channels[6], layers[6], dilation=2)
        self.layer8 = self._conv_layers(channels[7], layers[7], dilation=1)
        self.out_channels = channels[7]

    def _residual_layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        # DRN-D keeps the full dilation in the first block of a dilated stage ("new_level=False").
        mods = [BasicBlock(self.inplanes, planes, stride, downsample, (dilation, dilation))]
        self.inplanes = planes
        mods += [BasicBlock(planes, planes, dilation=(dilation, dilation)) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def _conv_layers(self, planes: int, convs: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        mods: list[nn.Module] = []
        for i in range(convs):
            mods += [
                nn.Conv2d(
                    self.inplanes,
                    planes,
                    3,
                    stride=stride if i == 0 else 1,
                    padding=dilation,
                    dilation=dilation,
                    bias=False,
                ),
                nn.BatchNorm2d(planes),
                nn.ReLU(inplace=True),
            ]
            self.inplanes = planes
        return nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(9):
            x = getattr(self, f"layer{i}")(x)
        return x


def drn_d_22(pretrained: bool = False, channels: Sequence[int] = DRN_D_22_CHANNELS) -> DRN:
    """DRN-D-22; `pretrained` fetches fyu/drn's ImageNet weights (a download, on the user's machine)."""
    net = DRN(channels)
    if pretrained:
        state = torch.hub.load_state_dict_from_url(DRN_D_22_URL, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        net.load_state_dict(state, strict=True)
    return net
