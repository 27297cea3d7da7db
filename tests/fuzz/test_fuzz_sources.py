"""Fuzzed source strings, built from the grammar's own pieces and random text, in a folder that holds
real images, a video, lists and a KITTI-shaped drive: each names a source (whose first frames then
read as frames or error frames) or is refused with a typed error. Network URLs and cameras are parsed
but never opened (nothing here may reach another host)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest
from fuzzing import CASES, OUTCOMES, ends_typed, fuzz
from hypothesis import given
from hypothesis import strategies as st

from depthmask.sources import CaptureSource, open_source, open_sources

FUZZ = fuzz(cases=250, deadline_ms=5000)
PIECES = [
    "synthetic:", "synthetic", "frames=", "seed=", "height=", "width=", "speed=", ",", "=", "2", "0", "-1",
    "1.5", "abc", "99999999999999999999", "imgs", "imgs/", "imgs/*.png", "imgs/0.png", "clip.mp4", "list.txt",
    "x.streams", "self.streams", "drive_sync", "?stride=", "?", "&", "stride=", "max_frames=", "*", "[",
    "../", "~", "/dev/video", " ", "\x00", "é", "missing.mp4", "binary.txt",
]  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("sources")
    (root / "imgs").mkdir()
    for i in range(3):
        cv2.imwrite(str(root / "imgs" / f"{i}.png"), np.full((24, 32, 3), 80 * i, np.uint8))
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    (root / "list.txt").write_text("imgs/0.png\nimgs/2.png\nnowhere.png\n")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (root / "x.streams").write_text("imgs\nclip.mp4\nsynthetic:frames=2,height=24,width=32\n")
    (root / "self.streams").write_text("self.streams\n")
    drive = root / "drive_sync" / "image_02"
    (drive / "data").mkdir(parents=True)
    cv2.imwrite(str(drive / "data" / "0000000000.png"), np.zeros((24, 32, 3), np.uint8))
    (drive / "timestamps.txt").write_text("2011-09-26 13:02:25.964389445\nnot a time\n")
    yield root


def _read_some(spec: str) -> int:
    """Open what `spec` names and read up to 3 frames; returns how many were read."""
    sources = open_sources([spec])
    read = 0
    for source in sources:
        if isinstance(source, CaptureSource):
            continue  # a camera or a stream: parsed, never opened here
        with source:
            for frame in islice(source, 3):
                assert frame.image is not None or frame.error, "a frame without an image says why"
                read += 1
    return read


VALID = [
    "imgs",
    "imgs/*.png",
    "clip.mp4",
    "list.txt",
    "x.streams",
    "drive_sync",
    "synthetic:frames=2,height=24,width=32",
]
pieces = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), min_size=1, max_size=6).map("".join)
near_valid = st.tuples(st.sampled_from(VALID), st.sampled_from(["", "?stride=", "?", ",", "&"]), pieces).map(
    "".join
)


@FUZZ
@given(spec=pieces | st.sampled_from(VALID) | near_valid)
def test_source_strings_name_a_source_or_are_refused(workdir: Path, spec: str) -> None:
    if "://" in spec:  # a network URL: never contacted from a test
        spec = spec.replace("://", ":")
    here = os.getcwd()
    os.chdir(workdir)
    try:
        ends_typed("source string", lambda: _read_some(spec))
    finally:
        os.chdir(here)


@pytest.mark.parametrize("spec", ["rtsp://127.0.0.1:1/x", "0", "/dev/video3", "http://127.0.0.1:1/s"])
def test_cameras_and_streams_are_parsed_without_being_opened(spec: str) -> None:
    CASES["source string"] += 1
    assert isinstance(open_source(spec), CaptureSource)
    OUTCOMES["ok"] += 1
