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
    axis symbolic (frame sizes are fixed per export).

    conv1 and conv2 read the same resized input, and a bilinear resize (per channel, linear) commutes
    with any per-pixel channel mix. So each 5×5 tap's channel mix can run *before* the resize, on the
    coarse grid, and the per-tap products are resized and summed at their tap offsets (zero padding as
    before) by two matrix products: the same function, exactly, up to float rounding.
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
        """conv1(resize(x)) and conv2(resize(x)) stacked on channels, computed on x's coarse grid.

        The resize and the sum of the 25 per-tap products at their offsets are one linear map per
        axis, so both run as two matrix products against the shifted interpolation matrices: no
        upsampled per-tap tensor, no padding, no shifted copies (Resize, Pad and Slice had taken 11 % of
        ONNX Runtime's time for hu2019_resnet50 + G; now Conv takes 95 %).
        """
        w = torch.cat([self.conv1.weight, self.conv2.weight])  # [2o, C, 5, 5]
        outs, channels = w.shape[:2]
        per_tap = w.permute(0, 2, 3, 1).reshape(outs * KERNEL * KERNEL, channels, 1, 1)
        # [B, 2o·25, h, w]; tap (i, j) reads the resized grid at offset (i-2, j-2)
        products = F.conv2d(x, per_tap)
        b, _, h, w_in = products.shape
        height, width = int(size[0]), int(size[1])
        rows = _shifted_interpolation(h, height, products)  # [H, 5h]
        cols = _shifted_interpolation(w_in, width, products)  # [W, 5w]
        # [B, 2o, i, h, j·w] @ [j·w, W]: resize along x and sum the column taps in one product.
        taps = products.reshape(b, outs, KERNEL, KERNEL, h, w_in).transpose(3, 4)
        along_x = taps.reshape(b, outs, KERNEL, h, KERNEL * w_in) @ cols.t()
        # [H, i·h] @ [B, 2o, i·h, W]: resize along y and sum the row taps.
        return rows @ along_x.reshape(b, outs, KERNEL * h, width)


def _shifted_interpolation(n_in: int, n_out: int, like: torch.Tensor) -> torch.Tensor:
    """[n_out, 5·n_in]: block t maps a length-n_in signal to its resize read at offset t-2, zero outside.

    Built by resizing the identity with the same `resize`, so the weights are the interpolation's own.
    """
    eye = torch.eye(n_in, dtype=like.dtype, device=like.device).reshape(1, n_in, n_in, 1)
    matrix = resize(eye, (n_out, 1))[0, :, :, 0].t()  # [n_out, n_in]: row y holds resize weights of y
    pad = KERNEL // 2
    padded = F.pad(matrix, (0, 0, pad, pad))  # zero rows: offsets that fall outside the output
    return torch.cat([padded[t : t + n_out] for t in range(KERNEL)], dim=1)


def in_authors_order(model: nn.Module) -> nn.Module:
    """Make every up-projection in `model` resize first, as the authors' code does (in place)."""
    for m in model.modules():
        if isinstance(m, UpProjection):
            m.conv_first = False
    return model
