"""Video files, cameras and network streams, all read through OpenCV's VideoCapture (FFmpeg backend)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2

from depthmask.errors import SourceError
from depthmask.runtime.sources.base import Frame, SourceBase

log = logging.getLogger("depthmask.sources")

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"})
# After this many failed reads in a row inside a file's known length, the rest is taken as lost.
MAX_CONSECUTIVE_FAILURES = 30


class VideoFileSource(SourceBase):
    """Every frame of a video file; frames that fail to decode inside its length become error records."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.source_id = str(path)
        self.cap: cv2.VideoCapture | None = None
        self.fps = 0.0
        self.frame_count = 0

    def open(self) -> None:
        """Open the file; SourceError names it when it is missing or not a video OpenCV can read."""
        if not self.path.is_file():
            raise SourceError(f"video file {str(self.path)!r} does not exist")
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise SourceError(
                f"{self.path} could not be opened as a video (unsupported or corrupt container)"
            )
        self.cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)

    def __iter__(self) -> Iterator[Frame]:
        if self.cap is None:
            self.open()
        assert self.cap is not None
        index = failures = 0
        while True:
            ok, image = self.cap.read()
            if ok and image is not None:
                failures = 0
                yield Frame(index, self._timestamp(index), image, self.source_id)
                index += 1
                continue
            # A failed read is the end of the file unless the container says more frames follow.
            if index >= self.frame_count or failures >= MAX_CONSECUTIVE_FAILURES:
                if index < self.frame_count:
                    yield Frame(
                        index, self._timestamp(index), None, self.source_id,
                        f"{self.path}: video ends after frame {index - 1} of {self.frame_count} "
                        f"({self.frame_count - index} frames lost: truncated or corrupt file)",
                    )  # fmt: skip
                return
            failures += 1
            yield Frame(
                index,
                self._timestamp(index),
                None,
                self.source_id,
                f"{self.path}: frame {index} failed to decode",
            )
            index += 1

    def _timestamp(self, index: int) -> float:
        return index / self.fps if self.fps > 0 else float(index)

    def close(self) -> None:
        """Release the capture."""
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def describe(self) -> dict[str, Any]:
        """Kind, path, frame rate, frame count and size."""
        return {"kind": "video", "uri": self.source_id, "fps": self.fps, "frames": self.frame_count}


class CaptureSource(SourceBase):
    """A camera (index or device path) or a network stream (rtsp/rtmp/http), with time-outs and reconnects.

    A read that fails or times out triggers a reconnect with exponential back-off (each one logged);
    after `max_reconnects` failed attempts in a row the stream is taken as gone and iteration ends.
    Frames are stamped with the wall-clock read time.
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
        self.uri = uri
        self.source_id = str(uri)
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
        if isinstance(self.uri, int):
            cap = cv2.VideoCapture(self.uri)
        else:
            cap = cv2.VideoCapture(self.uri, cv2.CAP_FFMPEG, params)
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
        index = 0
        while self.cap is not None:
            ok, image = self.cap.read()
            if ok and image is not None:
                yield Frame(index, time.time(), image, self.source_id)
                index += 1
                continue
            if not self._reconnect():
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

    def close(self) -> None:
        """Release the device or connection."""
        if self.cap is not None:
            self.cap.release()
            self.cap = None

    def describe(self) -> dict[str, Any]:
        """Kind, URI, frame rate and the reconnect history so far."""
        return {"kind": "capture", "uri": self.source_id, "fps": self.fps, "reconnects": len(self.reconnects)}
