"""Video files, cameras and network streams, all read through OpenCV's VideoCapture (FFmpeg backend)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.errors import SourceError
from depthmask.sources.base import Frame, SourceBase, file_kind, shorten

log = logging.getLogger("depthmask.sources")

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"})
# Failed reads in a row after which a file is taken as ended. A failed read inside the container's
# announced length is retried (no record: nothing was decoded) because FFmpeg resumes after a damaged
# stretch; at the true end each retry returns at once, so the budget costs nothing there.
MAX_CONSECUTIVE_FAILURES = 300
MAX_CAMERA_INDEX = 255


class _OpenCvSource(SourceBase):
    """A source read through one cv2.VideoCapture, released on close."""

    cap: cv2.VideoCapture | None = None

    def close(self) -> None:
        """Release the capture (file, device or connection); safe to call twice."""
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class VideoFileSource(_OpenCvSource):
    """Every frame a video file's decoder produces, each once; `?stride=N` takes every N-th.

    Records are never invented for frames the decoder did not produce: when it ends before the count
    the container claims (a truncated or damaged file), or resumed after a damaged stretch, `end_note`
    says so (last frame, frames decoded, count claimed). With a stride the frames not taken are grabbed
    (decoded, not converted) and get no record; a frame's index is its position among the decoded
    frames. Timestamps are the frames' presentation times when the container has them.
    """

    def __init__(self, path: Path, stride: int = 1) -> None:
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise SourceError(f"{shorten(str(path))}: stride must be a whole number ≥ 1, got {stride!r}")
        self.path = Path(path)
        self.source_id = str(path)
        self.stride = stride
        self.cap: cv2.VideoCapture | None = None
        self.fps = 0.0
        self.frame_count = 0
        self.decoded = 0
        self.end_note: str | None = None
        self._spent = False

    def open(self) -> None:
        """Open the file; SourceError names it when it is missing or not a video OpenCV can read."""
        shown = shorten(str(self.path))
        kind = file_kind(self.path)
        if kind is None:
            raise SourceError(f"video file {shown!r} does not exist (or cannot be looked up)")
        if kind != "file":
            raise SourceError(f"video file {shown!r} is not a regular file ({kind})")
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{shown} could not be opened as a video (unsupported or corrupt container)")
        self.cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if math.isfinite(fps) and fps > 0 else 0.0
        count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        self.frame_count = int(count) if math.isfinite(count) and count > 0 else 0

    def __iter__(self) -> Iterator[Frame]:
        if self._spent:  # iterating again starts from the first frame, not from the end
            self.close()
        if self.cap is None:
            self.open()
        cap: cv2.VideoCapture = self.cap
        self._spent = True
        shown = shorten(str(self.path))
        self.end_note = None
        self.decoded = 0
        gaps: list[tuple[int, int]] = []  # (last frame before, failed reads) where decoding resumed
        failures = 0
        last_t: float | None = None
        while True:
            if not _grab(cap):
                # The end, unless the container announced more frames and a later read succeeds.
                if self.decoded >= self.frame_count or failures >= MAX_CONSECUTIVE_FAILURES:
                    break
                failures += 1
                continue
            if failures:
                gaps.append((self.decoded - 1, failures))
                failures = 0
            index = self.decoded
            self.decoded += 1
            last_t = t = self._timestamp(cap, index, last_t)
            if index % self.stride:
                continue
            image = _retrieve(cap)
            if image is not None:
                yield Frame(index, t, image, self.source_id)
            else:  # decoded, but OpenCV could not convert it: a real frame, so it keeps its record
                yield Frame(index, t, None, self.source_id, f"{shown}: frame {index} could not be converted")
        self.end_note = self._end_note(gaps)

    def _timestamp(self, cap: cv2.VideoCapture, index: int, last: float | None) -> float:
        """The frame's presentation time; index / fps where the container gives none or goes backwards."""
        t = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        if math.isfinite(t) and t >= 0 and (last is None or t > last):
            return t
        step = 1.0 / self.fps if self.fps > 0 else 1.0
        return index * step if last is None else last + step

    def _end_note(self, gaps: list[tuple[int, int]]) -> str | None:
        shown = shorten(str(self.path))
        notes = []
        if self.decoded == 0:
            claims = f" (the container claims {self.frame_count})" if self.frame_count else ""
            notes.append(f"{shown}: the decoder produced no frame{claims}")
        elif self.decoded < self.frame_count:
            notes.append(
                f"{shown}: the decoder ended after frame {self.decoded - 1} ({self.decoded} frames decoded) "
                f"but the container claims {self.frame_count}; the file is truncated or corrupt"
            )
        if gaps:
            where = ", ".join(
                f"{f'after frame {last}' if last >= 0 else 'before frame 0'} ({n} failed reads)"
                for last, n in gaps[:5]
            )
            more = f" and {len(gaps) - 5} more" if len(gaps) > 5 else ""
            notes.append(f"decoding failed and resumed {where}{more}")
        return "; ".join(notes) or None

    def describe(self) -> dict[str, Any]:
        """Kind, path, frame rate, frames it will yield (claimed count / stride), stride and how it ended."""
        return {
            "kind": "video",
            "uri": self.source_id,
            "fps": self.fps,
            "frames": -(-self.frame_count // self.stride),
            "claimed_frames": self.frame_count,
            "stride": self.stride,
            "end": self.end_note,
        }


def _grab(cap: cv2.VideoCapture) -> bool:
    """Read the next frame without converting it; False at the end or on a failed read."""
    try:
        return bool(cap.grab())
    except cv2.error:  # OpenCV raising on a damaged packet is one more failed read
        return False


def _retrieve(cap: cv2.VideoCapture) -> np.ndarray | None:
    """The grabbed frame as BGR, or None when OpenCV cannot convert it."""
    try:
        ok, image = cap.retrieve()
    except cv2.error:
        return None
    return image if ok and image is not None and image.size else None


class CaptureSource(_OpenCvSource):
    """A camera (index or device path) or a network stream (rtsp/rtmp/http), with time-outs and reconnects.

    A read that fails or times out triggers a reconnect with exponential back-off (each one logged);
    after `max_reconnects` failed attempts in a row the stream is taken as gone, iteration ends and
    `end_note` says so. Frames are stamped with the wall-clock read time.
    """

    default_policy = "live"

    def __init__(
        self,
        uri: str | int,
        *,
        timeout_s: float = 5.0,
        max_reconnects: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ) -> None:
        if isinstance(uri, int) and not 0 <= uri <= MAX_CAMERA_INDEX:
            raise SourceError(
                f"camera index {uri} is out of range; cameras are numbered 0 … {MAX_CAMERA_INDEX}"
            )
        self.uri = uri
        self.source_id = str(uri)
        self.end_note: str | None = None
        self.timeout_s = timeout_s
        self.max_reconnects = max_reconnects
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.cap: cv2.VideoCapture | None = None
        self.reconnects: list[dict[str, Any]] = []
        self.fps = 0.0

    def _connect(self) -> cv2.VideoCapture | None:
        ms = int(self.timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        try:
            if isinstance(self.uri, int):
                cap = cv2.VideoCapture(self.uri)
            else:
                cap = cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG, params)
        except cv2.error:  # a URL OpenCV rejects outright is one it cannot connect to
            return None
        if not cap.isOpened():
            cap.release()
            return None
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return cap

    def open(self) -> None:
        """Connect once; SourceError says what to check when the first connection fails."""
        self.cap = self._connect()
        if self.cap is None:
            kind = "camera" if isinstance(self.uri, int) or str(self.uri).startswith("/dev/") else "stream"
            raise SourceError(
                f"could not open {kind} {self.source_id!r} within {self.timeout_s:g} s; check that it is "
                "connected/served and that the URL or device index is right"
            )

    def __iter__(self) -> Iterator[Frame]:
        if self.cap is None:
            self.open()
        self.end_note = None
        index = since_connect = 0
        while self.cap is not None:
            image = _retrieve(self.cap) if _grab(self.cap) else None
            if image is not None:
                yield Frame(index, time.time(), image, self.source_id)
                index += 1
                since_connect += 1
                continue
            # A file served over HTTP ends where its container says; reconnecting would replay it.
            claimed = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.cap is not None else 0
            if claimed > 0 and since_connect >= claimed:
                return
            since_connect = 0
            if not self._reconnect():
                last = f"after frame {index - 1}" if index else "before any frame was read"
                self.end_note = (
                    f"{shorten(self.source_id)}: gone {last}; {self.max_reconnects} reconnect attempts failed"
                )
                return

    def _reconnect(self) -> bool:
        """Try to reconnect with back-off; False when the stream is gone for good."""
        if self.cap is not None:
            self.cap.release()
            self.cap = None
        delay = self.backoff_s
        for attempt in range(1, self.max_reconnects + 1):
            log.warning(
                "%s: read failed; reconnect %d/%d in %.1f s",
                self.source_id,
                attempt,
                self.max_reconnects,
                delay,
            )
            time.sleep(delay)
            cap = self._connect()
            self.reconnects.append({"attempt": attempt, "time": time.time(), "ok": cap is not None})
            if cap is not None:
                log.warning("%s: reconnected on attempt %d", self.source_id, attempt)
                self.cap = cap
                return True
            delay = min(delay * 2, self.max_backoff_s)
        log.warning(
            "%s: gone after %d reconnect attempts; ending the stream", self.source_id, self.max_reconnects
        )
        return False

    def describe(self) -> dict[str, Any]:
        """Kind, URI, frame rate and the reconnect history so far."""
        return {
            "kind": "capture",
            "uri": self.source_id,
            "fps": self.fps,
            "reconnects": len(self.reconnects),
            "end": self.end_note,
        }
