"""NYU-v2: the CSV release (8-bit/16-bit PNG depth) and the labeled .mat (HDF5, transposed), read back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from depthmask.errors import ConfigError, SourceError
from depthmask.train.data import NyuCsv, NyuMat, dataset_from_spec
from depthmask.train.data.transforms import IMAGENET_MEAN, IMAGENET_STD, NyuTransform

H, W = 48, 64  # a 4:3 frame, like NYU's 480×640


def _rgb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _unnormalise(image: torch.Tensor) -> np.ndarray:
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((image * std + mean) * 255).permute(1, 2, 0).numpy()


@pytest.fixture
def nyu_csv(tmp_path: Path) -> Path:
    """The release's layout: <root>/data/nyu2_{train,test}.csv with paths relative to <root>."""
    root = tmp_path / "nyu"
    (root / "data" / "nyu2_train" / "kitchen_0001").mkdir(parents=True)
    (root / "data" / "nyu2_test").mkdir(parents=True)
    train_rows, test_rows = [], []
    for i in range(3):
        rgb = f"data/nyu2_train/kitchen_0001/{i}.png"
        depth = f"data/nyu2_train/kitchen_0001/{i}_depth.png"
        cv2.imwrite(str(root / rgb), _rgb(i)[..., ::-1])
        cv2.imwrite(str(root / depth), np.random.default_rng(10 + i).integers(1, 256, (H, W), dtype=np.uint8))
        train_rows.append(f"{rgb},{depth}")
    for i in range(2):
        rgb, depth = f"data/nyu2_test/{i:05d}_colors.png", f"data/nyu2_test/{i:05d}_depth.png"
        cv2.imwrite(str(root / rgb), _rgb(20 + i)[..., ::-1])
        mm = np.random.default_rng(30 + i).integers(0, 10000, (H, W), dtype=np.uint16)
        cv2.imwrite(str(root / depth), mm)
        test_rows.append(f"{rgb},{depth}")
    (root / "data" / "nyu2_train.csv").write_text("\n".join(train_rows) + "\n")
    (root / "data" / "nyu2_test.csv").write_text("\n".join(test_rows) + "\n")
    return root


def test_csv_test_split_crops_and_reads_millimetres(nyu_csv: Path) -> None:
    # short side 48 = no resize, so the test transform is a pure centre crop of 40×56 (offsets 4, 4)
    ds = NyuCsv(nyu_csv / "data" / "nyu2_test.csv", split="test", input_size=(40, 56), short_side=48)
    assert len(ds) == 2
    s = ds[1]
    mm = cv2.imread(str(nyu_csv / "data" / "nyu2_test" / "00001_depth.png"), cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16
    np.testing.assert_allclose(s["depth"][0].numpy(), mm[4:44, 4:60] / 1000.0, rtol=1e-6)
    np.testing.assert_array_equal(s["valid"][0].numpy(), mm[4:44, 4:60] > 1)  # valid: g > min_depth = 1 mm
    np.testing.assert_allclose(_unnormalise(s["image"]), _rgb(21)[4:44, 4:60], atol=1e-3)
    assert s["path"].endswith("00001_colors.png") and s["index"] == 1


def test_csv_train_depth_is_8bit_metres_at_half_size(nyu_csv: Path) -> None:
    ds = NyuCsv(nyu_csv / "data" / "nyu2_train.csv", input_size=(40, 56), short_side=48, augment=False)
    s = ds[2]
    v = cv2.imread(
        str(nyu_csv / "data" / "nyu2_train" / "kitchen_0001" / "2_depth.png"), cv2.IMREAD_UNCHANGED
    )
    assert s["depth"].shape == (1, 20, 28)  # the authors' depth is half the input (114×152 for 228×304)
    np.testing.assert_allclose(s["depth"][0].numpy(), v[4:44:2, 4:60:2] / 255.0 * 10.0, rtol=1e-6)


def test_csv_paths_resolve_from_root_and_errors_name_the_fix(nyu_csv: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere.csv"
    moved.write_text((nyu_csv / "data" / "nyu2_test.csv").read_text())
    with pytest.raises(SourceError, match="pass root="):
        NyuCsv(moved, split="test", input_size=(40, 56), short_side=48)
    ds = dataset_from_spec(f"nyu-csv:{moved}?root={nyu_csv}&short_side=48", split="test", input_size=(40, 56))
    assert isinstance(ds, NyuCsv) and ds[0]["depth"].shape == (1, 40, 56)
    (nyu_csv / "data" / "nyu2_test" / "00000_depth.png").unlink()
    with pytest.raises(SourceError, match=r"00000_depth\.png \(row 1 of .*\) does not exist"):
        ds[0]
    with pytest.raises(ConfigError, match=r"unknown option 'short'.*Did you mean 'short_side'"):
        dataset_from_spec(f"nyu-csv:{moved}?short=48", split="test", input_size=(40, 56))


def test_authors_geometry_and_train_augmentation() -> None:
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    depth = np.full((480, 640), 5.0, np.float32)
    train, test = NyuTransform(train=True, depth_size=(114, 152)), NyuTransform(train=False)
    assert train.short_side == 240 and test.input_size == (228, 304)
    image, d = test(bgr, depth)
    assert image.shape == (3, 228, 304) and d.shape == (1, 228, 304) and bool((d == 5.0).all())
    outs = []
    for seed in (0, 1, 1):
        torch.manual_seed(seed)
        outs.append(train(bgr, depth))
    image, d = outs[0]
    assert image.shape == (3, 228, 304) and d.shape == (1, 114, 152)
    # depth is resampled nearest: every pixel is the true 5 m or the rotation's 0 fill, never a blend
    assert set(torch.unique(d).tolist()) <= {0.0, 5.0}
    assert torch.equal(outs[1][0], outs[2][0]) and torch.equal(outs[1][1], outs[2][1])  # seeded
    assert not torch.equal(outs[0][0], outs[1][0])  # random flip/rotation/lighting/jitter differ


def test_rotation_fill_marks_depth_invalid() -> None:
    bgr = np.zeros((480, 640, 3), np.uint8)
    depth = np.full((480, 640), 3.0, np.float32)
    t = NyuTransform(train=True, depth_size=(228, 304), lighting=0.0, jitter=0.0)
    zeros = 0
    for seed in range(6):
        torch.manual_seed(seed)
        _, d = t(bgr, depth)
        valid = d > 1e-3
        zeros += int((~valid).sum())
        assert bool((d[valid] == 3.0).all())
    assert zeros > 0  # a ±5° rotation leaves filled corners inside the 228×304 crop


def _write_mat(path: Path, images: list[np.ndarray], depths: list[np.ndarray]) -> None:
    h5py = pytest.importorskip("h5py")
    # MATLAB v7.3: HDF5 after a 512-byte user block, arrays stored column-major (seen transposed)
    with h5py.File(path, "w", userblock_size=512) as f:
        f["images"] = np.stack([im.transpose(2, 1, 0) for im in images])  # N×3×W×H
        f["depths"] = np.stack([d.T for d in depths]).astype(np.float32)  # N×W×H


@pytest.fixture
def nyu_mat(tmp_path: Path) -> Path:
    images = [_rgb(40 + i) for i in range(4)]
    depths = [np.random.default_rng(50 + i).uniform(0.5, 9.5, (H, W)).astype(np.float32) for i in range(4)]
    path = tmp_path / "nyu_depth_v2_labeled.mat"
    _write_mat(path, images, depths)
    return path


def test_mat_test_split_from_splits_mat(nyu_mat: Path, tmp_path: Path) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    splits = tmp_path / "splits.mat"
    scipy_io.savemat(str(splits), {"testNdxs": np.array([[4], [2]]), "trainNdxs": np.array([[1], [3]])})
    ds = NyuMat(nyu_mat, split="test", splits=splits, input_size=(40, 56), short_side=48)
    assert ds.indices == [3, 1] and len(ds) == 2  # 1-based in the file, file order kept
    s = ds[0]
    depth = np.random.default_rng(53).uniform(0.5, 9.5, (H, W)).astype(np.float32)
    np.testing.assert_allclose(s["depth"][0].numpy(), depth[4:44, 4:60])
    np.testing.assert_allclose(_unnormalise(s["image"]), _rgb(43)[4:44, 4:60], atol=1e-3)
    assert s["path"] == f"{nyu_mat}#4" and bool(s["valid"].all())
    train = NyuMat(nyu_mat, split="train", splits=splits, input_size=(40, 56), short_side=48, augment=False)
    assert train.indices == [0, 2] and train[1]["depth"].shape == (1, 20, 28)


def test_mat_indices_file_list_and_errors(nyu_mat: Path, tmp_path: Path) -> None:
    listing = tmp_path / "test_ids.txt"
    listing.write_text("3\n1\n")
    ds = dataset_from_spec(
        f"nyu-mat:{nyu_mat}?indices={listing}&short_side=48", split="test", input_size=(40, 56)
    )
    assert isinstance(ds, NyuMat) and ds.indices == [2, 0]
    assert NyuMat(nyu_mat, indices="all", input_size=(40, 56), short_side=48).indices == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match=r"splits=/path/splits\.mat"):
        NyuMat(nyu_mat, input_size=(40, 56))
    with pytest.raises(ConfigError, match=r"holds 4 images; out of range: \[5\]"):
        NyuMat(nyu_mat, indices=[1, 5], input_size=(40, 56))
    not_hdf5 = tmp_path / "old.mat"
    not_hdf5.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(SourceError, match=r"old\.mat is not an HDF5"):
        NyuMat(not_hdf5, indices="all", input_size=(40, 56))


def test_pca_lighting_adds_eigvec_times_alpha_eigval() -> None:
    from depthmask.train.data.transforms import PCA_EIGVAL, PCA_EIGVEC, pca_lighting

    torch.manual_seed(3)
    alpha = (torch.randn(3) * 0.1).double().numpy()
    expected = np.array(PCA_EIGVEC) @ (alpha * np.array(PCA_EIGVAL))  # rgb_i = Σ_j eigvec[i, j]·α_j·λ_j
    torch.manual_seed(3)
    out = pca_lighting(torch.full((3, 2, 2), 0.5))
    np.testing.assert_allclose(out[:, 0, 0].numpy(), 0.5 + expected, rtol=1e-5)
    assert bool((out == out[:, :1, :1]).all())  # one shift per channel, the same for every pixel
    assert torch.equal(pca_lighting(torch.ones(3, 2, 2), alpha_std=0.0), torch.ones(3, 2, 2))
