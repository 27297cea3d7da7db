"""Frame sources: folders, globs, lists, KITTI drives, video files, and how bad input becomes records."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from depthmask.errors import SourceError
from depthmask.sources import (
    ImageSequenceSource,
    VideoFileSource,
    open_source,
    open_sources,
    parse_kitti_timestamp,
)


def _image(i: int, h: int = 24, w: int = 32) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i:010d}.png"
        cv2.imwrite(str(p), _image(i))
        paths.append(p)
    return paths


def _write_video(path: Path, n: int, fps: float = 10.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for i in range(n):
        frame = np.full((48, 64, 3), (i * 9) % 256, dtype=np.uint8)
        cv2.putText(frame, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()


def test_folder_in_name_order_with_bad_files_as_records(tmp_path: Path) -> None:
    _write_images(tmp_path, 4)
    good = (tmp_path / "0000000001.png").read_bytes()
    (tmp_path / "0000000002.png").write_bytes(good[: len(good) // 2])  # truncated PNG
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(open_source(str(tmp_path)))
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.ok for f in frames] == [True, True, False, True, False]
    assert "truncated or corrupt" in frames[2].error and "0000000002.png" in frames[2].error
    assert "not an image file" in frames[4].error and "notes.txt" in frames[4].error
    assert np.array_equal(frames[0].image, _image(0))
    assert frames[3].image.shape == (24, 32, 3) and frames[3].image.dtype == np.uint8


def test_glob_and_list(tmp_path: Path) -> None:
    paths = _write_images(tmp_path / "imgs", 3)
    frames = list(open_source(str(tmp_path / "imgs" / "*.png")))
    assert len(frames) == 3 and all(f.ok for f in frames)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# reversed\nimgs/{paths[2].name}\n{paths[0]}\n")
    frames = list(open_source(str(listing)))
    assert [f.meta["path"] for f in frames] == [str(tmp_path / "imgs" / paths[2].name), str(paths[0])]


def test_kitti_drive_uses_its_timestamps(tmp_path: Path) -> None:
    drive = tmp_path / "2011_09_26" / "2011_09_26_drive_0001_sync"
    _write_images(drive / "image_02" / "data", 3)
    stamps = [
        "2011-09-26 13:02:25.964389445",
        "2011-09-26 13:02:26.068101713",
        "2011-09-26 13:02:26.171837012",
    ]
    (drive / "image_02" / "timestamps.txt").write_text("\n".join(stamps) + "\n")
    source = open_source(str(drive))
    frames = list(source)
    assert len(frames) == 3
    assert frames[1].timestamp - frames[0].timestamp == pytest.approx(0.103712268, abs=1e-6)
    assert source.describe()["fps"] == pytest.approx(2 / (frames[2].timestamp - frames[0].timestamp))
    assert parse_kitti_timestamp(stamps[0]) % 1 == pytest.approx(0.964389445, abs=1e-6)
    (drive / "image_02" / "timestamps.txt").write_text(stamps[0] + "\n")
    with pytest.raises(SourceError, match="1 timestamps for 3 frames"):
        open_source(str(drive))


def test_video_file_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write_video(path, 25)
    with open_source(str(path)) as source:
        assert isinstance(source, VideoFileSource)
        frames = list(source)
        assert source.describe()["frames"] == 25
    assert len(frames) == 25 and all(f.ok for f in frames)
    assert frames[10].timestamp == pytest.approx(1.0)
    assert frames[0].image.shape == (48, 64, 3)


def test_corrupt_video_resumes_without_invented_records(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    _write_video(path, 40)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    start, stop = len(data) // 3, 2 * len(data) // 3
    data[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    # The independent count: OpenCV's own reads of the file, failures skipped, to the end.
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    decoded = sum(cap.read()[0] for _ in range(400))
    cap.release()
    source = open_source(str(path))
    frames = list(source)
    # One record per frame the decoder produced (none for the damaged stretch), numbered in order;
    # decoding resumes after it, and the frames after the gap keep their own presentation times.
    assert 0 < len(frames) == decoded < 40
    assert [f.index for f in frames] == list(range(decoded)) and all(f.ok for f in frames)
    steps = np.diff([f.timestamp for f in frames])
    assert steps.max() > 0.5 and np.median(steps) == pytest.approx(0.1)
    assert "decoding failed and resumed after frame" in source.end_note and "claims 40" in source.end_note


def test_grammar_errors_name_the_input(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nowhere\.mp4"):
        list(open_source(str(tmp_path / "nowhere.mp4")))
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(SourceError, match=r"suffix '\.csv'"):
        open_source(str(tmp_path / "data.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="has no files"):
        open_source(str(tmp_path / "empty"))
    with pytest.raises(SourceError, match="matches no files"):
        open_source(str(tmp_path / "*.png"))
    with pytest.raises(SourceError, match="not key=value"):
        open_source("synthetic:frames")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    with pytest.raises(SourceError, match="could not be opened as a video"):
        VideoFileSource(broken).open()


def test_streams_file_expands(tmp_path: Path) -> None:
    _write_images(tmp_path / "a", 2)
    _write_images(tmp_path / "b", 3)
    streams = tmp_path / "cams.streams"
    streams.write_text(f"# two folders\n{tmp_path / 'a'}\n{tmp_path / 'b'}\n")
    sources = open_sources([str(streams)])
    assert [len(s) for s in sources if isinstance(s, ImageSequenceSource)] == [2, 3]
