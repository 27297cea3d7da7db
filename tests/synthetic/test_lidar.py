"""The simulated Velodyne scan and the KITTI-layout drive written with it (2 frames at 64×208)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from depthmask.errors import ConfigError
from depthmask.sources.kitti import read_kitti_timestamps
from depthmask.synthetic import Material, SceneConfig, iter_frames, render_frame
from depthmask.synthetic.lidar import (
    AZIMUTH_STEP_DEG,
    BEAMS,
    BOTTOM_DEG,
    TOP_DEG,
    beam_directions,
    beam_elevations,
    calibration_for,
    scan_from_depth,
)
from depthmask.synthetic.writers import write_kitti_drive

CONFIG = SceneConfig(height=64, width=208, seed=2)
FRAMES = 2


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory):
    return write_kitti_drive(CONFIG, tmp_path_factory.mktemp("kitti"), FRAMES, lidar=True)


def _keys(text: str) -> list[str]:
    return [line.split(":", 1)[0] for line in text.splitlines()]


def test_the_drive_has_scans_timestamps_and_both_calibration_files(drive) -> None:
    scans = drive.drive / "velodyne_points" / "data"
    assert [p.name for p in drive.scans] == ["0000000000.bin", "0000000001.bin"]
    assert all(p.parent == scans for p in drive.scans)
    for frame, path in zip(iter_frames(CONFIG, FRAMES), drive.scans, strict=True):
        stored = np.fromfile(path, "<f4").reshape(-1, 4)
        np.testing.assert_array_equal(stored, scan_from_depth(CONFIG, frame.depth, frame.image))
    stamps = {s: read_kitti_timestamps(scans.parent / f"timestamps{s}.txt") for s in ("", "_start", "_end")}
    assert stamps[""] == read_kitti_timestamps(drive.timestamps)
    np.testing.assert_allclose(np.subtract(stamps["_end"], stamps["_start"]), 0.1, atol=1e-6)
    cam = drive.calibration.read_text()
    assert cam.startswith("calib_time: 26-Sep-2011 12:00:00\ncorner_dist:")
    for c in ("00", "01", "02", "03"):
        block = [f"{k}_{c}" for k in ("S", "K", "D", "R", "T", "S_rect", "R_rect", "P_rect")]
        assert _keys(cam)[2 + 8 * int(c) : 10 + 8 * int(c)] == block
    assert re.search(r"^S_rect_02: 2\.080000e\+02 6\.400000e\+01$", cam, re.M)
    assert re.search(r"^R_rect_00: 9\.999239e-01 9\.837760e-03 ", cam, re.M)  # KITTI's own rectification
    assert drive.velo_calibration == drive.drive.parent / "calib_velo_to_cam.txt"
    velo = drive.velo_calibration.read_text()
    assert _keys(velo) == ["calib_time", "R", "T", "delta_f", "delta_c"]
    assert "T: -4.069766e-03 -7.631618e-02 -2.717806e-01\n" in velo


def test_written_numbers_are_the_ones_the_scan_was_cast_with(drive) -> None:
    cal = calibration_for(CONFIG)
    values = {}
    for line in drive.calibration.read_text().splitlines()[1:]:
        key, _, text = line.partition(":")
        values[key] = np.array(text.split(), float)
    np.testing.assert_array_equal(values["P_rect_02"].reshape(3, 4), cal.p_rect["02"])
    np.testing.assert_array_equal(values["R_rect_00"].reshape(3, 3), cal.r_rect)
    k = CONFIG.intrinsics
    np.testing.assert_allclose(cal.p_rect["02"][:, :3], k.matrix(), rtol=1e-6)
    # camera 2 is KITTI's 6 cm left of camera 0; camera 3 about 0.53 m right of camera 2
    baseline = (cal.p_rect["02"][0, 3] - cal.p_rect["03"][0, 3]) / k.fx
    assert baseline == pytest.approx(0.532, abs=1e-3)


def test_beams_follow_the_hdl64e_layout_and_sweep_the_cameras_view() -> None:
    elevations = beam_elevations()
    assert len(elevations) == BEAMS and elevations[0] == TOP_DEG and elevations[-1] == BOTTOM_DEG
    assert np.all(np.diff(elevations) < 0)
    beams = beam_directions(CONFIG)
    np.testing.assert_allclose(np.linalg.norm(beams, axis=1), 1.0)
    azimuth = np.degrees(np.arctan2(beams[:, 1], beams[:, 0]))
    k = CONFIG.intrinsics
    assert azimuth.max() > np.degrees(np.arctan2(k.cx, k.fx))  # past the image's left edge …
    assert azimuth.min() < -np.degrees(np.arctan2(CONFIG.width - 1 - k.cx, k.fx))  # … and its right edge
    steps = np.diff(np.unique(np.round(azimuth, 6)))
    np.testing.assert_allclose(steps, AZIMUTH_STEP_DEG, atol=1e-6)


def test_every_point_lies_on_a_beam_and_carries_its_pixels_exact_depth() -> None:
    frame = render_frame(CONFIG, 5)
    scan = scan_from_depth(CONFIG, frame.depth, frame.image)
    assert scan.dtype == np.float32 and scan.shape[1] == 4 and len(scan) > 15_000
    x, y, z = scan[:, :3].astype(np.float64).T
    assert np.all(x > 0) and np.all((scan[:, 3] >= 0) & (scan[:, 3] <= 1))
    elevation = np.degrees(np.arctan2(z, np.hypot(x, y)))
    nearest = np.abs(elevation[:, None] - beam_elevations()[None]).min(axis=1)
    assert nearest.max() < 1e-3  # on one of the 64 beams (float32 coordinates)
    assert elevation.max() <= TOP_DEG + 1e-3
    # camera depth of each point = the rendered depth of the pixel it projects to
    project = calibration_for(CONFIG).velo_to_image()
    uvw = scan[:, :3].astype(np.float64) @ project[:, :3].T + project[:, 3]
    col, row = np.round(uvw[:, 0] / uvw[:, 2]).astype(int), np.round(uvw[:, 1] / uvw[:, 2]).astype(int)
    assert col.min() >= 0 and row.min() >= 0 and col.max() < CONFIG.width and row.max() < CONFIG.height
    exact = frame.depth[row, col]
    assert np.all(exact < CONFIG.max_depth)  # no returns from the sky
    np.testing.assert_allclose(uvw[:, 2], exact, rtol=1e-5)
    # points on road pixels lie on the road, camera_height below the camera (y down), to within the half
    # pixel a point may sit from its pixel's centre (where the rendered depth is exact)
    camera = np.linalg.solve(calibration_for(CONFIG).k, uvw.T).T
    road = frame.labels[row, col] == Material.ROAD
    assert road.sum() > 1000
    half_pixel = 0.5 * uvw[road, 2] / CONFIG.intrinsics.fy
    assert np.all(np.abs(camera[road, 1] - CONFIG.camera_height) <= half_pixel + 1e-4)


def test_a_wall_across_the_view_is_hit_where_it_stands() -> None:
    """A hand-made depth image: everything 12 m away. Points then lie on the plane z_cam = 12."""
    depth = np.full((CONFIG.height, CONFIG.width), 12.0, np.float32)
    scan = scan_from_depth(CONFIG, depth)
    assert len(scan) > 10_000 and np.all(scan[:, 3] == 0)  # no image: reflectance 0
    project = calibration_for(CONFIG).velo_to_image()
    w = scan[:, :3].astype(np.float64) @ project[2, :3] + project[2, 3]
    np.testing.assert_allclose(w, 12.0, rtol=1e-6)
    assert len(scan_from_depth(CONFIG, np.full_like(depth, CONFIG.max_depth))) == 0  # all sky


def test_without_lidar_the_drive_is_as_before(tmp_path: Path) -> None:
    drive = write_kitti_drive(CONFIG, tmp_path, 1)
    assert drive.scans == () and drive.velo_calibration is None
    assert not (drive.drive / "velodyne_points").exists()
    assert drive.calibration.read_text().startswith("S_02:")
    with pytest.raises(ConfigError, match="lidar='yes' must be true or false"):
        write_kitti_drive(CONFIG, tmp_path, 1, lidar="yes")
