"""The one rule for comparing two masks: IoU of their binarisations M′ = M > ε (torch-free, every layer)."""

from __future__ import annotations

import numpy as np

from depthmask.contract.constants import EPSILON


def mask_iou(ref: np.ndarray, got: np.ndarray, epsilon: float = EPSILON) -> float:
    """IoU of the binarised masks M > ε (1 when both are empty: nothing kept twice is no change)."""
    a, b = np.asarray(ref) > epsilon, np.asarray(got) > epsilon
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
