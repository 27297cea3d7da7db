"""The up-projection block shared by N (Hu et al. 2019, Laina et al.) and G."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def resize(x: torch.Tensor, size: Sequence[int] | torch.Size) -> torch.Tensor:
    """Bilinear resize with align_corners=True, the semantics the released weights were trained under."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class UpProjection(nn.Module):
    """Resize, then relu(bn1_2(conv1_2(relu(bn1(conv1(x))))) + bn2(conv2(x))).

    Submodules are registered in the authors' order so their checkpoints load strictly. The target
    size is passed per call and should come from tensor shapes so an exported graph keeps its batch
    and spatial axes symbolic.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=5, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1_2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn1_2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(in_channels, out_channels, kernel_size=5, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, size: Sequence[int] | torch.Size) -> torch.Tensor:
        x = resize(x, size)
        branch1 = self.bn1_2(self.conv1_2(self.relu(self.bn1(self.conv1(x)))))
        branch2 = self.bn2(self.conv2(x))
        return self.relu(branch1 + branch2)
