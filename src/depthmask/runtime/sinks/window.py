"""`--show`: a live window with the overlay (needs an OpenCV build with GUI support)."""

from __future__ import annotations

import contextlib
from typing import Any

import cv2

from depthmask.errors import ConfigError
from depthmask.runtime.overlay import DepthColorizer, overlay_frame, picture_of
from depthmask.runtime.records import Result

WINDOW = "depthmask"


class WindowSink:
    """Shows each processed frame's overlay; the run goes on if the window is closed."""

    def __init__(self) -> None:
        self.colorizer = DepthColorizer()
        self.shown = 0

    def open(self) -> None:
        """Open the window; refuse clearly where OpenCV has no GUI (opencv-python-headless)."""
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise ConfigError(
                "--show needs OpenCV with GUI support; this one is headless. Install opencv-python in place "
                "of opencv-python-headless, or drop --show and watch the overlay video instead."
            ) from None

    def write(self, result: Result) -> None:
        """Draw the frame's overlay."""
        drawn = picture_of(result)
        if drawn is None:
            return
        cv2.imshow(WINDOW, overlay_frame(*drawn, self.colorizer))
        cv2.waitKey(1)
        self.shown += 1

    def close(self) -> None:
        """Close the window."""
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(WINDOW)

    def describe(self) -> dict[str, Any]:
        """Frames shown."""
        return {"window_frames": self.shown}
