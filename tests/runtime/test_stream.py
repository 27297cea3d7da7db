"""A network stream served on 127.0.0.1 by ffmpeg: read through the same source, reconnects when it dies."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthmask.sources import CaptureSource, open_source


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        pytest.skip("imageio-ffmpeg (dev extra) is not installed, so no ffmpeg binary to serve a stream")
    return imageio_ffmpeg.get_ffmpeg_exe()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clip(path: Path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), i * 10, dtype=np.uint8))
    writer.release()


def test_http_stream_reconnects_then_ends_cleanly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ffmpeg = _ffmpeg()
    clip = tmp_path / "clip.mp4"
    _clip(clip)
    url = f"http://127.0.0.1:{_free_port()}/live.ts"
    server = subprocess.Popen(
        [ffmpeg, "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(clip),
         "-c:v", "mpeg2video", "-f", "mpegts", "-listen", "1", url],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 10
        source = open_source(url)
        assert isinstance(source, CaptureSource) and source.default_policy == "live"
        source = CaptureSource(url, timeout_s=2.0, max_reconnects=2, backoff_s=0.1)
        while True:  # the server needs a moment before it listens
            try:
                source.open()
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        frames = 0
        with caplog.at_level(logging.WARNING, logger="depthmask.sources"):
            for frame in source:
                assert frame.ok and frame.image.shape == (48, 64, 3)
                frames += 1
                if frames == 10:
                    server.terminate()  # the stream goes away mid-run
                assert frames < 500, "the source did not notice the stream was gone"
        source.close()
    finally:
        server.kill()
        server.wait()
    assert frames >= 10
    assert [r["attempt"] for r in source.reconnects] == [1, 2]
    assert not any(r["ok"] for r in source.reconnects)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("read failed; reconnect" in m for m in messages) == 2
    assert any("gone after 2 reconnect attempts" in m for m in messages)
