"""The up-projection block shared by N (Hu et al. 2019, Laina et al.) and G."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

KERNEL = 5  # conv1 and conv2 are 5×5 (the authors' block)
TAPS = KERNEL * KERNEL

# Where the block's 5×5 channel mixes run relative to the bilinear resize (all the same function):
#   resize_first    the authors' order: resize both axes, then the two 5×5 convolutions;
#   convolve_first  every tap's channel mix on the coarse grid, then both axes resized and the taps
#                   summed by two matrix products;
#   width_first     resize the width only, a 1×5 convolution per kernel row there, then the height
#                   resized and the rows summed by one matrix product;
#   height_first    the same with the axes swapped.
Order = Literal["resize_first", "convolve_first", "width_first", "height_first"]
ORDERS: tuple[Order, ...] = ("resize_first", "convolve_first", "width_first", "height_first")


def resize(x: torch.Tensor, size: Sequence[int] | torch.Size) -> torch.Tensor:
    """Bilinear resize with align_corners=True, the semantics the released weights were trained under."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


# Dense interpolation products run at a lower rate per multiply-add than convolutions: ~1.5× the time
# in ONNX Runtime's MLAS, ~1.2× in OpenVINO capped to AVX2 (2 AMD EPYC Zen 4 cores, the eleven blocks of
# hu2019_resnet50 + G at 228×304: benchmarks/upprojection_orders.py); with weight 2 the choice is the
# measured fastest order of every block on ONNX Runtime, and within 3 % of the fastest on OpenVINO.
# (Banded products, Gather + batched MatMul, were slower than dense ones below ~100 output rows.)
INTERPOLATION_WEIGHT = 2


def order_macs(
    order: Order, channels: int, outs: int, coarse: tuple[int, int], fine: tuple[int, int]
) -> tuple[int, int]:
    """Multiply-adds of conv1 and conv2 (`outs` channels in all) from `coarse` to `fine` in `order`:
    (in convolutions, in the dense interpolation products). The resizes themselves are cheap."""
    (h, w), (big_h, big_w) = coarse, fine
    sum_rows = outs * big_h * (KERNEL * h) * big_w  # [H, 5h] @ [.., 5h, W]
    if order == "resize_first":
        return big_h * big_w * channels * outs * TAPS, 0
    if order == "convolve_first":
        sum_cols = outs * KERNEL * h * (KERNEL * w) * big_w  # [.., 5 rows of h, 5w] @ [5w, W]
        return h * w * channels * outs * TAPS, sum_cols + sum_rows
    if order == "width_first":
        return h * big_w * channels * outs * TAPS, sum_rows
    if order == "height_first":
        return big_h * w * channels * outs * TAPS, outs * big_h * (KERNEL * w) * big_w
    raise ValueError(f"unknown order {order!r}; choose from {', '.join(ORDERS)}")


class UpProjection(nn.Module):
    """Resize, then relu(bn1_2(conv1_2(relu(bn1(conv1(x))))) + bn2(conv2(x))).

    Submodules are registered in the authors' order so their checkpoints load strictly. The target
    size is passed per call and should come from tensor shapes so an exported graph keeps its batch
    axis symbolic (frame sizes are fixed per export).

    conv1 and conv2 read the same resized input, and a bilinear resize (per channel, linear, separable)
    commutes with any per-pixel channel mix. So each 5×5 tap's channel mix can run before the resize of
    one axis or both, and the per-tap products are resized and summed at their tap offsets (zero padding
    as before) by matrix products: the same function, exactly, up to float rounding (see `ORDERS`).
    `order` chooses (None: the cheapest for this call's sizes by `order_macs`, e.g. convolve first for
    MFF's wide blocks upsampled ×8, width first for G's last block; "resize_first" is the authors'
    order, as the baseline benchmark runs it).
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
        self.order: Order | None = None

    def order_for(self, coarse: Sequence[int], fine: Sequence[int]) -> Order:
        """The order forward uses from a `coarse` (h, w) input to a `fine` (H, W) size."""
        if self.order is not None:
            return self.order
        c, o = self.conv1.in_channels, 2 * self.conv1.out_channels
        sizes = (int(coarse[0]), int(coarse[1])), (int(fine[0]), int(fine[1]))

        def cost(order: Order) -> int:
            convolution, interpolation = order_macs(order, c, o, *sizes)
            return convolution + INTERPOLATION_WEIGHT * interpolation

        return min(ORDERS, key=cost)  # ties go to the earlier order: the authors' unless a rewrite is cheaper

    def forward(self, x: torch.Tensor, size: Sequence[int] | torch.Size) -> torch.Tensor:
        order = self.order_for(x.shape[-2:], size)
        if order == "resize_first":
            x = resize(x, size)
            pre1, pre2 = self.conv1(x), self.conv2(x)
        else:
            pre1, pre2 = _ORDERED[order](self._weight(), x, (int(size[0]), int(size[1]))).chunk(2, dim=1)
        branch1 = self.bn1_2(self.conv1_2(self.relu(self.bn1(pre1))))
        branch2 = self.bn2(pre2)
        return self.relu(branch1 + branch2)

    def _weight(self) -> torch.Tensor:
        """conv1's and conv2's kernels stacked on output channels: [2o, C, 5, 5]."""
        return torch.cat([self.conv1.weight, self.conv2.weight])


def _convolve_first(weight: torch.Tensor, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """conv(resize(x)) computed on x's coarse grid: no upsampled per-tap tensor, no padding or shifts.

    The resize and the sum of the 25 per-tap products at their offsets are one linear map per axis, so
    both run as two matrix products against the shifted interpolation matrices (Resize, Pad and Slice
    had taken 11 % of ONNX Runtime's time for hu2019_resnet50 + G; as products, Conv takes 95 %).
    """
    outs, channels = weight.shape[:2]
    per_tap = weight.permute(0, 2, 3, 1).reshape(outs * TAPS, channels, 1, 1)
    products = F.conv2d(x, per_tap)  # [B, 2o·25, h, w]; tap (i, j) reads the resized grid at (i-2, j-2)
    b, _, h, w = products.shape
    cols = _shifted_interpolation(w, size[1], products)  # [W, 5w]
    # [B, 2o, i, h, j·w] @ [j·w, W]: resize along x and sum the column taps in one product.
    taps = products.reshape(b, outs, KERNEL, KERNEL, h, w).transpose(3, 4)
    along_x = taps.reshape(b, outs, KERNEL, h, KERNEL * w) @ cols.t()
    return _sum_rows(along_x.reshape(b, outs, KERNEL * h, size[1]), h, size[0])


def _width_first(weight: torch.Tensor, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """conv(resize(x)) with only the width resized first: each kernel row i is a 1×5 convolution there."""
    outs, channels = weight.shape[:2]
    h = x.shape[-2]
    wide = resize(x, (h, size[1]))  # the same rows: align_corners maps row y to row y exactly
    per_row = weight.transpose(1, 2).reshape(outs * KERNEL, channels, 1, KERNEL)  # [(o, i), C, 1, 5]
    rows = F.conv2d(wide, per_row, padding=(0, KERNEL // 2))  # [B, 2o·5, h, W]
    return _sum_rows(rows.reshape(x.shape[0], outs, KERNEL * h, size[1]), h, size[0])


def _height_first(weight: torch.Tensor, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """conv(resize(x)) with only the height resized first: `_width_first` on the transposed grid."""
    swapped = _width_first(weight.transpose(-1, -2), x.transpose(-1, -2), (size[1], size[0]))
    return swapped.transpose(-1, -2)


def _sum_rows(rows: torch.Tensor, h: int, height: int) -> torch.Tensor:
    """[B, 2o, 5·h, W] (kernel row i's products stacked on height) → [B, 2o, H, W]: resize and sum."""
    return _shifted_interpolation(h, height, rows) @ rows  # [H, i·h] @ [B, 2o, i·h, W]


_ORDERED = {"convolve_first": _convolve_first, "width_first": _width_first, "height_first": _height_first}


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
            m.order = "resize_first"
    return model
