"""The overlay picture: input | mask heat-map | depth colour map, with a depth colour bar.

The depth range is fixed, or adapts slowly (an exponential average of the 2nd/98th percentiles), so
colours do not flicker from frame to frame as a per-frame min–max stretch would make them.
"""

from __future__ import annotations

import cv2
import numpy as np

from depthmask.runtime.records import Result
from depthmask.sources.fit import to_source

BAR_WIDTH = 84  # wide enough for "120.0 m" beside the ramp


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
        """A vertical bar (near at the top, as bright as in the depth panel) with the range's ends and
        middle written beside it in metres."""
        lo, hi = self.range or (0.0, 1.0)
        ramp = np.linspace(255, 0, height, dtype=np.float32).astype(np.uint8)[:, None]
        bar = cv2.applyColorMap(np.repeat(ramp, BAR_WIDTH // 4, axis=1), cv2.COLORMAP_MAGMA)
        bar = np.concatenate([bar, np.zeros((height, BAR_WIDTH - bar.shape[1], 3), np.uint8)], axis=1)
        text = _text_height(height)
        x = BAR_WIDTH // 4 + 3
        _label(bar, f"{lo:.1f} m", (x, text + 2))
        if height >= 6 * text:
            _label(bar, f"{(lo + hi) / 2:.1f} m", (x, height // 2 + text // 2))
        _label(bar, f"{hi:.1f} m", (x, height - 3))
        return bar


def mask_heatmap(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The mask as a heat-map blended over the (darkened) input, so the kept pixels show in place."""
    heat = cv2.applyColorMap(np.clip(mask * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.addWeighted(heat, 0.75, (image * 0.5).astype(np.uint8), 0.25, 0)


def picture_of(result: Result) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """An inferred frame as the user's footage shows it: the frame at its own aspect (scaled to the
    overlay width) and each of mask, depth, depth_masked drawn back over it — letterbox bars cut away,
    outside a crop window no mask (0) and no depth (NaN). Without a kept display copy (a library caller),
    the model's input and its maps resized to it. None when the frame was not inferred."""
    item = result.item
    if result.status != "ok" or item.input is None:
        return None
    image = item.display if item.display is not None else item.input
    h, w = image.shape[:2]
    maps = {}
    for name in ("mask", "depth", "depth_masked"):
        if name in result.outputs:
            values = np.asarray(result.outputs[name][0], dtype=np.float32)
            fill = 0.0 if name == "mask" else np.nan
            if item.placement is not None:
                maps[name] = to_source(values, item.placement, (h, w), fill)
            else:
                maps[name] = cv2.resize(values, (w, h), interpolation=cv2.INTER_LINEAR)
    return image, maps


def overlay_frame(image: np.ndarray, maps: dict[str, np.ndarray], colorizer: DepthColorizer) -> np.ndarray:
    """Compose input | mask | depth (+ colour bar) side by side at the image's size (`picture_of`)."""
    h, w = image.shape[:2]
    panels, names = [image], ["input"]
    if "mask" in maps:
        panels.append(mask_heatmap(maps["mask"], image))
        names.append("mask G(I)")
    depth = maps.get("depth", maps.get("depth_masked"))
    if depth is not None:
        panels.append(colorizer.colorize(depth))
        names.append("depth N(I)" if "depth" in maps else "depth N(I*M)")
    panels.append(colorizer.colour_bar(h))
    out = np.concatenate(panels, axis=1)
    for i, name in enumerate(names):
        _label(out, name, (i * w + 6, 6 + _text_height(h)))
    return out


def placeholder_frame(height: int, width: int, text: str) -> np.ndarray:
    """A grey frame with a message, standing in for a frame that could not be decoded."""
    out = np.full((height, width, 3), 64, dtype=np.uint8)
    _label(out, text[:60], (8, height // 2))
    return out


def _font_scale(height: int) -> float:
    return 0.4 if height < 300 else 0.55  # readable on a 64-pixel demo frame and on a 1080p one


def _text_height(height: int) -> int:
    return round(24 * _font_scale(height))


def _label(img: np.ndarray, text: str, org: tuple[int, int]) -> None:
    scale = _font_scale(img.shape[0])
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
