"""How close one artefact's outputs are to another's (torch-free, for every layer): depth by abs_rel, RMSE
and δ1 over the pixels with depth; masks by the IoU of their binarisations M′ = M > ε."""

from __future__ import annotations

import numpy as np

from depthmask.contract.constants import EPSILON, FID_MIN_DEPTH


def compare_depth(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """abs_rel, rmse and δ1 of `got` against `ref` over pixels where ref > 1 mm (NaN when none is)."""
    r, d = ref.astype(np.float64).ravel(), got.astype(np.float64).ravel()
    valid = r > FID_MIN_DEPTH
    if not valid.any():
        nan = float("nan")
        return {"abs_rel": nan, "rmse": nan, "delta1": nan, "valid_fraction": 0.0}
    r, d = r[valid], d[valid]
    ratio = np.maximum(d / r, r / np.maximum(d, FID_MIN_DEPTH))
    return {
        "abs_rel": float(np.mean(np.abs(d - r) / r)),
        "rmse": float(np.sqrt(np.mean((d - r) ** 2))),
        "delta1": float(np.mean(ratio < 1.25)),
        "valid_fraction": float(valid.mean()),
    }


def mask_iou(ref: np.ndarray, got: np.ndarray, epsilon: float = EPSILON) -> float:
    """IoU of the binarised masks M > ε (1 when both are empty: nothing kept twice is no change)."""
    a, b = np.asarray(ref) > epsilon, np.asarray(got) > epsilon
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
