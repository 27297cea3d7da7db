"""Encoder backbones from torchvision and timm, wrapped so parameter names match the authors' code.

Each wrapper returns the four feature maps block1..block4 that N's decoder and MFF read, and states
their channel counts (`block_channel`) and the last one (`num_features`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from depthmask.errors import ConfigError


class ResNetEncoder(nn.Module):
    """ResNet stem + layer1..4 (torchvision key names); blocks are the outputs of layer1..layer4."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        # timm names the stem activation `act1`, torchvision `relu`; neither has parameters.
        self.relu = getattr(resnet, "relu", None) or resnet.act1
        self.maxpool = resnet.maxpool
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4
        self.block_channel = tuple(
            _out_channels(layer) for layer in (self.layer1, self.layer2, self.layer3, self.layer4)
        )
        self.num_features = self.block_channel[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        b1 = self.layer1(x)
        b2 = self.layer2(b1)
        b3 = self.layer3(b2)
        b4 = self.layer4(b3)
        return b1, b2, b3, b4


class DenseNetEncoder(nn.Module):
    """torchvision DenseNet `features`; block1..3 are transition convs before their 2×2 pool."""

    def __init__(self, densenet: nn.Module) -> None:
        super().__init__()
        self.features = densenet.features
        f = self.features
        self.block_channel = (
            f.transition1.conv.out_channels,
            f.transition2.conv.out_channels,
            f.transition3.conv.out_channels,
            f.norm5.num_features,
        )
        self.num_features = self.block_channel[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f = self.features
        x = f.pool0(f.relu0(f.norm0(f.conv0(x))))
        blocks = []
        for i in (1, 2, 3):
            t = getattr(f, f"transition{i}")
            x = t.conv(t.relu(t.norm(getattr(f, f"denseblock{i}")(x))))
            blocks.append(x)
            x = t.pool(x)
        blocks.append(torch.relu(f.norm5(f.denseblock4(x))))
        return tuple(blocks)


class SENetEncoder(nn.Module):
    """Cadene-style SENet: `base` = layer0 (stem with its max-pool) and layer1..layer4."""

    def __init__(self, senet: nn.Module) -> None:
        super().__init__()
        # timm moved the stem's max-pool out of layer0 into `pool0`; put it back where the authors'
        # keys (base.0 … base.4) expect it. The pool has no parameters, so keys are unchanged.
        layer0 = senet.layer0
        if hasattr(senet, "pool0"):
            layer0 = nn.Sequential(OrderedDict([*layer0.named_children(), ("pool", senet.pool0)]))
        self.base = nn.Sequential(layer0, senet.layer1, senet.layer2, senet.layer3, senet.layer4)
        self.block_channel = tuple(_out_channels(self.base[i]) for i in range(1, 5))
        self.num_features = self.block_channel[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.base[0](x)
        b1 = self.base[1](x)
        b2 = self.base[2](b1)
        b3 = self.base[3](b2)
        b4 = self.base[4](b3)
        return b1, b2, b3, b4


def _out_channels(layer: nn.Sequential) -> int:
    """Channels leaving a residual stage: the last conv of its last block (Bottleneck or BasicBlock)."""
    last = layer[-1]
    return (getattr(last, "conv3", None) or last.conv2).out_channels


def build_encoder(backbone: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """An encoder wrapper by backbone name; `pretrained` uses the backbone library's weights API."""
    import torchvision

    if backbone in ("resnet18", "resnet34", "resnet50"):
        weights = "IMAGENET1K_V1" if pretrained else None
        return ResNetEncoder(getattr(torchvision.models, backbone)(weights=weights))
    if backbone == "densenet161":
        weights = "IMAGENET1K_V1" if pretrained else None
        return DenseNetEncoder(torchvision.models.densenet161(weights=weights))
    if backbone == "senet154":
        import timm

        return SENetEncoder(timm.create_model("legacy_senet154", pretrained=pretrained))
    if pretrained:
        raise ConfigError(
            f"backbone {backbone!r} is a small test/demo configuration with no ImageNet weights; "
            "drop --pretrained or choose resnet50, densenet161 or senet154"
        )
    if backbone == "resnet_tiny":
        # A narrow ResNet (same BasicBlock code, fewer channels) from timm, which exposes widths.
        from timm.models.resnet import BasicBlock, ResNet

        channels = tuple(kwargs.get("channels", (16, 32, 64, 128)))
        return ResNetEncoder(ResNet(BasicBlock, [1, 1, 1, 1], channels=channels, stem_width=channels[0]))
    if backbone == "densenet_tiny":
        # torchvision's DenseNet with a small growth rate: the DenseNet code path at test size.
        net = torchvision.models.DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16)
        return DenseNetEncoder(net)
    raise ConfigError(
        f"unknown backbone {backbone!r}; choose one of resnet18, resnet34, resnet50, densenet161, senet154, "
        "resnet_tiny, densenet_tiny"
    )
