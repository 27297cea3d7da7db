"""Faithfulness curves: deletion/insertion done right for dense regression (the paper's Figure 5 as a curve).

For each image I, each G and each share k of pixels kept (default 5, 10, 20, 40, 60, 80, 100 %), three
masks keep exactly round(k·H·W) pixels and blank the rest (the normalised image × 0: the dataset's mean
colour, as the paper masks):

- `G`: the k share where G's mask M is largest;
- `random`: a uniformly random k share (seeded, so a rerun gives the same curve);
- `edges`: the k share where the Sobel edge magnitude of I is largest (Figure 5's baseline).

N sees all of them in one batched pass per image, and each N(I ⊗ M_k) is measured against N(I): δ1
agreement (the share of pixels whose depth stays within a factor 1.25 — higher is more faithful, 1 at
k = 100 %), RMSE and abs_rel. A curve's AUC is the mean δ1 agreement over k (trapezoids over the kept
shares, divided by their span): one number per method, higher is better.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from depthmask.contract.fidelity import curve_auc
from depthmask.nets.curve import DEFAULT_KEEPS, METHODS, agreement, edge_magnitude


@dataclass(frozen=True)
class CurvePoint:
    """One method at one kept share, averaged over the images."""

    mask_net: str
    method: str
    keep: float
    images: int
    fid_delta1: float
    fid_rmse: float
    fid_abs_rel: float


@dataclass(frozen=True)
class Curve:
    """One method's points for one G, and the area under its δ1 curve."""

    mask_net: str
    method: str
    points: tuple[CurvePoint, ...]
    auc: float


def top_share(scores: torch.Tensor, keep: float) -> torch.Tensor:
    """B×1×H×W of {0, 1}: per image, ones at the round(keep·H·W) largest scores (ties broken by position)."""
    b, _, h, w = scores.shape
    k = min(h * w, max(0, round(keep * h * w)))
    out = torch.zeros(b, h * w, device=scores.device, dtype=torch.float32)
    if k:
        out.scatter_(1, scores.reshape(b, -1).float().topk(k, dim=1).indices, 1.0)
    return out.view(b, 1, h, w)


def faithfulness_curves(
    depth_net: nn.Module,
    masks: Sequence[tuple[str, nn.Module]],
    dataset: Dataset,
    *,
    keeps: Sequence[float] = DEFAULT_KEEPS,
    batch_size: int = 8,
    workers: int = 0,
    device: torch.device | str = "cpu",
    seed: int = 0,
    collate: Callable[[list[Any]], dict[str, Any]] | None = None,
) -> list[Curve]:
    """G's, random and edge curves for every (label, G) in `masks` over `dataset` (networks in eval mode)."""
    device = torch.device(device)
    keeps = sorted(float(k) for k in keeps)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate
    )
    generator = torch.Generator(device="cpu").manual_seed(seed)
    sums: dict[tuple[str, str, float], dict[str, float]] = {}
    images = 0
    with torch.inference_mode():
        for batch in loader:
            x = batch["image"].to(device)
            y = depth_net(x)
            noise = torch.rand(x.shape[0], 1, *x.shape[-2:], generator=generator).to(device)
            edges = edge_magnitude(x)
            for label, g in masks:
                scores = {"G": g(x), "random": noise, "edges": edges}
                for i in range(x.shape[0]):
                    kept = torch.cat([top_share(scores[m][i : i + 1], k) for m in METHODS for k in keeps])
                    out = depth_net(x[i : i + 1] * kept.to(x.dtype))  # one pass: every method and share
                    scores_i = agreement(y[i : i + 1].expand_as(out), out)
                    for j, (m, k) in enumerate((m, k) for m in METHODS for k in keeps):
                        acc = sums.setdefault((label, m, k), {})
                        for name, v in scores_i.items():
                            acc[name] = acc.get(name, 0.0) + float(v[j])
            images += x.shape[0]
    curves = []
    for label, _ in masks:
        for m in METHODS:
            points = tuple(
                CurvePoint(label, m, k, images, **{n: v / images for n, v in sums[label, m, k].items()})
                for k in keeps
            )
            curves.append(
                Curve(label, m, points, curve_auc([p.keep for p in points], [p.fid_delta1 for p in points]))
            )
    return curves
