"""The overlay picture: input | mask heat-map | depth colour map, with a depth colour bar.

The depth range is fixed, or adapts slowly (an exponential average of the 2nd/98th percentiles), so
colours do not flicker from frame to frame as a per-frame min–max stretch would make them.
"""

from __future__ import annotations

import cv2
import numpy as np

BAR_WIDTH = 56


class DepthColorizer:
    """Depth (metres) → BGR colours with a stable range."""

    def __init__(self, fixed_range: tuple[float, float] | None = None, alpha: float = 0.05) -> None:
        self.range = fixed_range
        self.fixed = fixed_range is not None
        self.alpha = alpha

    def update(self, depth: np.ndarray) -> tuple[float, float]:
        """Fold one frame's depth into the range (unless fixed) and return the range in use."""
        finite = depth[np.isfinite(depth)]
        if not self.fixed and finite.size:
            lo, hi = (float(v) for v in np.percentile(finite, [2, 98]))
            if self.range is None:
                self.range = (lo, max(hi, lo + 1e-3))
            else:
                a = self.alpha
                lo = (1 - a) * self.range[0] + a * lo
                hi = (1 - a) * self.range[1] + a * hi
                self.range = (lo, max(hi, lo + 1e-3))
        return self.range or (0.0, 1.0)

    def colorize(self, depth: np.ndarray) -> np.ndarray:
        """Colour one depth map (near = bright, far = dark, as in the paper's figures)."""
        lo, hi = self.update(depth)
        norm = np.clip((np.nan_to_num(depth, nan=hi) - lo) / (hi - lo), 0.0, 1.0)
        return cv2.applyColorMap(((1.0 - norm) * 255).astype(np.uint8), cv2.COLORMAP_MAGMA)

    def colour_bar(self, height: int) -> np.ndarray:
        """A vertical bar with the current range's end values written on it."""
        lo, hi = self.range or (0.0, 1.0)
        ramp = np.linspace(255, 0, height, dtype=np.float32).astype(np.uint8)[:, None]
        bar = cv2.applyColorMap(np.repeat(ramp, BAR_WIDTH // 2, axis=1), cv2.COLORMAP_MAGMA)
        bar = np.concatenate([bar, np.zeros((height, BAR_WIDTH - bar.shape[1], 3), np.uint8)], axis=1)
        _label(bar, f"{lo:.1f}m", (BAR_WIDTH // 2 + 1, 12))
        _label(bar, f"{hi:.1f}m", (BAR_WIDTH // 2 + 1, height - 4))
        return bar


def mask_heatmap(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The mask as a heat-map blended over the (darkened) input, so the kept pixels show in place."""
    heat = cv2.applyColorMap(np.clip(mask * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.addWeighted(heat, 0.75, (image * 0.5).astype(np.uint8), 0.25, 0)


def overlay_frame(
    image: np.ndarray, mask: np.ndarray | None, depth: np.ndarray | None, colorizer: DepthColorizer
) -> np.ndarray:
    """Compose the three panels (+ colour bar) at the model's input size."""
    h, w = image.shape[:2]
    panels = [image]
    if mask is not None:
        panels.append(mask_heatmap(cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR), image))
    if depth is not None:
        coloured = colorizer.colorize(depth)
        panels.append(cv2.resize(coloured, (w, h), interpolation=cv2.INTER_LINEAR))
    panels.append(colorizer.colour_bar(h))
    out = np.concatenate(panels, axis=1)
    for i, name in enumerate(["input", "mask G(I)", "depth N(I)"][: len(panels) - 1]):
        _label(out, name, (i * w + 4, 14))
    return out


def overlay_size(height: int, width: int, mask: bool, depth: bool) -> tuple[int, int]:
    """(height, width) of `overlay_frame`'s picture for a model input of height×width."""
    return height, width * (1 + int(mask) + int(depth)) + BAR_WIDTH


def placeholder_frame(height: int, width: int, text: str) -> np.ndarray:
    """A grey frame with a message, standing in for a frame that could not be decoded."""
    out = np.full((height, width, 3), 64, dtype=np.uint8)
    _label(out, text[:60], (8, height // 2))
    return out


def _label(img: np.ndarray, text: str, org: tuple[int, int]) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
