"""Laina et al.'s fast up-projection (3DV 2016, §3.2, Figures 2 and 4): un-pooling and a 5×5 convolution
computed as four small convolutions of the coarse map, interleaved.

Un-pooling puts each value x[m, n] at the top-left of a 2×2 block of zeros, U[2m, 2n] = x[m, n]; a 5×5
convolution W (cross-correlation, padding 2) of U then reads, at each output parity, one sub-sampling of W:

    output pixel    kernel                  reads x at rows / cols
    (2m,   2n  )    A = W[0::2, 0::2] 3×3   m-1..m+1 / n-1..n+1
    (2m+1, 2n  )    B = W[1::2, 0::2] 2×3   m..m+1   / n-1..n+1
    (2m,   2n+1)    C = W[0::2, 1::2] 3×2   m-1..m+1 / n..n+1
    (2m+1, 2n+1)    D = W[1::2, 1::2] 2×2   m..m+1   / n..n+1

(kernel sizes are rows × columns). So every 3-tap axis is padded by one on both sides and every 2-tap axis
by one after (bottom / right): `padding="after"`, the exact identity, at a quarter of the 5×5 form's
multiply-adds. The authors' TensorFlow code pads B, C, D *before* (top / left); their NYU model was trained so
(irolaina/FCRN-DepthPrediction issue #40: "the order of the asymmetric padding does not matter" when
training the fast form directly, but it does when converting 5×5 weights). `padding="before"` reproduces
that code: its odd rows and columns read one coarse pixel earlier than the identity's.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Padding = Literal["after", "before"]
PADDINGS: tuple[Padding, ...] = ("after", "before")


def fast_kernels_from_5x5(
    weight: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The kernels A (3×3), B (2×3), C (3×2), D (2×2) equivalent to un-pooling then `weight` [O, I, 5, 5]."""
    if weight.shape[-2:] != (5, 5):
        raise ValueError(f"expected a 5×5 kernel, got {tuple(weight.shape[-2:])}")
    return weight[..., 0::2, 0::2], weight[..., 1::2, 0::2], weight[..., 0::2, 1::2], weight[..., 1::2, 1::2]


class FastUpConv(nn.Module):
    """×2 up-convolution: A, B, C, D on the coarse map, interleaved into each 2×2 output block as
    [[A, C], [B, D]]. Every conv has a bias, as in the published model; no normalisation here."""

    def __init__(self, in_channels: int, out_channels: int, padding: Padding = "after") -> None:
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        self.conv_a = nn.Conv2d(in_channels, out_channels, kernel_size=(3, 3))
        self.conv_b = nn.Conv2d(in_channels, out_channels, kernel_size=(2, 3))
        self.conv_c = nn.Conv2d(in_channels, out_channels, kernel_size=(3, 2))
        self.conv_d = nn.Conv2d(in_channels, out_channels, kernel_size=(2, 2))
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (1, 1, 1, 1))
        # The 2-tap axes drop one of the two pad lines: the first ("after": they read m, m+1) or the last.
        two = slice(1, None) if self.padding == "after" else slice(None, -1)
        a = self.conv_a(padded)
        b = self.conv_b(padded[:, :, two, :])
        c = self.conv_c(padded[:, :, :, two])
        d = self.conv_d(padded[:, :, two, two])
        # pixel_shuffle puts channel 4k + 2i + j at (k, 2h + i, 2w + j): per channel k, order A, C, B, D.
        return F.pixel_shuffle(torch.stack([a, c, b, d], dim=2).flatten(1, 2), 2)

    @torch.no_grad()
    def load_5x5(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        """Set A, B, C, D (and their shared bias) from weights published in the un-pool + 5×5 form."""
        if self.padding != "after":
            raise ValueError('un-pool + 5×5 weights are equivalent only with padding="after"')
        convs = (self.conv_a, self.conv_b, self.conv_c, self.conv_d)
        for conv, kernel in zip(convs, fast_kernels_from_5x5(weight), strict=True):
            conv.weight.copy_(kernel)
            conv.bias.copy_(bias if bias is not None else torch.zeros_like(conv.bias))


class FastUpProjection(nn.Module):
    """Laina's up-projection: relu(bn1_2(conv1_2(relu(bn1(upconv1(x))))) + bn2(upconv2(x))), 2× the size.

    Names parallel `UpProjection`'s (its 5×5 convs become fast up-convolutions); the authors' TensorFlow
    layers map one to one: layer{id}_br1_Conv{A..D} → upconv1.conv_{a..d}, layer{id}_br1_BN → bn1,
    layer{id}_Conv → conv1_2, layer{id}_BN → bn1_2, layer{id}_br2_Conv{A..D} → upconv2.conv_{a..d},
    layer{id}_br2_BN → bn2.
    """

    def __init__(self, in_channels: int, out_channels: int, padding: Padding = "after") -> None:
        super().__init__()
        self.upconv1 = FastUpConv(in_channels, out_channels, padding)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1_2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.bn1_2 = nn.BatchNorm2d(out_channels)
        self.upconv2 = FastUpConv(in_channels, out_channels, padding)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1 = self.bn1_2(self.conv1_2(self.relu(self.bn1(self.upconv1(x)))))
        branch2 = self.bn2(self.upconv2(x))
        return self.relu(branch1 + branch2)
