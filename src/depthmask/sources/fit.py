"""Host preprocessing: fit a frame to the model's input size, staying uint8 (off the inference thread)."""

from __future__ import annotations

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


def fit_frame(image: np.ndarray, height: int, width: int, fit: Fit = "resize") -> np.ndarray:
    """Resize (stretch), centre-crop after scaling to cover, or letterbox (pad with grey) to height×width.

    Any uint8 image of at least 1×1 pixel (any aspect, grey, BGR or BGRA, any strides) gives a contiguous
    uint8 height×width×3 array; scaled sizes are clamped to at least one pixel. FitError (a SourceError)
    for an image that cannot be fitted, ConfigError for a bad size or fit mode.
    """
    _check_target(height, width, fit)
    image = as_bgr(image)
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    if fit == "resize":
        return _resize(image, height, width)
    if fit == "crop":
        # Crop the window that covers the output in source pixels, then scale only that: scaling the
        # whole frame first would make a 1×5000 strip 228 × 1.1 million pixels.
        scale = max(height / h, width / w)
        ch, cw = min(h, max(1, round(height / scale))), min(w, max(1, round(width / scale)))
        top, left = (h - ch) // 2, (w - cw) // 2
        return _resize(image[top : top + ch, left : left + cw], height, width)
    scale = min(height / h, width / w)
    nh, nw = min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))
    out = np.full((height, width, 3), LETTERBOX_GREY, dtype=np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    out[top : top + nh, left : left + nw] = _resize(image, nh, nw)
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
