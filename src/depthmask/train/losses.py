"""The paper's losses (§4.1 and the authors' code): l_depth, l_grad, l_normal, l_dif, ℓ1, sparsity, Eq. 4;
and Laina et al.'s reverse Huber (berHu).

Every term takes an optional validity mask (KITTI's sparse ground truth); without one, all pixels count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from depthmask.nets.curve import sobel

# ln(e + 0.5): the authors' robust penalty (negative values are expected).
_OFFSET = 0.5


def _mean(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if valid is None:
        return x.mean()
    v = valid.to(x.dtype)
    return (x * v).sum() / v.sum().clamp_min(1.0)


def depth_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """l_depth = mean ln(|ŷ − y| + 0.5)."""
    return _mean(torch.log((pred - target).abs() + _OFFSET), valid)


def grad_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """l_grad = mean ln(|∂x ŷ − ∂x y| + 0.5) + mean ln(|∂y ŷ − ∂y y| + 0.5)."""
    pdx, pdy = sobel(pred)
    tdx, tdy = sobel(target)
    return _mean(torch.log((pdx - tdx).abs() + _OFFSET), valid) + _mean(
        torch.log((pdy - tdy).abs() + _OFFSET), valid
    )


def normals(depth: torch.Tensor) -> torch.Tensor:
    """Surface normals n = (−∂x d, −∂y d, 1), B×3×H×W, not normalised (the cosine normalises)."""
    dx, dy = sobel(depth)
    return torch.cat([-dx, -dy, torch.ones_like(dx)], dim=1)


def normal_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """l_normal = mean |1 − cos θ| between predicted and target normals."""
    cos = F.cosine_similarity(normals(pred), normals(target), dim=1, eps=0.0).unsqueeze(1)
    return _mean((1.0 - cos).abs(), valid)


def hu_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """N's training loss for the Hu et al. family, and l_dif of Eq. 4: l_depth + l_grad + l_normal."""
    return depth_loss(pred, target, valid) + grad_loss(pred, target, valid) + normal_loss(pred, target, valid)


def l1_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """ℓ1, N's training loss for the Laina (FCRN) family."""
    return _mean((pred - target).abs(), valid)


def berhu_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Laina et al.'s reverse Huber: mean of |e| where |e| ≤ c, (e² + c²)/(2c) elsewhere.

    c = 0.2 · max |e| over the batch's valid pixels, a constant of the step (no gradient flows through it).
    """
    err = (pred - target).abs()
    with torch.no_grad():
        counted = err if valid is None else torch.where(valid.bool(), err, torch.zeros_like(err))
        c = 0.2 * counted.max()
        # c = 0 only when every counted error is 0, all on the linear side; keep the other side finite.
        denominator = 2.0 * torch.where(c > 0, c, torch.ones_like(c))
    quadratic = (err.square() + c.square()) / denominator
    return _mean(torch.where(err <= c, err, quadratic), valid)


def sparsity(mask: torch.Tensor) -> torch.Tensor:
    """The relaxed sparseness term mean(M)."""
    return mask.mean()


@dataclass(frozen=True)
class MaskObjective:
    """Eq. 4's value and its two parts, for logging and evaluation alike."""

    total: torch.Tensor
    dif: torch.Tensor
    sparsity: torch.Tensor


def mask_objective(
    depth: torch.Tensor, depth_masked: torch.Tensor, mask: torch.Tensor, lam: float = 5.0
) -> MaskObjective:
    """Eq. 4: l_dif(N(I), N(I ⊗ G(I))) + λ·mean(G(I)); N(I) is the target and carries no gradient."""
    dif = hu_loss(depth_masked, depth.detach())
    sp = sparsity(mask)
    return MaskObjective(total=dif + lam * sp, dif=dif, sparsity=sp)


DEPTH_LOSSES = {"hu2019": hu_loss, "fcrn": l1_loss, "berhu": berhu_loss}
