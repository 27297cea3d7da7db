"""Robustness × attention: for each corruption and severity (`depthmask.sources.corruptions`), how far N's
depth moves, and what moves in G's mask.

Per image I and corrupted copy I_c (the corruption applied to the 8-bit frame, then normalised as the
dataset normalises it):
- depth: abs_rel and δ1 agreement of N(I_c) against the clean N(I); and against ground truth, beside the
  clean image's, when the data has it;
- attention, for each G: IoU of M′_c = G(I_c) > ε with M′ = G(I) > ε; the change of far_attention (each
  mask with its own image's depth) and of mask_mean, corrupt minus clean.
Rows are means over the images; N and G see each corrupted batch once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from depthmask.contract.constants import EPSILON, FAR_FRACTION
from depthmask.contract.fidelity import mask_iou
from depthmask.nets.curve import agreement
from depthmask.sources.corruptions import Corruptor
from depthmask.train.data.transforms import denormalize, normalize
from depthmask.train.metrics import MetricAccumulator, image_errors, mask_statistics


@dataclass(frozen=True)
class RobustnessRow:
    """One G under one corruption at one severity, averaged over the images."""

    mask_net: str
    corruption: str
    severity: int
    images: int
    depth_abs_rel_vs_clean: float  # N(I_c) against N(I)
    depth_delta1_vs_clean: float
    abs_rel_gt: float | None  # N(I_c) against ground truth (None without it)
    abs_rel_gt_clean: float | None  # N(I) against ground truth, for comparison
    mask_iou: float  # M′_c against M′
    far_attention_change: float  # corrupt − clean
    mask_mean_change: float


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """B×3×H×W normalised → B×H×W×3 uint8 RGB (the frame a camera would have delivered)."""
    rgb = denormalize(x.float()).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return (rgb * 255 + 0.5).astype(np.uint8)


def _from_uint8(images: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    rgb = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return normalize(rgb).to(like.device, like.dtype)


def _ious(ref: torch.Tensor, got: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Per-image `mask_iou` of two B×1×H×W masks."""
    pairs = zip(ref.float().cpu().numpy(), got.float().cpu().numpy(), strict=True)
    return torch.tensor([mask_iou(a, b, epsilon) for a, b in pairs])


def robustness_table(
    depth_net: nn.Module,
    masks: Sequence[tuple[str, nn.Module]],
    dataset: Dataset,
    corruptions: Sequence[str],
    severities: Sequence[int],
    *,
    settings: dict[str, Any],
    epsilon: float = EPSILON,
    far_fraction: float = FAR_FRACTION,
    batch_size: int = 8,
    workers: int = 0,
    device: torch.device | str = "cpu",
    collate: Callable[[list[Any]], dict[str, Any]] | None = None,
    seed: int = 0,
) -> list[RobustnessRow]:
    """Every (G, corruption, severity) row over `dataset` (networks in eval mode)."""
    device = torch.device(device)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate
    )
    conditions = [(c, s) for c in corruptions for s in severities]
    corruptors = {cs: Corruptor(*cs, seed=seed) for cs in conditions}
    sums: dict[tuple[str, str, int], dict[str, float]] = {}
    gt_clean, gt_corrupt = MetricAccumulator(), {cs: MetricAccumulator() for cs in conditions}
    images = 0
    stat = {"epsilon": epsilon, "far_fraction": far_fraction}

    def add(key: tuple[str, str, int], name: str, values: torch.Tensor) -> None:
        acc = sums.setdefault(key, {})
        acc[name] = acc.get(name, 0.0) + float(values.sum())

    with torch.inference_mode():
        for batch in loader:
            x = batch["image"].to(device)
            y = depth_net(x)
            clean = {label: g(x) for label, g in masks}
            clean_stats = {label: mask_statistics(m, y, y, **stat) for label, m in clean.items()}
            frames = _to_uint8(x)
            has_gt = "depth" in batch
            if has_gt:  # against ground truth too, when the data has it
                for i in range(x.shape[0]):
                    gt_clean.add(image_errors(y[i].cpu(), batch["depth"][i], batch["valid"][i], **settings))
            for c, s in conditions:
                xc = _from_uint8(np.stack([corruptors[c, s](f) for f in frames]), x)
                yc = depth_net(xc)
                moved = agreement(y, yc)
                if has_gt:
                    for i in range(x.shape[0]):
                        errors = image_errors(yc[i].cpu(), batch["depth"][i], batch["valid"][i], **settings)
                        gt_corrupt[c, s].add(errors)
                for label, g in masks:
                    mc = g(xc)
                    stats_c = mask_statistics(mc, yc, yc, **stat)
                    key = (label, c, s)
                    add(key, "depth_abs_rel_vs_clean", moved["fid_abs_rel"])
                    add(key, "depth_delta1_vs_clean", moved["fid_delta1"])
                    add(key, "mask_iou", _ious(clean[label], mc, epsilon))
                    for name in ("far_attention", "mask_mean"):
                        add(key, f"{name}_change", stats_c[name] - clean_stats[label][name])
            images += x.shape[0]
    clean_abs_rel = gt_clean.result().get("abs_rel")
    rows = []
    for label, _ in masks:
        for c, s in conditions:
            means = {k: v / images for k, v in sums[label, c, s].items()}
            ground = {
                "abs_rel_gt": gt_corrupt[c, s].result().get("abs_rel"),
                "abs_rel_gt_clean": clean_abs_rel,
            }
            rows.append(RobustnessRow(label, c, s, images, **means, **ground))
    return rows
