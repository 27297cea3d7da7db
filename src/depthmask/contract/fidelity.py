"""How close one artefact's outputs are to another's (torch-free, for every layer): depth by abs_rel, RMSE
and δ1 over the pixels with depth; masks by the IoU of their binarisations M′ = M > ε."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from depthmask.contract.constants import EPSILON, FID_MIN_DEPTH, GATE_MAX_ABS_REL, GATE_MIN_IOU

DEPTH_OUTPUTS = ("depth", "depth_masked")  # N(I) and N(I ⊗ M): a faster path must keep both


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


@dataclass(frozen=True)
class Fidelity:
    """A candidate's outputs against the reference's: the worse depth abs_rel of N(I) and N(I ⊗ M), the
    masks' IoU, and whether that is within the gate."""

    abs_rel: float
    mask_iou: float
    passed: bool

    def describe(self) -> str:
        """`abs_rel 0.41 %, mask IoU 0.987`."""
        return f"abs_rel {self.abs_rel:.2%}, mask IoU {self.mask_iou:.3f}"


@dataclass(frozen=True)
class FidelityGate:
    """How far a faster path's outputs may stray from the reference's."""

    max_abs_rel: float = GATE_MAX_ABS_REL  # depth and masked depth, relative
    min_iou: float = GATE_MIN_IOU  # masks M > ε

    def measure(self, ref: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray]) -> Fidelity:
        """Compare `got` with `ref` (outputs by name over the same frames); NaN counts as failing."""
        depths = [k for k in DEPTH_OUTPUTS if k in ref]
        abs_rel = max((compare_depth(ref[k], got[k])["abs_rel"] for k in depths), default=0.0)
        iou = mask_iou(ref["mask"], got["mask"]) if "mask" in ref else 1.0
        return Fidelity(abs_rel, iou, self.admits(abs_rel, iou))

    def admits(self, abs_rel: float, iou: float) -> bool:
        """Whether an abs_rel and a mask IoU are within the gate (NaN is not)."""
        return bool(abs_rel <= self.max_abs_rel and iou >= self.min_iou)

    def describe(self) -> str:
        """`abs_rel ≤ 1.00 %, mask IoU ≥ 0.95`."""
        return f"abs_rel ≤ {self.max_abs_rel:.2%}, mask IoU ≥ {self.min_iou:g}"


def curve_auc(keeps: list[float] | tuple[float, ...], values: list[float] | tuple[float, ...]) -> float:
    """The mean of a faithfulness curve over its kept shares (trapezoids / span); the value itself for a
    single share."""
    if len(keeps) == 1:
        return float(values[0])
    area = sum((values[i] + values[i + 1]) * (keeps[i + 1] - keeps[i]) / 2 for i in range(len(keeps) - 1))
    return float(area) / (keeps[-1] - keeps[0])
