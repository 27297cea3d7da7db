"""Depth metrics (training.md) and per-frame mask statistics (contracts §1), in torch.

Depth metrics, per image over valid pixels (g = ground truth, d = prediction, both metres):
abs_rel = mean |d − g| / g; sq_rel = mean (d − g)² / g; rmse = sqrt(mean (d − g)²);
rmse_log = sqrt(mean (ln d − ln g)²); log10 = mean |log10 d − log10 g|; δk = fraction with
max(d/g, g/d) < 1.25^k. The prediction is upsampled bilinearly to the ground truth's size first (N's
114×152 output against NYU's 228×304, or against KITTI's full-resolution lidar maps), then clipped to
[min_depth, max_depth] (logarithms need d > 0). Valid pixels: `valid` (when given) and
min_depth < g (< max_depth when capped) and inside the evaluation crop (KITTI: Garg or Eigen).

Over a dataset every metric is the mean of the per-image values, except `rmse`, which is the authors'
NYU convention sqrt(mean over images of per-image MSE); `rmse_image_mean` (the KITTI papers'
convention) is the mean of per-image RMSEs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from depthmask.contract.constants import EPSILON, FAR_FRACTION, FID_MIN_DEPTH

Crop = Literal["garg", "eigen"]
METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "delta1", "delta2", "delta3")
DATASET_METRICS = (*METRICS, "rmse_image_mean")
MASK_STATS = ("mask_mean", "mask_keep", "fid_rmse", "fid_abs_rel", "far_attention")

# Row and column fractions of the evaluation crops on KITTI's full-resolution ground truth.
CROPS: dict[str, tuple[float, float, float, float]] = {
    "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    "eigen": (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}


def crop_mask(height: int, width: int, crop: Crop | None) -> torch.Tensor:
    """Bool H×W: True inside the Garg or Eigen crop (fractions truncated to pixels as Monodepth2 does)."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    if crop is None:
        mask[:] = True
        return mask
    if crop not in CROPS:
        raise ValueError(f"unknown crop {crop!r}; choose from {', '.join(CROPS)}")
    top, bottom, left, right = CROPS[crop]
    rows = np.array([top * height, bottom * height]).astype(np.int32)
    cols = np.array([left * width, right * width]).astype(np.int32)
    mask[rows[0] : rows[1], cols[0] : cols[1]] = True
    return mask


def upsample_to(pred: torch.Tensor, size: tuple[int, int], align_corners: bool = True) -> torch.Tensor:
    """Bilinear resize of a B×1×h×w prediction to `size`.

    align_corners=True reproduces the authors' evaluation (PyTorch 0.3.1's `upsample` had no other mode).
    """
    if tuple(pred.shape[-2:]) == tuple(size):
        return pred
    return F.interpolate(pred, size=tuple(size), mode="bilinear", align_corners=align_corners)


def evaluation_mask(
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    crop: Crop | None = None,
) -> torch.Tensor:
    """Bool mask of the pixels a metric counts: valid, min_depth < g (< max_depth), inside the crop."""
    mask = gt > min_depth
    if max_depth is not None:
        mask &= gt < max_depth
    if valid is not None:
        mask &= valid.to(torch.bool)
    if crop is not None:
        mask &= crop_mask(gt.shape[-2], gt.shape[-1], crop).to(gt.device)
    return mask


def image_errors(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    crop: Crop | None = None,
    align_corners: bool = True,
) -> dict[str, float] | None:
    """The metrics of one image (plus `mse` and `pixels`), or None when it has no valid pixel.

    `pred` is h×w, 1×h×w or 1×1×h×w; `gt` (and `valid`) H×W or 1×H×W. Computed in float64.
    """
    gt = gt.reshape(gt.shape[-2:]).double()
    p = pred.reshape(1, 1, *pred.shape[-2:]).double()
    p = upsample_to(p, tuple(gt.shape), align_corners)[0, 0]
    v = valid.reshape(gt.shape) if valid is not None else None
    mask = evaluation_mask(gt, v, min_depth=min_depth, max_depth=max_depth, crop=crop)
    n = int(mask.sum())
    if n == 0:
        return None
    g = gt[mask]
    d = p[mask].clamp(min=min_depth, max=max_depth)
    diff = d - g
    ratio = torch.maximum(d / g, g / d)
    mse = float((diff**2).mean())
    out = {
        "abs_rel": float((diff.abs() / g).mean()),
        "sq_rel": float((diff**2 / g).mean()),
        "rmse": math.sqrt(mse),
        "rmse_log": float(((d.log() - g.log()) ** 2).mean().sqrt()),
        "log10": float((d.log10() - g.log10()).abs().mean()),
        **{f"delta{k}": float((ratio < 1.25**k).double().mean()) for k in (1, 2, 3)},
        "mse": mse,
        "pixels": float(n),
    }
    return out


class MetricAccumulator:
    """Collects per-image errors and reduces them over the dataset (see the module docstring)."""

    def __init__(self) -> None:
        self.images: list[dict[str, float]] = []
        self.empty = 0  # images without a single valid pixel (counted, not averaged)

    def add(self, errors: dict[str, float] | None) -> None:
        """One image's `image_errors` (None counts an image with no valid pixel)."""
        if errors is None:
            self.empty += 1
        else:
            self.images.append(errors)

    def result(self) -> dict[str, float]:
        """Dataset metrics; empty when no image had a valid pixel."""
        if not self.images:
            return {}
        n = len(self.images)
        out = {k: sum(e[k] for e in self.images) / n for k in METRICS}
        out["rmse_image_mean"] = out["rmse"]
        out["rmse"] = math.sqrt(sum(e["mse"] for e in self.images) / n)
        return out


def dataset_metrics(errors: Iterable[dict[str, float] | None]) -> dict[str, float]:
    """Reduce per-image errors over a dataset (a MetricAccumulator in one call)."""
    acc = MetricAccumulator()
    for e in errors:
        acc.add(e)
    return acc.result()


def mask_statistics(
    mask: torch.Tensor,
    depth: torch.Tensor,
    depth_masked: torch.Tensor,
    *,
    epsilon: float = EPSILON,
    far_fraction: float = FAR_FRACTION,
) -> dict[str, torch.Tensor]:
    """Per-frame audit statistics (contracts §1), each a length-B tensor.

    mask (B×1×H×W in [0, 1]), depth = N(I) and depth_masked = N(I ⊗ M) (B×1×h×w, metres):
    mask_mean = mean M; mask_keep = fraction of M > ε; fid_rmse = sqrt(mean (Y − Ŷ)²);
    fid_abs_rel = mean |Y − Ŷ| / max(Y, 1 mm); far_attention = Σ M over the `far_fraction` of pixels
    where N(I) (bilinearly resized to the mask's size) is largest, divided by Σ M (0 for an empty mask).
    """
    b = mask.shape[0]
    m = mask.reshape(b, -1).float()
    y, yh = depth.reshape(b, -1).float(), depth_masked.reshape(b, -1).float()
    far_depth = F.interpolate(depth.float(), size=mask.shape[-2:], mode="bilinear", align_corners=False)
    k = max(1, round(far_fraction * m.shape[1]))
    far = torch.zeros_like(m).scatter_(1, far_depth.reshape(b, -1).topk(k, dim=1).indices, 1.0)
    return {
        "mask_mean": m.mean(1),
        "mask_keep": (m > epsilon).float().mean(1),
        "fid_rmse": ((y - yh) ** 2).mean(1).sqrt(),
        "fid_abs_rel": ((y - yh).abs() / y.clamp_min(FID_MIN_DEPTH)).mean(1),
        "far_attention": (m * far).sum(1) / m.sum(1).clamp_min(1e-12),
    }


def mean_of(rows: Iterable[Mapping[str, float]], keys: Iterable[str]) -> dict[str, float]:
    """Column means of per-image rows (an empty input gives an empty dict)."""
    rows = list(rows)
    if not rows:
        return {}
    return {k: sum(float(r[k]) for r in rows) / len(rows) for k in keys}
