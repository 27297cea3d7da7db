"""KITTI: raw drives + uint16 annotated depth written in the real layout, read back through the dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depthmask.errors import SourceError
from depthmask.train.data import KittiDepth, dataset_from_spec, parse_split_file
from depthmask.train.data.transforms import IMAGENET_MEAN, IMAGENET_STD, kb_crop_box
from depthmask.train.metrics import crop_mask

H, W = 24, 80
STAMPS = ["2011-09-26 13:02:25.964389445", "2011-09-26 13:02:26.068101713", "2011-09-26 13:02:26.171837012"]


def _frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _gt(seed: int) -> np.ndarray:
    """uint16 depth ×256: random metres in 1..90 on a sparse third of the pixels, 0 elsewhere."""
    rng = np.random.default_rng(100 + seed)
    metres = rng.uniform(1.0, 90.0, (H, W))
    raw = np.round(metres * 256).astype(np.uint16)
    raw[rng.random((H, W)) > 0.33] = 0
    return raw


def _drive(raw: Path, name: str, n: int, seed: int, camera: str = "image_02") -> Path:
    drive = raw / name[:10] / name
    data = drive / camera / "data"
    data.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(data / f"{i:010d}.png"), _frame(seed + i))
    (drive / camera / "timestamps.txt").write_text("\n".join(STAMPS[:n]) + "\n")
    return drive


def _annotate(
    depth_root: Path, folder: str, name: str, frames: list[int], seed: int, camera: str = "image_02"
):
    out = depth_root / folder / name / "proj_depth" / "groundtruth" / camera
    out.mkdir(parents=True)
    for i in frames:
        cv2.imwrite(str(out / f"{i:010d}.png"), _gt(seed + i))


@pytest.fixture
def kitti(tmp_path: Path) -> Path:
    """raw/ with two drives (drive 1 also has image_03), depth/train (drive 1), depth/val (drive 2)."""
    raw = tmp_path / "raw"
    _drive(raw, "2011_09_26_drive_0001_sync", 3, seed=0)
    _drive(raw, "2011_09_26_drive_0001_sync", 3, seed=50, camera="image_03")
    _drive(raw, "2011_09_28_drive_0002_sync", 2, seed=10)
    depth = tmp_path / "depth"
    _annotate(depth, "train", "2011_09_26_drive_0001_sync", [1, 2], seed=0)
    _annotate(depth, "train", "2011_09_26_drive_0001_sync", [1], seed=50, camera="image_03")
    _annotate(depth, "val", "2011_09_28_drive_0002_sync", [0, 1], seed=10)
    return tmp_path


def _unnormalise(image: torch.Tensor) -> np.ndarray:
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((image * std + mean) * 255).permute(1, 2, 0).numpy()


def test_train_split_lists_annotations_and_reads_sparse_depth(kitti: Path) -> None:
    ds = KittiDepth(kitti / "raw", depth_root=kitti / "depth", input_size=(H, W), augment=False)
    assert [(e.drive, e.frame) for e in ds.entries] == [
        ("2011_09_26/2011_09_26_drive_0001_sync", "0000000001"),
        ("2011_09_26/2011_09_26_drive_0001_sync", "0000000002"),
    ]
    s = ds[0]
    raw = _gt(1).astype(np.float32)
    assert s["depth"].shape == (1, H, W) and s["depth"].dtype == torch.float32
    np.testing.assert_array_equal(s["depth"][0].numpy(), raw / 256.0)
    # valid: measured (non-zero) and below the 80 m cap; no evaluation crop on the training split
    np.testing.assert_array_equal(s["valid"][0].numpy(), (raw > 0) & (raw / 256.0 < 80.0))
    assert s["valid"].dtype == torch.bool
    # the image: BGR frame → RGB, /255, ImageNet z-score (same size, so no resampling)
    np.testing.assert_allclose(_unnormalise(s["image"]), _frame(1)[..., ::-1], atol=1e-3)
    assert s["path"].endswith("image_02/data/0000000001.png")
    assert s["timestamp"] == pytest.approx(1317042146.068101713, abs=1e-5)


def test_depth_resized_nearest_to_input_and_flip_keeps_alignment(kitti: Path) -> None:
    ds = KittiDepth(kitti / "raw", depth_root=kitti / "depth", input_size=(H // 2, W // 2), augment=False)
    s = ds[1]
    raw = _gt(2).astype(np.float32) / 256.0
    assert s["image"].shape == (3, H // 2, W // 2)
    # nearest by an exact factor 2: every output pixel is a measured source pixel, never a blend
    np.testing.assert_array_equal(s["depth"][0].numpy(), raw[::2, ::2])
    np.testing.assert_array_equal(s["valid"][0].numpy(), (raw[::2, ::2] > 0) & (raw[::2, ::2] < 80))
    aug = KittiDepth(kitti / "raw", depth_root=kitti / "depth", input_size=(H // 2, W // 2), augment=True)
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        a = aug[1]
        flipped = torch.equal(a["depth"], s["depth"].flip(-1))
        assert flipped or torch.equal(a["depth"], s["depth"])
        ref = {k: s[k].flip(-1) if flipped else s[k] for k in ("image", "depth", "valid")}
        assert all(torch.equal(a[k], ref[k]) for k in ref)
        seen.add(flipped)
    assert seen == {True, False}


def test_test_split_keeps_native_depth_with_garg_crop_and_caps(kitti: Path) -> None:
    ds = KittiDepth(kitti / "raw", depth_root=kitti / "depth", split="test", input_size=(H // 2, W // 2))
    assert [e.frame for e in ds.entries] == ["0000000000", "0000000001"] and not ds.augment
    s = ds[1]
    raw = _gt(11).astype(np.float32) / 256.0
    assert s["image"].shape == (3, H // 2, W // 2) and s["depth"].shape == (1, H, W)
    expected = (raw > 1e-3) & (raw < 80.0) & crop_mask(H, W, "garg").numpy()
    np.testing.assert_array_equal(s["valid"][0].numpy(), expected)
    assert expected.sum() < ((raw > 0) & (raw < 80)).sum()  # the crop removed measured pixels
    capped = KittiDepth(
        kitti / "raw",
        depth_root=kitti / "depth",
        split="test",
        input_size=(H, W),
        max_depth=50.0,
        eval_crop=None,
    )[1]
    np.testing.assert_array_equal(capped["valid"][0].numpy(), (raw > 1e-3) & (raw < 50.0))


def test_eigen_split_file_order_cameras_and_skipped_frames(kitti: Path) -> None:
    listing = kitti / "eigen_test_files.txt"
    listing.write_text(
        "2011_09_28/2011_09_28_drive_0002_sync 0000000001 l\n"
        "2011_09_26/2011_09_26_drive_0001_sync 0000000001 r\n"
        "2011_09_26/2011_09_26_drive_0001_sync 0000000000 l\n"  # not annotated: skipped and counted
        "2011_09_26/2011_09_26_drive_0001_sync 2 l\n"
    )
    ds = dataset_from_spec(
        f"kitti:{kitti / 'raw'}?depth={kitti / 'depth'}&split={listing}", split="test", input_size=(H, W)
    )
    assert [(e.frame, e.camera) for e in ds.entries] == [
        ("0000000001", "image_02"),
        ("0000000001", "image_03"),
        ("0000000002", "image_02"),
    ]
    assert ds.skipped == [("2011_09_26/2011_09_26_drive_0001_sync 0000000000 image_02", "no annotated depth")]
    right = ds[1]
    np.testing.assert_array_equal(right["depth"][0].numpy(), _gt(51).astype(np.float32) / 256.0)
    np.testing.assert_allclose(_unnormalise(right["image"]), _frame(51)[..., ::-1], atol=1e-3)
    assert ds.eval_crop == "garg" and ds.max_depth == 80.0


def test_errors_name_the_file_and_the_fix(kitti: Path) -> None:
    bad = kitti / "bad.txt"
    bad.write_text("2011_09_26/2011_09_26_drive_0001_sync 0000000001 l\nnot a line\n")
    with pytest.raises(SourceError, match=r"bad\.txt:2: 'not a line'"):
        parse_split_file(bad)
    missing = kitti / "missing.txt"
    missing.write_text("2011_09_26/2011_09_26_drive_0001_sync 7 l\n")
    _annotate(kitti / "depth", "val", "2011_09_26_drive_0001_sync", [7], seed=0)
    with pytest.raises(SourceError, match=r"0000000007\.png does not exist \(the drive has 3 frames\)"):
        KittiDepth(kitti / "raw", depth_root=kitti / "depth", split_file=missing, input_size=(H, W))
    with pytest.raises(SourceError, match="no KITTI annotated depth for split 'train'"):
        KittiDepth(kitti / "raw", input_size=(H, W))
    # an annotation that is not uint16 fails when read, naming the file
    gt = kitti / "depth" / "train" / "2011_09_26_drive_0001_sync" / "proj_depth" / "groundtruth" / "image_02"
    cv2.imwrite(str(gt / "0000000002.png"), np.zeros((H, W), np.uint8))
    ds = KittiDepth(kitti / "raw", depth_root=kitti / "depth", input_size=(H, W))
    with pytest.raises(
        SourceError, match=r"0000000002\.png is a uint8 image .* not KITTI's single-channel uint16"
    ):
        ds[1]


def test_kb_crop_box() -> None:
    assert kb_crop_box(375, 1242) == (23, 13, 352, 1216)
    assert kb_crop_box(370, 1224) == (18, 4, 352, 1216)
    assert kb_crop_box(100, 300) == (0, 0, 100, 300)  # smaller than the crop: kept whole
