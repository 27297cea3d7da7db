"""The building blocks of faithfulness curves (deletion/insertion for dense regression), shared by
`depthmask eval --curve` and the audit graph's optional `curve` output (`export --curve`):

- the scores a share of pixels is kept by: G's mask, a random map, the Sobel edge magnitude of I
  (Figure 5's baseline);
- `agreement`: how N(I ⊗ M_k) agrees with N(I) (δ1, RMSE, abs_rel; both clamped at 1 mm);
- `top_fraction`: the keep-top-k % mask by bisection on the score (TensorRT's TopK stops at k = 3840),
  with ties broken by a fixed random jitter far below any gap that matters (so exactly-tied scores, e.g.
  the zero edge magnitude of a flat region, cannot make the kept share jump).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from depthmask.contract.constants import FID_MIN_DEPTH, IMAGENET_MEAN, IMAGENET_STD

DEFAULT_KEEPS = (0.05, 0.10, 0.20, 0.40, 0.60, 0.80, 1.00)
METHODS = ("G", "random", "edges")
DELTA1 = 1.25
TIE_JITTER = 1e-3  # × the score's range: reorders only scores closer than this (and no rounding noise)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 grey, for the edge map
_SOBEL = torch.tensor(
    [
        [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],  # ∂x
        [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]],  # ∂y
    ]
).unsqueeze(1)


def sobel(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """∂x and ∂y of a B×1×H×W map by the fixed Sobel kernels (cross-correlation, zero padding 1)."""
    g = F.conv2d(image, _SOBEL.to(device=image.device, dtype=image.dtype), padding=1)
    return g[:, :1], g[:, 1:]


def edge_magnitude(image: torch.Tensor) -> torch.Tensor:
    """The Sobel edge magnitude of an ImageNet-normalised B×3×H×W image's grey image (B×1×H×W); replicate
    padding, so the frame border is not an edge."""
    x = image.float()
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    grey = ((x * std + mean) * torch.tensor(_LUMA, device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    gx, gy = sobel(F.pad(grey, (1, 1, 1, 1), mode="replicate"))
    return (gx[..., 1:-1, 1:-1] ** 2 + gy[..., 1:-1, 1:-1] ** 2).sqrt()


def agreement(depth: torch.Tensor, other: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image δ1 agreement, RMSE and abs_rel of `other` against `depth` (both B×1×h×w, metres)."""
    b = depth.shape[0]
    y = depth.reshape(b, -1).float().clamp_min(FID_MIN_DEPTH)
    yh = other.reshape(b, -1).float().clamp_min(FID_MIN_DEPTH)
    ratio = torch.maximum(yh / y, y / yh)
    return {
        "fid_delta1": (ratio < DELTA1).float().mean(1),
        "fid_rmse": ((y - yh) ** 2).mean(1).sqrt(),
        "fid_abs_rel": ((y - yh).abs() / y).mean(1),
    }
