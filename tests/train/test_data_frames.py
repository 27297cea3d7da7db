"""Frames only (what G trains on): folders, videos and KITTI drives through the runtime's sources."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depthmask.errors import ConfigError, SourceError
from depthmask.sources.fit import fit_frame
from depthmask.train.data import Frames, dataset_from_spec
from depthmask.train.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def _image(i: int, h: int = 24, w: int = 32) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _folder(folder: Path, n: int, corrupt: int | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i:06d}.png"
        cv2.imwrite(str(p), _image(i))
        paths.append(p)
    if corrupt is not None:
        data = paths[corrupt].read_bytes()
        paths[corrupt].write_bytes(data[: len(data) // 3])
    return paths


def _unnormalise(image: torch.Tensor) -> np.ndarray:
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((image * std + mean) * 255).permute(1, 2, 0).numpy()


def test_folder_samples_have_image_only_in_name_order(tmp_path: Path) -> None:
    paths = _folder(tmp_path / "f", 3)
    ds = dataset_from_spec(str(tmp_path / "f"), split="test", input_size=(24, 32))
    assert isinstance(ds, Frames) and len(ds) == 3
    s = ds[2]
    assert set(s) == {"image", "index", "path"} and s["path"] == str(paths[2])
    assert s["image"].shape == (3, 24, 32) and s["image"].dtype == torch.float32
    np.testing.assert_allclose(_unnormalise(s["image"]), _image(2)[..., ::-1], atol=1e-3)  # BGR → RGB
    small = dataset_from_spec(str(tmp_path / "f"), split="test", input_size=(12, 20))[0]["image"]
    expected = fit_frame(_image(0), 12, 20)[..., ::-1]  # the runtime's own fit: training sees what it sees
    np.testing.assert_allclose(_unnormalise(small), expected, atol=1e-3)


def test_unreadable_frames_raise_naming_the_file_or_are_skipped_and_counted(tmp_path: Path) -> None:
    paths = _folder(tmp_path / "f", 4, corrupt=1)
    ds = Frames(str(tmp_path / "f"), input_size=(24, 32))
    assert len(ds) == 4
    with pytest.raises(SourceError, match=r"000001\.png: could not be decoded"):
        ds[1]
    skip = dataset_from_spec(f"{tmp_path / 'f'}?on_error=skip", split="train", input_size=(24, 32))
    assert len(skip) == 3 and [s for s, _ in skip.skipped] == [str(paths[1])]
    assert [skip[i]["path"] for i in range(3)] == [str(paths[i]) for i in (0, 2, 3)]


def test_video_is_decoded_once_with_stride_and_max_frames(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(9):
        writer.write(np.full((48, 64, 3), i * 25, np.uint8))
    writer.release()
    ds = dataset_from_spec(f"frames:{clip}?stride=3&max_frames=2", split="test", input_size=(24, 32))
    assert len(ds) == 2 and ds.frames.shape == (2, 24, 32, 3)
    assert [ds[i]["path"] for i in range(2)] == [f"{clip}#0", f"{clip}#3"]
    assert ds[1]["timestamp"] == pytest.approx(0.3)
    grey = _unnormalise(ds[1]["image"]).mean()
    assert abs(grey - 75) < 6  # frame 3 of the clip (value 75, after lossy compression)


def test_kitti_drive_frames_carry_timestamps(tmp_path: Path) -> None:
    drive = tmp_path / "2011_09_26" / "2011_09_26_drive_0001_sync"
    _folder(drive / "image_02" / "data", 2)
    (drive / "image_02" / "timestamps.txt").write_text("2011-09-26 13:02:25.5\n2011-09-26 13:02:25.6\n")
    ds = dataset_from_spec(str(drive), split="train", input_size=(24, 32), augment=False)
    assert ds[1]["timestamp"] == pytest.approx(1317042145.6)


def test_flip_augmentation_and_live_sources_need_a_bound(tmp_path: Path) -> None:
    _folder(tmp_path / "f", 1)
    plain = Frames(str(tmp_path / "f"), input_size=(24, 32))[0]["image"]
    aug = Frames(str(tmp_path / "f"), input_size=(24, 32), augment=True)
    outcomes = set()
    for seed in range(10):
        torch.manual_seed(seed)
        img = aug[0]["image"]
        assert torch.equal(img, plain) or torch.equal(img, plain.flip(-1))
        outcomes.add(torch.equal(img, plain))
    assert outcomes == {True, False}
    with pytest.raises(ConfigError, match="live camera or stream with no end; give max_frames"):
        dataset_from_spec("rtsp://127.0.0.1:9/none", split="train", input_size=(24, 32))


def test_spec_errors_say_what_is_known() -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset kind 'kiti'.*Did you mean 'kitti'"):
        dataset_from_spec("kiti:/data/kitti", split="train", input_size=(24, 32))
    with pytest.raises(ConfigError, match="split must be 'train' or 'test'"):
        dataset_from_spec("synthetic:", split="val", input_size=(24, 32))  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="is not a camera index"):
        dataset_from_spec("/no/such/folder", split="train", input_size=(24, 32))
    with pytest.raises(ConfigError, match="names no path"):
        dataset_from_spec("kitti:?split=x.txt", split="train", input_size=(24, 32))
