"""Host preprocessing: fit a frame to the model's input size, staying uint8 (off the inference thread)."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

Fit = Literal["resize", "crop", "letterbox"]


def fit_frame(image: np.ndarray, height: int, width: int, fit: Fit = "resize") -> np.ndarray:
    """Resize (stretch), centre-crop after scaling to cover, or letterbox (pad with grey) to height×width."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return np.ascontiguousarray(image)
    if fit == "resize":
        return cv2.resize(
            image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
        )
    if fit == "crop":
        scale = max(height / h, width / w)
        nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
        scaled = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        top, left = (nh - height) // 2, (nw - width) // 2
        return np.ascontiguousarray(scaled[top : top + height, left : left + width])
    if fit == "letterbox":
        scale = min(height / h, width / w)
        nh, nw = min(height, round(h * scale)), min(width, round(w * scale))
        scaled = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        out = np.full((height, width, 3), 114, dtype=np.uint8)
        top, left = (height - nh) // 2, (width - nw) // 2
        out[top : top + nh, left : left + nw] = scaled
        return out
    raise ValueError(f"unknown fit {fit!r}")
