"""A video gets one record per frame its decoder produces: truncation ends it early with a note, never with
invented records. The count to match comes from PyAV, a decoder independent of OpenCV's."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from depthmask.errors import SourceError
from depthmask.sources import VideoFileSource, open_source

N = 40
SUFFIX = {"pyav": ".mp4", "cv2": ".avi"}


def pyav_count(path: Path) -> int:
    """Frames PyAV's decoder yields from the file, packet by packet, going past damaged packets as
    FFmpeg's decoder does, to the end of what its demuxer finds (or the first demuxer error)."""
    n = 0
    with contextlib.suppress(av.error.FFmpegError), av.open(str(path)) as container:
        for packet in container.demux(video=0):
            try:
                n += len(packet.decode())
            except av.error.FFmpegError:
                continue
    return n


def grey_level(image: np.ndarray) -> int:
    """The frame's fill level, read from a corner the printed number never reaches."""
    return int(image[2:8, 52:62].mean())


def assert_frames_are(frames: list, indices: list[int]) -> None:
    """Frames carry the given indices, decoded, and each shows the frame written under that index."""
    assert [f.index for f in frames] == indices
    assert all(f.ok and f.image.shape == (48, 64, 3) for f in frames)
    for f in frames:
        assert abs(grey_level(f.image) - (f.index * 9) % 256) <= 12, f.index


@pytest.mark.parametrize("writer", ["pyav", "cv2"])
def test_whole_video_every_frame_no_note(tmp_path: Path, video: Callable[..., Path], writer: str) -> None:
    path = video(tmp_path / f"clip{SUFFIX[writer]}", N, writer)
    assert pyav_count(path) == N
    with open_source(str(path)) as source:
        frames = list(source)
        assert source.describe()["frames"] == N and source.describe()["end"] is None
    assert_frames_are(frames, list(range(N)))
    assert source.end_note is None
    assert [f.timestamp for f in frames] == pytest.approx([i / 10 for i in range(N)])
    assert len(list(source)) == N and source.end_note is None  # a second pass starts again


@pytest.mark.parametrize("writer", ["pyav", "cv2"])
@pytest.mark.parametrize("fraction", [0.35, 0.8])
def test_truncated_video_yields_what_the_decoder_produces(
    tmp_path: Path, video: Callable[..., Path], writer: str, fraction: float
) -> None:
    data = video(tmp_path / f"full{SUFFIX[writer]}", N, writer).read_bytes()
    cut = tmp_path / f"cut{SUFFIX[writer]}"
    cut.write_bytes(data[: int(len(data) * fraction)])
    decoded = pyav_count(cut)
    assert 0 < decoded < N  # the cut lost frames and kept some
    with open_source(str(cut)) as source:
        frames = list(source)
    assert len(frames) == decoded  # no record invented for a frame the decoder never produced
    assert_frames_are(frames[:-1], list(range(decoded - 1)))  # the last may be half-decoded
    assert frames[-1].index == decoded - 1
    note = source.end_note
    assert note is not None and str(cut) in note
    assert f"after frame {decoded - 1} ({decoded} frames decoded)" in note and f"claims {N}" in note
    assert source.describe()["end"] == note


def test_stride_grabs_the_frames_it_skips(tmp_path: Path, video: Callable[..., Path]) -> None:
    path = video(tmp_path / "clip.mp4", N)
    source = open_source(f"{path}?stride=3")
    assert isinstance(source, VideoFileSource) and source.stride == 3
    with source:
        frames = list(source)
        assert source.describe()["frames"] == 14 and source.describe()["stride"] == 3
    assert_frames_are(frames, list(range(0, N, 3)))
    assert frames[1].timestamp == pytest.approx(0.3)
    assert source.end_note is None and source.decoded == N


def test_stride_on_a_truncated_video(tmp_path: Path, video: Callable[..., Path]) -> None:
    data = video(tmp_path / "full.mp4", N).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    decoded = pyav_count(cut)
    with open_source(f"{cut}?stride=4") as source:
        frames = list(source)
    assert [f.index for f in frames] == list(range(0, decoded, 4))
    assert f"after frame {decoded - 1}" in source.end_note


def test_unopenable_videos_raise_source_errors(tmp_path: Path, video: Callable[..., Path]) -> None:
    import cv2

    # OpenCV's mp4 writer puts the index last: a cut copy has none and cannot be opened at all.
    path = tmp_path / "moov_last.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for _ in range(10):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"moov_last\.mp4 could not be opened as a video"):
        list(open_source(str(path)))
    (tmp_path / "empty.mkv").write_bytes(b"")
    with pytest.raises(SourceError, match=r"empty\.mkv could not be opened"):
        list(open_source(str(tmp_path / "empty.mkv")))
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(SourceError, match=r"dir\.mp4"):
        list(open_source(str(tmp_path / "dir.mp4")))
