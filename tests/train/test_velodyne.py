"""Velodyne ground truth: the calibration parser, the Eigen projection rule, and `gt=velodyne` end to end.

The end-to-end half reads a synthetic drive written with a simulated 64-beam scan (2 frames, 64×208):
projected in camera depth, every point must give the renderer's exact depth of the pixel P_rect_02 puts it
in — which, by the Eigen tools' "round − 1" convention, is one row and one column below and right of the
pixel it is stored at.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depthmask.errors import ConfigError, SourceError
from depthmask.synthetic import SceneConfig, iter_frames
from depthmask.synthetic.lidar import calibration_for
from depthmask.synthetic.writers import write_kitti_drive
from depthmask.train.data import dataset_from_spec
from depthmask.train.data.velodyne import (
    VeloProjection,
    depth_map_from_scan,
    load_projection,
    projection_from_calibration,
    read_calibration,
    read_scan,
)
from depthmask.train.evaluate import EvalConfig, evaluate
from depthmask.train.metrics import crop_mask

CONFIG = SceneConfig(height=64, width=208, seed=2)
FRAMES = 2


# -- the rule on hand-made scans -----------------------------------------------------------------------

# Velodyne (x forward, y left, z up) → camera (x right, y down, z forward), the camera 0.25 m ahead.
_AXES = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
_K = np.array([[100.0, 0.0, 15.0], [0.0, 100.0, 10.0], [0.0, 0.0, 1.0]])


def _projection(shift: float = -0.25) -> VeloProjection:
    velo = np.eye(4)
    velo[:3, :3], velo[2, 3] = _AXES, shift
    return VeloProjection(np.hstack([_K, np.zeros((3, 1))]) @ velo, (20, 30), "image_02", "hand-made")


def _point(u: float, v: float, w: float, shift: float = -0.25) -> list[float]:
    """The Velodyne point that `_projection(shift)` sends to pixel coordinates (u, v) at camera depth w."""
    x_cam, y_cam = (u - 15.0) * w / 100.0, (v - 10.0) * w / 100.0
    return [w - shift, -x_cam, -y_cam, 0.5]


def test_the_nearest_point_of_a_pixel_wins_and_pixels_are_round_minus_one() -> None:
    scan = np.array([_point(10.2, 5.4, 12.0), _point(9.8, 4.6, 7.0), _point(20.0, 12.0, 30.0)], np.float32)
    lidar = depth_map_from_scan(scan, _projection())
    assert lidar.shape == (20, 30) and lidar.dtype == np.float32
    # both points round to (u, v) = (10, 5), stored at column 9, row 4; the nearer one is kept
    assert lidar[4, 9] == pytest.approx(7.25) and lidar[11, 19] == pytest.approx(30.25)
    assert np.count_nonzero(lidar) == 2
    camera = depth_map_from_scan(scan, _projection(), depth="camera")  # w instead of the Velodyne's x
    assert camera[4, 9] == pytest.approx(7.0) and camera[11, 19] == pytest.approx(30.0)
    # halves round to even, as numpy's round does in the standard code: 10.5 → 10, 11.5 → 12
    halves = np.array([_point(10.5, 5.0, 100.0, 0.0), _point(11.5, 7.0, 100.0, 0.0)])  # exact in binary
    got = depth_map_from_scan(halves, _projection(shift=0.0))
    assert np.flatnonzero(got[4]).tolist() == [9] and np.flatnonzero(got[6]).tolist() == [11]


def test_points_behind_the_velodyne_or_the_camera_and_outside_the_image_are_dropped() -> None:
    ahead = _point(10.0, 5.0, 8.0)
    behind = [-v for v in ahead[:3]] + [0.5]  # x < 0: mirrored, it would project to the same pixel
    between = [0.1, 0.0, 0.0, 0.5]  # ahead of the Velodyne, 0.15 m behind the camera (w < 0)
    outside = _point(40.0, 5.0, 8.0)  # right of the 30-pixel image
    scan = np.array([behind, between, outside], np.float32)
    assert not depth_map_from_scan(scan, _projection()).any()
    scan = np.array([behind, ahead, between, outside], np.float32)
    got = depth_map_from_scan(scan, _projection())
    assert np.count_nonzero(got) == 1 and got[4, 9] == pytest.approx(8.25)
    assert not depth_map_from_scan(np.zeros((0, 4), np.float32), _projection()).any()


def _standard(points: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The Eigen tools' procedure step by step (vel_depth=True), duplicates found by their `sub2ind`."""
    height, width = shape
    velo = points[points[:, 0] >= 0].astype(np.float64)
    velo[:, 3] = 1.0
    im = velo @ matrix.T
    im[:, :2] /= im[:, 2:3]
    im[:, 2] = velo[:, 0]
    im[:, :2] = np.round(im[:, :2]) - 1
    im = im[(im[:, 0] >= 0) & (im[:, 1] >= 0) & (im[:, 0] < width) & (im[:, 1] < height)]
    depth = np.zeros(shape)
    rows, cols = im[:, 1].astype(int), im[:, 0].astype(int)
    depth[rows, cols] = im[:, 2]
    index = rows * (width - 1) + cols - 1  # merges (r, W − 1) with (r + 1, 0)
    values, counts = np.unique(index, return_counts=True)
    for dupe in values[counts > 1]:
        at = np.flatnonzero(index == dupe)
        depth[rows[at[0]], cols[at[0]]] = im[at, 2].min()
    depth[depth < 0] = 0
    return depth


def test_the_map_is_the_standard_codes_inside_its_first_and_last_column() -> None:
    projection = _projection()
    rng = np.random.default_rng(0)
    w = rng.uniform(1.0, 40.0, 3000)
    uv = rng.uniform(-5.0, 35.0, (3000, 2))  # dense enough that many pixels get several points
    scan = np.array([_point(u, v, d) for (u, v), d in zip(uv, w, strict=True)], np.float32)
    scan = np.vstack([scan, -scan[:200] * [1, 1, 1, -1]])  # and points behind, which both drop
    ours = depth_map_from_scan(scan, projection)
    standard = _standard(scan, projection.matrix, (20, 30))
    np.testing.assert_allclose(ours[:, 1:-1], standard[:, 1:-1], rtol=1e-6)
    assert np.count_nonzero(ours[:, 1:-1]) > 400


CAM_TO_CAM = """calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02

S_rect_02: 3.000000e+01 2.000000e+01
R_rect_00: 1 0 0 0 1 0 0 0 1
P_rect_02: 1.000000e+02 0 1.500000e+01 0 0 1.000000e+02 1.000000e+01 0 0 0 1 0
"""
VELO_TO_CAM = """calib_time: 15-Mar-2012 11:37:16
R: 0 -1 0 0 0 -1 1 0 0
T: 0.000000e+00 0.000000e+00 -2.500000e-01
delta_f: 0.000000e+00 0.000000e+00
"""


def test_calibration_files_parse_into_the_projection(tmp_path: Path) -> None:
    (tmp_path / "calib_cam_to_cam.txt").write_text(CAM_TO_CAM)
    (tmp_path / "calib_velo_to_cam.txt").write_text(VELO_TO_CAM)
    cam = read_calibration(tmp_path / "calib_cam_to_cam.txt")
    assert cam["calib_time"] == "09-Jan-2012 13:57:47" and cam["corner_dist"].tolist() == [0.0995]
    assert cam["S_rect_02"].tolist() == [30.0, 20.0] and cam["P_rect_02"].shape == (12,)
    projection = load_projection(tmp_path)
    np.testing.assert_allclose(projection.matrix, _projection().matrix)
    assert projection.size == (20, 30) and projection.camera == "image_02"
    (tmp_path / "calib_cam_to_cam.txt").write_text(CAM_TO_CAM + "no colon here\n")
    with pytest.raises(SourceError, match=r"calib_cam_to_cam\.txt:7: 'no colon here' is not a 'key: values'"):
        read_calibration(tmp_path / "calib_cam_to_cam.txt")
    with pytest.raises(SourceError, match="P_rect_03 is missing; KITTI's file gives 12 numbers"):
        projection_from_calibration(
            read_calibration(tmp_path / "calib_velo_to_cam.txt") | cam, {}, "image_03"
        )
    with pytest.raises(SourceError, match=r"T has 2 values.*Did you mean 'T'"):
        projection_from_calibration(cam, {"R": np.eye(3).ravel(), "T": np.zeros(2)})
    (tmp_path / "calib_velo_to_cam.txt").unlink()
    with pytest.raises(SourceError, match=r"has no calib_velo_to_cam\.txt"):
        load_projection(tmp_path)
    bad = tmp_path / "cut.bin"
    bad.write_bytes(b"\0" * 20)
    with pytest.raises(SourceError, match="20 bytes, not a whole number of 16-byte points"):
        read_scan(bad)


# -- a synthetic drive with a simulated scan -----------------------------------------------------------


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory):
    return write_kitti_drive(CONFIG, tmp_path_factory.mktemp("kitti"), FRAMES, lidar=True)


def _relative_errors(gt: np.ndarray, exact: np.ndarray, shift: int) -> np.ndarray:
    rows, cols = np.nonzero(gt)
    keep = (rows + shift < gt.shape[0]) & (cols + shift < gt.shape[1])
    rows, cols = rows[keep], cols[keep]
    truth = exact[rows + shift, cols + shift].astype(np.float64)
    return np.abs(gt[rows, cols] - truth) / truth


def test_projected_scans_give_the_renderers_exact_depth(drive) -> None:
    projection = load_projection(drive.drive.parent)
    assert projection.size == (CONFIG.height, CONFIG.width)
    cal = calibration_for(CONFIG)
    for frame, path in zip(iter_frames(CONFIG, FRAMES), drive.scans, strict=True):
        scan = read_scan(path)
        assert len(scan) > 15_000  # about 18.8k points: 45 of the 64 beams reach this camera's view
        camera = depth_map_from_scan(scan, projection, depth="camera")
        assert np.count_nonzero(camera) > 0.4 * camera.size  # 64×208 pixels are coarse: most rows hit
        # one row and column below-right of where "round − 1" stores them: the exact depth, to float32
        assert np.median(_relative_errors(camera, frame.depth, 1)) < 1e-6
        assert _relative_errors(camera, frame.depth, 1).max() < 1e-5
        assert np.median(_relative_errors(camera, frame.depth, 0)) > 0.01  # the shift is real
        # the standard depth is the Velodyne's x: the exact surface point's x, 0.27 m behind the camera
        lidar = depth_map_from_scan(scan, projection)
        rows, cols = np.nonzero(lidar)
        w = frame.depth[rows + 1, cols + 1].astype(np.float64)
        pixels = np.stack([(cols + 1) * w, (rows + 1) * w, w])  # rows + 1 < 64: the top beam is below
        velo = np.linalg.solve(cal.velo_to_image()[:, :3], pixels - cal.velo_to_image()[:, 3:])
        x_error = np.abs(lidar[rows, cols] - velo[0]) / velo[0]
        assert np.median(x_error) < 1e-4 and x_error.max() < 2e-3
        assert 0.25 < np.median(lidar[rows, cols] - camera[rows, cols]) < 0.31


def test_the_dataset_reads_a_drive_folder_with_gt_velodyne(drive) -> None:
    ds = dataset_from_spec(f"kitti:{drive.drive}?gt=velodyne", split="test", input_size=(32, 104))
    assert ds.gt == "velodyne" and [e.frame for e in ds.entries] == ["0000000000", "0000000001"]
    assert ds.raw == drive.drive.parent.parent.resolve()
    projection = load_projection(drive.drive.parent)
    sample = ds[1]
    expected = depth_map_from_scan(read_scan(drive.scans[1]), projection)
    assert sample["image"].shape == (3, 32, 104) and sample["depth"].shape == (1, CONFIG.height, CONFIG.width)
    np.testing.assert_array_equal(sample["depth"][0].numpy(), expected)
    garg = crop_mask(CONFIG.height, CONFIG.width, "garg").numpy()
    np.testing.assert_array_equal(sample["valid"][0].numpy(), (expected > 1e-3) & (expected < 80.0) & garg)
    assert sample["depth_path"].endswith("velodyne_points/data/0000000001.bin")
    train = dataset_from_spec(f"kitti:{drive.drive}?gt=velodyne", input_size=(32, 104), augment=False)
    assert train[0]["depth"].shape == (1, 32, 104)  # training: resized nearest to the input


def test_an_eigen_split_file_over_the_raw_root(drive, tmp_path: Path) -> None:
    root = drive.drive.parent.parent
    name = f"{drive.drive.parent.name}/{drive.drive.name}"
    listing = tmp_path / "eigen_test_files.txt"
    listing.write_text(f"{name} 1 l\n{name} 0000000000 l\n{name} 0000000007 l\n")  # frame 7 has no scan
    ds = dataset_from_spec(f"kitti:{root}?gt=velodyne&split={listing}", split="test", input_size=(32, 104))
    assert [e.frame for e in ds.entries] == ["0000000001", "0000000000"]
    assert ds.skipped == [(f"{name} 0000000007 image_02", "no velodyne scan")]
    assert ds.eval_crop == "garg" and ds.max_depth == 80.0
    every = dataset_from_spec(f"kitti:{root}?gt=velodyne", split="test", input_size=(32, 104))
    assert len(every) == FRAMES  # no split file: every scan of every drive under the root


def test_gt_option_errors_name_the_fix(drive, tmp_path: Path) -> None:
    spec = f"kitti:{drive.drive}"
    with pytest.raises(ConfigError, match=r"gt='velodine' is not one of annotated, velodyne\. Did you mean"):
        dataset_from_spec(f"{spec}?gt=velodine", input_size=(32, 104))
    with pytest.raises(ConfigError, match="depth= names the annotated depth release"):
        dataset_from_spec(f"{spec}?gt=velodyne&depth={tmp_path}", input_size=(32, 104))
    with pytest.raises(SourceError, match="no KITTI Velodyne scans under"):
        dataset_from_spec(f"kitti:{tmp_path}?gt=velodyne", input_size=(32, 104))


def test_eval_records_the_velodyne_ground_truth(drive, tmp_path: Path) -> None:
    torch.manual_seed(0)
    res = evaluate(
        EvalConfig(
            data=f"kitti:{drive.drive}?gt=velodyne",
            depth_network="hu2019_tiny",
            input_size=(64, 96),
            device="cpu",
            out=tmp_path,
        )
    )
    original = res.condition("original")
    assert original.images == FRAMES and original.metrics["rmse"] > 0 and 0 <= original.metrics["delta1"] <= 1
    doc = json.loads(res.files["json"].read_text())
    assert doc["effective"]["gt"] == "velodyne" and doc["effective"]["dataset"] == "KittiDepth"
    assert doc["effective"]["metric_settings"]["crop"] == "garg"
