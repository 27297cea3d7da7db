"""Host preprocessing: fit a frame to the model's input size, staying uint8 (off the inference thread)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np

from depthmask.errors import ConfigError, SourceError, closest

Fit = Literal["resize", "crop", "letterbox"]
FITS: tuple[str, ...] = get_args(Fit)
LETTERBOX_GREY = 114  # the padding value detectors use; mid-grey, so it reads as "no content"


class FitError(SourceError):
    """A frame that cannot be fitted to the input size (empty, not uint8, not an image's shape)."""


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A uint8 image as a contiguous H×W×3 BGR array: grey (2-D or one channel) is replicated, BGRA's alpha
    dropped. FitError for anything else (not an array, not uint8, empty, other shapes or channel counts)."""
    if not isinstance(image, np.ndarray):
        raise FitError(f"a frame must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise FitError(f"a frame must be uint8, got dtype {image.dtype} (shape {image.shape})")
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1:
        raise FitError(f"a frame must be H×W or H×W×C with H, W ≥ 1, got shape {image.shape}")
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in (1, 3, 4):
        raise FitError(f"a frame must have 1, 3 or 4 channels (grey, BGR, BGRA), got shape {image.shape}")
    image = np.ascontiguousarray(image)  # OpenCV wants positive, packed strides (views may be reversed)
    if channels == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


@dataclass(frozen=True)
class Placement:
    """Where a fitted frame's content lies: `window` is the part of the source the model sees
    (top, left, height, width in source pixels), `content` where that part lands in the model's input
    (top, left, height, width in input pixels; smaller than the input only under letterbox)."""

    source: tuple[int, int]
    input: tuple[int, int]
    window: tuple[int, int, int, int]
    content: tuple[int, int, int, int]


def placement(source_hw: tuple[int, int], height: int, width: int, fit: Fit = "resize") -> Placement:
    """The geometry of fitting a source of `source_hw` pixels to height×width (the one copy of the rule
    that `fit_frame` applies and `to_source` inverts); scaled sizes are clamped to at least one pixel."""
    _check_target(height, width, fit)
    h, w = source_hw
    whole_source, whole_input = (0, 0, h, w), (0, 0, height, width)
    if fit == "resize" or (h, w) == (height, width):
        return Placement((h, w), (height, width), whole_source, whole_input)
    if fit == "crop":
        # The window that covers the output, in source pixels: scaling the whole frame first would make
        # a 1×5000 strip 228 × 1.1 million pixels.
        scale = max(height / h, width / w)
        ch, cw = min(h, max(1, round(height / scale))), min(w, max(1, round(width / scale)))
        return Placement((h, w), (height, width), ((h - ch) // 2, (w - cw) // 2, ch, cw), whole_input)
    scale = min(height / h, width / w)
    nh, nw = min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))
    return Placement((h, w), (height, width), whole_source, ((height - nh) // 2, (width - nw) // 2, nh, nw))


def fit_frame(image: np.ndarray, height: int, width: int, fit: Fit = "resize") -> np.ndarray:
    """Resize (stretch), centre-crop after scaling to cover, or letterbox (pad with grey) to height×width.

    Any uint8 image of at least 1×1 pixel (any aspect, grey, BGR or BGRA, any strides) gives a contiguous
    uint8 height×width×3 array. FitError (a SourceError) for an image that cannot be fitted, ConfigError
    for a bad size or fit mode.
    """
    _check_target(height, width, fit)
    image = as_bgr(image)
    place = placement(image.shape[:2], height, width, fit)
    top, left, ch, cw = place.window
    window = _resize(image[top : top + ch, left : left + cw], *place.content[2:])
    if place.content == (0, 0, height, width):
        return window
    out = np.full((height, width, 3), LETTERBOX_GREY, dtype=np.uint8)
    top, left, nh, nw = place.content
    out[top : top + nh, left : left + nw] = window
    return out


def to_source(values: np.ndarray, place: Placement, size: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """A map over the model's input (any resolution of it: a mask, a half-size depth) drawn back over the
    source frame at `size` (height, width; the source's own or a scaled-down copy of it): letterbox
    padding is cut away, and under crop the source outside the model's window gets `fill`."""
    values = np.asarray(values, dtype=np.float32)
    (ih, iw), (mh, mw) = place.input, values.shape[:2]
    top, left, nh, nw = place.content
    y0, y1 = round(top * mh / ih), max(round((top + nh) * mh / ih), round(top * mh / ih) + 1)
    x0, x1 = round(left * mw / iw), max(round((left + nw) * mw / iw), round(left * mw / iw) + 1)
    content = np.ascontiguousarray(values[y0:y1, x0:x1])
    (sh, sw), (dh, dw) = place.source, size
    wt, wl, wh, ww = place.window
    # The window in the output's pixels (the output is the source scaled by dh/sh, dw/sw).
    oy0, oy1 = round(wt * dh / sh), max(round((wt + wh) * dh / sh), round(wt * dh / sh) + 1)
    ox0, ox1 = round(wl * dw / sw), max(round((wl + ww) * dw / sw), round(wl * dw / sw) + 1)
    out = np.full((dh, dw), fill, dtype=np.float32)
    out[oy0:oy1, ox0:ox1] = cv2.resize(content, (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_LINEAR)
    return out


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return np.ascontiguousarray(image)
    interpolation = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR  # area averaging when shrinking
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interpolation)


def _check_target(height: object, width: object, fit: object) -> None:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"fit_frame: {name} must be a whole number of pixels ≥ 1, got {value!r}")
    if fit not in FITS:
        raise ConfigError(f"unknown fit {fit!r}; choose one of {', '.join(FITS)}." + closest(str(fit), FITS))
