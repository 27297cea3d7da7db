"""Ground-truth depth files → float32 metres (0 where there is no measurement).

| file | stored as | metres |
|---|---|---|
| KITTI annotated depth (`proj_depth/groundtruth/…png`) | uint16 PNG, 0 = no measurement | value / 256 |
| NYU-v2 CSV release, training depth | 8-bit PNG | value / 255 × 10 |
| NYU-v2 CSV release, test depth | 16-bit PNG | value / 1000 (millimetres) |
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from depthmask.errors import SourceError

KITTI_DEPTH_SCALE = 256.0
NYU_8BIT_MAX_M = 10.0
NYU_16BIT_SCALE = 1000.0


def read_png_unchanged(path: Path) -> np.ndarray:
    """Decode a PNG keeping its bit depth and channel count; SourceError names the file when it cannot."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"depth file {path} cannot be read ({exc.strerror or exc})") from None
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise SourceError(f"depth file {path} could not be decoded (truncated or corrupt image)")
    return array


def read_kitti_depth(path: Path) -> np.ndarray:
    """A KITTI annotated (or velodyne_raw) depth PNG: uint16, metres = value / 256, 0 = no measurement."""
    raw = read_png_unchanged(path)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise SourceError(
            f"{path} is a {raw.dtype} image with shape {raw.shape}, not KITTI's single-channel uint16 "
            "depth PNG (metres × 256); point at proj_depth/groundtruth/ of the annotated depth release"
        )
    return raw.astype(np.float32) / KITTI_DEPTH_SCALE


def read_nyu_depth(path: Path) -> np.ndarray:
    """A NYU-v2 CSV-release depth PNG: 8-bit → value / 255 × 10 m (training), 16-bit → millimetres (test)."""
    raw = read_png_unchanged(path)
    if raw.ndim == 3:  # some copies were saved as grey RGB; the channels are equal
        raw = raw[..., 0]
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) * (NYU_8BIT_MAX_M / 255.0)
    if raw.dtype == np.uint16:
        return raw.astype(np.float32) / NYU_16BIT_SCALE
    raise SourceError(f"{path}: NYU depth must be an 8-bit or 16-bit PNG, found {raw.dtype}")


def read_frame(path: Path) -> np.ndarray:
    """A colour frame as BGR uint8 through the runtime's reader; SourceError names the file when it fails."""
    from depthmask.sources import read_image

    image, error = read_image(Path(path))
    if image is None:
        raise SourceError(f"cannot read image {error}")
    return image
