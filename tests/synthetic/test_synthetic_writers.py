"""Writing the synthetic drive: KITTI raw + annotated-depth layout read back exactly, and a video."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthmask.errors import ConfigError, OutputError
from depthmask.sources.kitti import kitti_drive_source, read_kitti_timestamps
from depthmask.synthetic import SceneConfig, iter_frames
from depthmask.synthetic.writers import (
    DepthPattern,
    kitti_depth_from_metres,
    kitti_timestamp,
    write_kitti_drive,
    write_video,
)

CONFIG = SceneConfig(height=64, width=208, seed=2, fps=10.0)


def _read(path: Path) -> np.ndarray:
    out = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert out is not None, path
    return out


def test_kitti_layout_round_trips_images_and_depth(tmp_path: Path) -> None:
    drive = write_kitti_drive(CONFIG, tmp_path, 4, start=3, drive=7)
    name = "2011_09_26_drive_0007_sync"
    assert drive.drive == tmp_path / "2011_09_26" / name
    assert [p.name for p in drive.images] == [f"{i:010d}.png" for i in (3, 4, 5, 6)]
    assert all(p.parent == drive.drive / "image_02" / "data" for p in drive.images)
    depth_dir = tmp_path / "train" / name / "proj_depth" / "groundtruth" / "image_02"
    assert [p.parent for p in drive.depths] == [depth_dir] * 4
    assert drive.calibration.read_text().startswith("S_02:")
    frames = iter_frames(CONFIG, 4, start=3)
    for frame, image_path, depth_path in zip(frames, drive.images, drive.depths, strict=True):
        np.testing.assert_array_equal(_read(image_path), frame.image)  # PNG is lossless
        stored = _read(depth_path)
        assert stored.dtype == np.uint16 and stored.shape == frame.depth.shape
        sky = frame.depth >= CONFIG.max_depth
        assert sky.any() and np.all(stored[sky] == 0)
        assert np.all(stored[~sky] > 0)
        assert np.abs(stored[~sky] / 256.0 - frame.depth[~sky]).max() <= 1 / 512 + 1e-6


def test_timestamps_parse_and_step_by_one_over_fps(tmp_path: Path) -> None:
    config = SceneConfig(height=32, width=48, fps=7.0)
    drive = write_kitti_drive(config, tmp_path, 15, date="2012_01_31")
    lines = drive.timestamps.read_text().splitlines()
    assert len(lines) == 15
    assert all(re.fullmatch(r"2012-01-31 \d\d:\d\d:\d\d\.\d{9}", ln) for ln in lines)
    assert lines[0] == "2012-01-31 12:00:00.000000000"
    stamps = read_kitti_timestamps(drive.timestamps)
    np.testing.assert_allclose(np.diff(stamps), 1 / 7.0, atol=1e-6)
    assert kitti_timestamp("2011_09_26", 61.5) == "2011-09-26 12:01:01.500000000"


def test_the_runtime_reads_the_written_drive(tmp_path: Path) -> None:
    drive = write_kitti_drive(CONFIG, tmp_path, 5)
    with kitti_drive_source(drive.drive) as source:
        frames = list(source)
        assert source.describe()["fps"] == pytest.approx(10.0)
    assert len(frames) == 5
    for got, want in zip(frames, iter_frames(CONFIG, 5), strict=True):
        np.testing.assert_array_equal(got.image, want.image)


@pytest.mark.parametrize("keep", [0.05, 0.1])
def test_random_sparse_ground_truth_keeps_about_the_asked_share(tmp_path: Path, keep: float) -> None:
    config = SceneConfig(height=128, width=416, seed=5)
    drive = write_kitti_drive(config, tmp_path, 2, pattern="random", keep=keep)
    first, second = (_read(p) for p in drive.depths)
    frames = list(iter_frames(config, 2))
    valid = frames[0].depth < config.max_depth
    share = np.mean(first[valid] > 0)
    assert keep * 0.8 < share < keep * 1.2
    assert np.all(first[~valid] == 0)
    kept = first > 0
    assert np.abs(first[kept] / 256.0 - frames[0].depth[kept]).max() <= 1 / 512 + 1e-6
    assert not np.array_equal(first > 0, second > 0)  # a new draw per frame


def test_scanline_ground_truth_lies_on_rows_below_the_lidar_top_beam(tmp_path: Path) -> None:
    config = SceneConfig(height=128, width=416, seed=5)
    drive = write_kitti_drive(config, tmp_path, 1, pattern=DepthPattern.SCANLINES, keep=0.07)
    stored = _read(drive.depths[0])
    rows = np.flatnonzero((stored > 0).any(axis=1))
    assert len(rows) > 5 and np.all(np.diff(rows) % 4 == 0)
    k = config.intrinsics
    assert rows.min() >= k.cy - k.fy * np.tan(np.radians(2.0))
    assert 0.03 < np.mean(stored[rows.min() :] > 0) < 0.1


def test_depth_encoding_rounds_and_marks_invalid() -> None:
    depth = np.array([[0.0, 1.0 / 256, 10.0, 79.999], [80.0, np.inf, np.nan, 3.14159]], np.float32)
    out = kitti_depth_from_metres(depth, 80.0)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, [[0, 1, 2560, 20480], [0, 0, 0, 804]])
    keep = np.zeros(depth.shape, bool)
    keep[0, 2] = True
    np.testing.assert_array_equal(kitti_depth_from_metres(depth, 80.0, keep), [[0, 0, 2560, 0], [0, 0, 0, 0]])


def test_video_has_every_frame(tmp_path: Path) -> None:
    path = write_video(CONFIG, tmp_path / "drive.mp4", 12)
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
        read = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            assert image.shape == (64, 208, 3)
            read += 1
    finally:
        cap.release()
    assert read == 12


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"date": "2011-09-26"}, "YYYY_MM_DD"),
        ({"drive": 10000}, "drive number 10000"),
        ({"pattern": "dots"}, "'dots' is not one of dense, random, scanlines"),
        ({"keep": 0.0}, "keep=0.0"),
        ({"split": "../up"}, "split '../up'"),
    ],
)
def test_bad_writer_options_raise_config_errors(tmp_path: Path, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        write_kitti_drive(CONFIG, tmp_path, 1, **options)
    with pytest.raises(ConfigError, match="frame count 0"):
        write_video(CONFIG, tmp_path / "v.mp4", 0)


def test_unwritable_root_raises_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot create"):
        write_kitti_drive(CONFIG, blocker, 1)
