"""Small real files for the source tests: numbered videos (PyAV and OpenCV writers) and image folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

VIDEO_SIZE = (48, 64)  # H, W: tiny, so a 40-frame clip decodes in milliseconds
FPS = 10


def numbered_frame(i: int) -> np.ndarray:
    """A BGR frame whose grey level and printed number identify it."""
    h, w = VIDEO_SIZE
    frame = np.full((h, w, 3), (i * 9) % 256, dtype=np.uint8)
    cv2.putText(frame, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return frame


def write_video(path: Path, n: int, writer: str = "pyav") -> Path:
    """`n` numbered frames at 10 fps: "pyav" writes MPEG-4 Part 2 in an mp4 with its index up front
    (so a truncated copy still opens), "cv2" writes Motion-JPEG in an avi."""
    h, w = VIDEO_SIZE
    if writer == "pyav":
        import av

        with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
            stream = container.add_stream("mpeg4", rate=FPS)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(numbered_frame(i), format="bgr24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    else:
        out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), float(FPS), (w, h))
        for i in range(n):
            out.write(numbered_frame(i))
        out.release()
    return path


@pytest.fixture
def video() -> Callable[..., Path]:
    """`write_video` as a fixture: video(path, n, writer="pyav"|"cv2") → path."""
    return write_video


@pytest.fixture
def image_folder(tmp_path: Path) -> Callable[[int], Path]:
    """image_folder(n) → a folder of n small numbered PNGs (0000000000.png, …)."""

    def make(n: int) -> Path:
        folder = tmp_path / f"images{n}"
        folder.mkdir()
        for i in range(n):
            cv2.imwrite(str(folder / f"{i:010d}.png"), numbered_frame(i)[:24, :32])
        return folder

    return make
