"""The paper's losses against values worked out by hand on tiny tensors."""

from __future__ import annotations

import math

import torch

from depthmask.train.losses import (
    depth_loss,
    grad_loss,
    hu_loss,
    l1_loss,
    mask_objective,
    normal_loss,
    normals,
    sobel,
    sparsity,
)


def ramp(h: int = 6, w: int = 7, slope: float = 1.0) -> torch.Tensor:
    """d(y, x) = slope · x: a plane tilted along x."""
    return (slope * torch.arange(w, dtype=torch.float64)).expand(h, w).reshape(1, 1, h, w).clone()


def interior(h: int = 6, w: int = 7) -> torch.Tensor:
    valid = torch.zeros(1, 1, h, w, dtype=torch.bool)
    valid[..., 1:-1, 1:-1] = True
    return valid


def test_sobel_of_a_ramp() -> None:
    dx, dy = sobel(ramp(slope=0.5))
    # kx = [[1,0,-1],[2,0,-2],[1,0,-1]] as cross-correlation: (1+2+1)·(d(x−1) − d(x+1)) = 4·(−2·0.5) = −4.
    assert torch.allclose(dx[..., 1:-1, 1:-1], torch.full((1, 1, 4, 5), -4.0, dtype=torch.float64))
    assert torch.allclose(dy[..., 1:-1, 1:-1], torch.zeros(1, 1, 4, 5, dtype=torch.float64))
    # Zero padding: on the left column d(x−1) = 0, so dx = 4·(0 − 0.5) = −2 (rows 1..4).
    assert torch.allclose(dx[..., 1:-1, 0], torch.full((1, 1, 4), -2.0, dtype=torch.float64))


def test_equal_maps() -> None:
    d = ramp() + torch.rand(1, 1, 6, 7, dtype=torch.float64)
    assert math.isclose(depth_loss(d, d).item(), math.log(0.5), rel_tol=1e-12)
    assert math.isclose(grad_loss(d, d).item(), 2 * math.log(0.5), rel_tol=1e-12)
    assert abs(normal_loss(d, d).item()) < 1e-12
    assert math.isclose(hu_loss(d, d).item(), 3 * math.log(0.5), rel_tol=1e-12)
    assert l1_loss(d, d).item() == 0.0


def test_depth_loss_of_a_constant_offset() -> None:
    d = ramp()
    assert math.isclose(depth_loss(d + 1.5, d).item(), math.log(2.0), rel_tol=1e-12)
    assert math.isclose(l1_loss(d + 1.5, d).item(), 1.5, rel_tol=1e-12)


def test_grad_and_normal_loss_of_a_tilted_plane_against_a_flat_one() -> None:
    pred, flat = ramp(slope=0.25), torch.zeros(1, 1, 6, 7, dtype=torch.float64)
    valid = interior()
    # Interior: ∂x pred = 4·(−2·0.25) = −2, ∂y = 0; flat has 0 everywhere.
    expected_grad = math.log(2 + 0.5) + math.log(0 + 0.5)
    assert math.isclose(grad_loss(pred, flat, valid).item(), expected_grad, rel_tol=1e-12)
    # Normals (2, 0, 1) and (0, 0, 1): cos θ = 1/√5.
    assert torch.allclose(normals(pred)[..., 2, 3], torch.tensor([2.0, 0.0, 1.0], dtype=torch.float64))
    expected_normal = 1 - 1 / math.sqrt(5)
    assert math.isclose(normal_loss(pred, flat, valid).item(), expected_normal, rel_tol=1e-12)


def test_validity_mask_ignores_invalid_pixels() -> None:
    target = ramp()
    pred = target.clone()
    pred[..., 0, 0] = 100.0  # a wild value where there is no ground truth
    valid = torch.ones_like(target, dtype=torch.bool)
    valid[..., 0, 0] = False
    assert math.isclose(depth_loss(pred, target, valid).item(), math.log(0.5), rel_tol=1e-12)
    assert math.isclose(l1_loss(pred, target, valid).item(), 0.0, abs_tol=1e-12)


def test_mask_objective_is_eq4_and_n_of_i_is_a_fixed_target() -> None:
    depth = ramp().requires_grad_(True)
    depth_masked = (ramp() + 0.5).requires_grad_(True)
    mask = torch.full((1, 1, 12, 14), 0.25, dtype=torch.float64, requires_grad=True)
    obj = mask_objective(depth, depth_masked, mask, lam=5.0)
    expected_dif = hu_loss(depth_masked.detach(), depth.detach()).item()
    assert math.isclose(obj.dif.item(), expected_dif, rel_tol=1e-12)
    assert math.isclose(obj.sparsity.item(), sparsity(mask).item())
    assert math.isclose(obj.sparsity.item(), 0.25)
    assert math.isclose(obj.total.item(), expected_dif + 5.0 * 0.25, rel_tol=1e-12)
    obj.total.backward()
    assert depth.grad is None  # no gradient into N(I)
    assert depth_masked.grad is not None and mask.grad is not None
    assert torch.allclose(mask.grad, torch.full_like(mask, 5.0 / mask.numel()))
