"""Is G's attention stable from frame to frame? Two host-side statistics per source, from the masks the
model already returned (nothing more is inferred):

- `mask_iou_prev`: IoU of M′ = M > ε with the previous inferred frame's M′ of the same source (1: the
  same pixels kept; two empty masks count as the same);
- `mask_drift`: mean |M_t − M_{t−1}| over the pixels (0: the same mask).

A source's first inferred frame has neither (null). Frames that were dropped or could not be decoded are
skipped over: the comparison is with the last frame that was inferred. A frame whose IoU falls below the
run's `jump_iou` is flagged `attention_jump` (a scene cut, a glare, a failing camera — or a G whose
attention is not stable).
"""

from __future__ import annotations

import numpy as np

from depthmask.contract.constants import ATTENTION_JUMP_IOU, EPSILON
from depthmask.contract.fidelity import mask_iou
from depthmask.runtime.records import Result

TEMPORAL_COLUMNS = ("mask_iou_prev", "mask_drift")
JUMP_FLAG = "attention_jump"


class AttentionTracker:
    """Adds `mask_iou_prev` and `mask_drift` to each inferred result, source by source, in frame order
    (the pipeline's writer calls `update` once per result, before the sinks)."""

    def __init__(self, jump_iou: float = ATTENTION_JUMP_IOU) -> None:
        self.jump_iou = jump_iou
        self._previous: dict[str, np.ndarray] = {}  # source → M of its last inferred frame

    def update(self, result: Result) -> None:
        """Compare an inferred frame's mask with its source's previous one; other results pass as they are."""
        mask = result.outputs.get("mask")
        if result.status != "ok" or mask is None:
            return
        m = np.asarray(mask, dtype=np.float32)
        source = result.frame.source_id
        previous = self._previous.get(source)
        self._previous[source] = m
        if previous is None or previous.shape != m.shape:
            result.stats.update(mask_iou_prev=float("nan"), mask_drift=float("nan"))  # null in the record
            return
        iou = mask_iou(previous, m, EPSILON)
        result.stats.update(mask_iou_prev=iou, mask_drift=float(np.abs(m - previous).mean()))
        if iou < self.jump_iou:
            result.host_flags.append(JUMP_FLAG)
