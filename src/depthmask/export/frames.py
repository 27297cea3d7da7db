"""Frames for calibration and parity checks: a source string → uint8 H×W×3 frames at the model's size.

The string follows the runtime's source grammar (contracts §3) but only replayable sources are taken:
a folder or glob of images, a `.txt` list, a video file, a KITTI drive, or `synthetic:`. Cameras and
network streams are refused, because a calibration or check must be repeatable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np

from depthmask.errors import ConfigError, DepthmaskError

log = logging.getLogger(__name__)

LIVE_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "/dev/video")


def frames_from_source(
    spec: str, height: int, width: int, count: int, *, channel_order: str = "bgr"
) -> Iterator[np.ndarray]:
    """Up to `count` uint8 [height, width, 3] frames of `spec`, fitted by resizing, in `channel_order`.

    Frames that fail to decode are skipped. ConfigError for live sources and for strings that name
    nothing readable (the message says what is accepted).
    """
    spec = spec.strip()
    if spec.isdigit() or spec.lower().startswith(LIVE_PREFIXES):
        raise ConfigError(
            f"{spec!r} is a live camera or stream; calibration and checks need frames that can be read "
            "again: record a clip, or pass a folder/glob of images, a video file, a KITTI drive or "
            "'synthetic:'"
        )
    from depthmask.sources import open_source
    from depthmask.sources.fit import fit_frame

    if spec.startswith("synthetic") and "height=" not in spec:
        # Render at the model's size instead of resizing a default-size scene.
        sep = "," if spec.partition(":")[2] else ""
        spec = f"synthetic:{spec.partition(':')[2]}{sep}height={height},width={width}"
    try:
        source = open_source(spec)
    except DepthmaskError as exc:
        raise ConfigError(
            f"frames source {spec!r}: {exc}. Accepted: a folder or glob of images, a .txt list of image "
            "paths, a video file (.mp4 .avi .mkv .mov .webm), a KITTI drive folder, or 'synthetic:'"
        ) from None
    n = 0
    with source:
        for frame in source:
            if n >= count:
                break
            if frame.image is None:
                continue
            image = fit_frame(frame.image, height, width, "resize")
            yield image[..., ::-1].copy() if channel_order == "rgb" else image  # sources decode BGR
            n += 1
    if n == 0:
        raise ConfigError(f"frames source {spec!r} gave no readable frame")


def batches(frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Stack frames into uint8 batches [size, H, W, 3]; the last batch may be shorter."""
    chunk: list[np.ndarray] = []
    for frame in frames:
        chunk.append(np.asarray(frame, dtype=np.uint8))
        if len(chunk) == size:
            yield np.stack(chunk)
            chunk = []
    if chunk:
        yield np.stack(chunk)


def collect(frames: Iterable[np.ndarray]) -> np.ndarray:
    """All frames as one uint8 batch [N, H, W, 3]."""
    stacked = [np.asarray(f, dtype=np.uint8) for f in frames]
    if not stacked:
        raise ConfigError("no frames to stack")
    return np.stack(stacked)


def split_frames(
    spec: str, height: int, width: int, calibrate: int, check: int, *, channel_order: str = "bgr"
) -> tuple[list[np.ndarray], np.ndarray]:
    """(the first `calibrate` frames of `spec`, the next `check` as one batch): a gate measured on frames
    the calibration ranges were not fitted to. A source with no frames past the calibration ones gives
    its last `check` frames again, with a warning; one with none is a ConfigError (`frames_from_source`)."""
    frames = list(frames_from_source(spec, height, width, calibrate + check, channel_order=channel_order))
    if len(frames) <= calibrate:
        log.warning(
            "%s has no frames past the %d calibration ones: the gate is measured on those", spec, calibrate
        )
    return frames[:calibrate], collect(iter(frames[calibrate:] or frames[-check:]))
