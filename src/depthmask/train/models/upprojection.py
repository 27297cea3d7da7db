"""The up-projection block shared by N (Hu et al. 2019, Laina et al.) and G."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

KERNEL = 5  # conv1 and conv2 are 5×5 (the authors' block)
# Convolve first when the block's input has more channels than the per-tap products it would upsample
# instead (both branches × 25 taps × out channels): MFF's wide encoder blocks, never the decoders.
TAPS = 2 * KERNEL * KERNEL


def resize(x: torch.Tensor, size: Sequence[int] | torch.Size) -> torch.Tensor:
    """Bilinear resize with align_corners=True, the semantics the released weights were trained under."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


class UpProjection(nn.Module):
    """Resize, then relu(bn1_2(conv1_2(relu(bn1(conv1(x))))) + bn2(conv2(x))).

    Submodules are registered in the authors' order so their checkpoints load strictly. The target
    size is passed per call and should come from tensor shapes so an exported graph keeps its batch
    and spatial axes symbolic.

    conv1 and conv2 read the same resized input, and a bilinear resize (per channel, linear) commutes
    with any per-pixel channel mix. So each 5×5 tap's channel mix can run *before* the resize, on the
    coarse grid, and the resized per-tap products are summed at their tap offsets (zero padding as
    before): the same function, exactly, up to float rounding.
    For a wide input upsampled far (MFF's 1024/2048 channels ×8/×16 to 16 channels) that saves ~99 % of
    the block's multiply-adds and the resize of the wide tensor; `conv_first` chooses (None: automatic,
    when in_channels > 50 · out_channels; False: the authors' order, as the baseline benchmark runs it).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=KERNEL, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1_2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn1_2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(in_channels, out_channels, kernel_size=KERNEL, padding=2, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv_first: bool | None = None

    @property
    def convolves_first(self) -> bool:
        """Whether forward mixes channels before the resize (see the class)."""
        if self.conv_first is not None:
            return self.conv_first
        return self.conv1.in_channels > TAPS * self.conv1.out_channels

    def forward(self, x: torch.Tensor, size: Sequence[int] | torch.Size) -> torch.Tensor:
        if self.convolves_first:
            both = self._convolve_then_resize(x, size)
            pre1, pre2 = both.chunk(2, dim=1)
        else:
            x = resize(x, size)
            pre1, pre2 = self.conv1(x), self.conv2(x)
        branch1 = self.bn1_2(self.conv1_2(self.relu(self.bn1(pre1))))
        branch2 = self.bn2(pre2)
        return self.relu(branch1 + branch2)

    def _convolve_then_resize(self, x: torch.Tensor, size: Sequence[int] | torch.Size) -> torch.Tensor:
        """conv1(resize(x)) and conv2(resize(x)) stacked on channels, computed on x's coarse grid."""
        w = torch.cat([self.conv1.weight, self.conv2.weight])  # [2o, C, 5, 5]
        outs, channels = w.shape[:2]
        per_tap = w.permute(0, 2, 3, 1).reshape(outs * KERNEL * KERNEL, channels, 1, 1)
        products = resize(F.conv2d(x, per_tap), size)  # [B, 2o·25, H, W]
        h, w = products.shape[-2:]
        pad = KERNEL // 2
        padded = F.pad(products, (pad, pad, pad, pad)).unflatten(1, (outs, KERNEL * KERNEL))
        # Shifted adds, not a grouped one-hot convolution: 25 reads per output instead of 625 MACs, and
        # no backend has a fast kernel for 25-in/1-out groups (ORT and oneDNN fall back to im2col).
        total = padded[:, :, 0, :h, :w]
        for t in range(1, KERNEL * KERNEL):
            i, j = divmod(t, KERNEL)
            total = total + padded[:, :, t, i : i + h, j : j + w]
        return total


def in_authors_order(model: nn.Module) -> nn.Module:
    """Make every up-projection in `model` resize first, as the authors' code does (in place)."""
    for m in model.modules():
        if isinstance(m, UpProjection):
            m.conv_first = False
    return model
