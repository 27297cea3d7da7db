"""Frames for calibration and parity checks: a source string → uint8 H×W×3 frames at the model's size.

The string follows the runtime's source grammar (contracts §3) but only replayable sources are taken:
a folder or glob of images, a `.txt` list, a video file, a KITTI drive, or `synthetic:`. Cameras and
network streams are refused, because a calibration or check must be repeatable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Iterator, Sized
from typing import Any

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
    with _open_replayable(spec, height, width) as source:
        for _, image in _indexed_frames(source, spec, height, width, count, channel_order, None):
            yield image


def _open_replayable(spec: str, height: int, width: int) -> Any:
    """The source `spec` names, refused when it is live (a calibration must be repeatable)."""
    spec = spec.strip()
    if spec.isdigit() or spec.lower().startswith(LIVE_PREFIXES):
        raise ConfigError(
            f"{spec!r} is a live camera or stream; calibration and checks need frames that can be read "
            "again: record a clip, or pass a folder/glob of images, a video file, a KITTI drive or "
            "'synthetic:'"
        )
    from depthmask.sources import open_source

    if spec.startswith("synthetic") and "height=" not in spec:
        # Render at the model's size instead of resizing a default-size scene.
        sep = "," if spec.partition(":")[2] else ""
        spec = f"synthetic:{spec.partition(':')[2]}{sep}height={height},width={width}"
    try:
        return open_source(spec)
    except DepthmaskError as exc:
        raise ConfigError(
            f"frames source {spec!r}: {exc}. Accepted: a folder or glob of images, a .txt list of image "
            "paths, a video file (.mp4 .avi .mkv .mov .webm), a KITTI drive folder, or 'synthetic:'"
        ) from None


def _indexed_frames(
    source: Any,
    spec: str,
    height: int,
    width: int,
    count: int,
    channel_order: str,
    indices: Collection[int] | None,
) -> Iterator[tuple[int, np.ndarray]]:
    """(position, frame) of up to `count` readable frames of an open `source` (only those at `indices`)."""
    from depthmask.sources.fit import fit_frame

    n = 0
    # The last position wanted: reading past it, or past `count` kept frames, decodes a frame nobody uses.
    last = max(indices, default=-1) if indices is not None else math.inf
    if count > 0 and last >= 0:
        for i, frame in enumerate(source):
            if frame.image is not None and (indices is None or i in indices):
                image = fit_frame(frame.image, height, width, "resize")
                yield i, image[..., ::-1].copy() if channel_order == "rgb" else image  # sources decode BGR
                n += 1
            if n >= count or i >= last:
                break
    if n == 0:
        raise ConfigError(f"frames source {spec!r} gave no readable frame")


def spread(total: int, count: int, offset: float = 0.0) -> list[int]:
    """`count` positions spread evenly over 0 … total − 1 (`offset` of a step past each; every position
    when total ≤ count)."""
    if total <= count:
        return list(range(total))
    return [min(total - 1, int((i + offset) * total / count)) for i in range(count)]


def split_frames(
    spec: str, height: int, width: int, calibrate: int, check: int, *, channel_order: str = "bgr"
) -> tuple[list[np.ndarray], np.ndarray]:
    """(`calibrate` frames of `spec` to fit int8 ranges on, `check` others as one [check, H, W, 3] batch
    to measure a gate on).

    A source that knows its length (a synthetic drive, a folder or list of images, a KITTI drive) gives
    frames spread over all of it, calibration and check alike, rather than its first seconds, whose
    frames are near copies of each other; the check frames lie between the calibration ones, never on
    them. A video is read from its start: the first `calibrate`, then the next `check`. A source with no
    frames past the calibration ones gives its last `check` again, with a warning; one with none is a
    ConfigError.
    """
    with _open_replayable(spec, height, width) as source:
        total = len(source) if isinstance(source, Sized) else None
        if total is not None and total > calibrate:
            chosen = spread(total, calibrate)
            taken = set(chosen)
            rest = [i for i in range(total) if i not in taken] if check else []
            checked = [rest[k] for k in spread(len(rest), check, 0.5)]
            wanted = taken | set(checked)
            read = dict(_indexed_frames(source, spec, height, width, len(wanted), channel_order, wanted))
            calibration = [read[i] for i in chosen if i in read]
            measured = [read[i] for i in checked if i in read]
        else:  # the first readable frames, in order
            first = _indexed_frames(source, spec, height, width, calibrate + check, channel_order, None)
            frames = [f for _, f in first]
            calibration, measured = frames[:calibrate], frames[calibrate:]
    if check and not measured:
        log.warning(
            "%s has no frames past the %d calibration ones: the gate is measured on them",
            spec,
            len(calibration),
        )
        measured = calibration[-check:]
    return calibration, collect(iter(measured)) if measured else np.empty((0, height, width, 3), np.uint8)


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
