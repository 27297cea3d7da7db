"""Short test videos written with PyAV (H.264 is not needed: MPEG-2 in MPEG-TS streams over HTTP,
MPEG-4 Part 2 in MP4 is a finite file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_clip(path: Path, frames: int = 12, size: tuple[int, int] = (48, 64), fmt: str = "mpegts") -> Path:
    """`frames` grey frames (frame i has grey level 20·i) of `size` (H, W) at 10 frames/s."""
    import av

    codec = {"mpegts": "mpeg2video", "mp4": "mpeg4"}[fmt]
    height, width = size
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), i * 20, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path
