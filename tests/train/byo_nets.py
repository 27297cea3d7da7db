"""Depth nets a user might bring (`file.py:factory`), for the bring-your-own-N tests."""

from __future__ import annotations

import torch
from torch import nn


class HalfResDepth(nn.Module):
    """B×3×H×W → B×1×H/2×W/2: honours depthmask's contract."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + 0.1


def good_net() -> nn.Module:
    return HalfResDepth()


class ThreeChannels(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::2, ::2]


def bad_net() -> nn.Module:
    return ThreeChannels()


def not_a_module() -> str:
    return "depth"
