"""The procedural scene: deterministic by seed, frame-order independent, geometrically exact depth."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from depthmask.errors import ConfigError
from depthmask.synthetic import Material, SceneConfig, iter_frames, render_frame
from depthmask.synthetic.layout import EGO_X, ROAD_HALF_M, boxes_near, lanes
from depthmask.synthetic.scene import NEAR_M

SMALL = {"height": 64, "width": 208}


def test_same_seed_same_frame_and_other_seed_other_frame() -> None:
    a = render_frame(SceneConfig(**SMALL, seed=4), 12)
    b = render_frame(SceneConfig(**SMALL, seed=4), 12)
    c = render_frame(SceneConfig(**SMALL, seed=5), 12)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert np.mean(a.image != c.image) > 0.2
    assert np.mean(a.depth != c.depth) > 0.1


def test_outputs_have_the_documented_types_and_ranges() -> None:
    config = SceneConfig(**SMALL, seed=1)
    frame = render_frame(config, 3)
    assert frame.image.shape == (64, 208, 3) and frame.image.dtype == np.uint8
    assert frame.depth.shape == (64, 208) and frame.depth.dtype == np.float32
    assert frame.labels.shape == (64, 208) and frame.labels.dtype == np.uint8
    assert frame.index == 3 and frame.timestamp == pytest.approx(0.3)
    assert np.all(frame.depth > 0) and np.all(frame.depth <= config.max_depth)
    assert set(np.unique(frame.labels)) <= {int(m) for m in Material}


def test_frame_rendered_alone_in_a_fresh_process_equals_the_same_frame_of_a_sequence(tmp_path) -> None:
    config = SceneConfig(**SMALL, seed=11, traffic=1.0)
    sequence = list(iter_frames(config, 8))
    out = tmp_path / "alone.npz"
    code = (
        "import numpy as np; from depthmask.synthetic import SceneConfig, render_frame;"
        f"f = render_frame(SceneConfig(height=64, width=208, seed=11, traffic=1.0), 7);"
        f"np.savez({str(out)!r}, image=f.image, depth=f.depth)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    alone = np.load(out)
    np.testing.assert_array_equal(alone["image"], sequence[7].image)
    np.testing.assert_array_equal(alone["depth"], sequence[7].depth)
    assert [f.index for f in iter_frames(config, 3, start=5)] == [5, 6, 7]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_road_depth_is_the_ground_plane_and_grows_towards_the_horizon(seed: int) -> None:
    config = SceneConfig(**SMALL, seed=seed)
    k = config.intrinsics
    frame = render_frame(config, 40)
    col = round(k.cx)
    # Bottom rows in the middle are road, a few metres away.
    assert np.all(frame.labels[-6:, col - 10 : col + 10] == Material.ROAD)
    assert 2.0 < frame.depth[-1, col] < 8.0
    # Walking up the centre column while it is road: exactly the ground plane, depth rising.
    rows = []
    for row in range(config.height - 1, -1, -1):
        if frame.labels[row, col] != Material.ROAD:
            break
        rows.append(row)
    assert len(rows) > 10
    depth = frame.depth[rows, col]
    expected = config.camera_height * k.fy / (np.array(rows) - k.cy)
    np.testing.assert_allclose(depth, expected, rtol=1e-4)
    assert np.all(np.diff(depth) > 0)


def _reference_depth(config: SceneConfig, index: int) -> np.ndarray:
    """Brute force: every ray against the road plane and every box (slab test), nearest hit wins."""
    k = config.intrinsics
    rows, cols = np.mgrid[0 : config.height, 0 : config.width].astype(np.float64)
    d = np.stack([(cols - k.cx) / k.fx, -(rows - k.cy) / k.fy, np.ones_like(rows)], axis=-1)[..., None, :]
    camera = np.array([EGO_X, config.camera_height, config.camera_z(index)])
    boxes = boxes_near(config, camera[2], config.timestamp(index))
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (boxes.lo - camera) / d, (boxes.hi - camera) / d  # (H, W, boxes, 3)
        enter = np.minimum(t1, t2).max(axis=-1)
        leave = np.maximum(t1, t2).min(axis=-1)
        road = np.where(d[..., 0, 1] < 0, -config.camera_height / d[..., 0, 1], np.inf)
    hit = (leave >= enter) & (enter >= NEAR_M)
    nearest = np.where(hit, enter, np.inf).min(axis=-1)
    return np.minimum(np.minimum(nearest, road), config.max_depth)


@pytest.mark.parametrize(("seed", "index"), [(0, 0), (1, 33), (4, 120), (7, 5000)])
def test_depth_equals_a_brute_force_ray_box_reference(seed: int, index: int) -> None:
    config = SceneConfig(**SMALL, seed=seed, traffic=1.0)
    depth = render_frame(config, index).depth
    reference = _reference_depth(config, index)
    close = np.isclose(depth, reference, rtol=1e-4, atol=1e-4)
    assert np.mean(close) > 0.999, f"{np.sum(~close)} pixels differ"  # leeway for exact face edges


def test_sky_is_at_max_depth_and_above_the_horizon() -> None:
    config = SceneConfig(**SMALL, seed=2, max_depth=60.0)
    frame = render_frame(config, 0)
    sky = frame.labels == Material.SKY
    assert sky[0, round(config.intrinsics.cx)]  # straight up the middle: sky
    assert np.all(frame.depth[sky] == np.float32(60.0))
    assert np.all(frame.depth[~sky] < 60.0)
    # Below the horizon every ray meets the road; only where that is beyond max_depth is it sky.
    k = config.intrinsics
    road_beyond_cap = np.arange(config.height) - k.cy <= config.camera_height * k.fy / 60.0
    assert not sky[~road_beyond_cap].any()
    assert frame.image[sky].mean() > frame.image[frame.labels == Material.ROAD].mean()


def test_scene_has_facades_at_the_sides_and_vehicles_on_the_road() -> None:
    config = SceneConfig(height=128, width=416, seed=0, traffic=1.0)
    labels = np.stack([render_frame(config, i).labels for i in (0, 25, 50)])
    third, top = config.width // 3, config.height // 2
    sides = np.concatenate([labels[:, :top, :third], labels[:, :top, -third:]])
    assert np.mean(np.isin(sides, [Material.BUILDING, Material.WALL, Material.VEGETATION])) > 0.3
    assert np.mean(labels == Material.VEHICLE) > 0.02
    assert np.mean(labels == Material.PAVEMENT) > 0.01


def _lone_parked_car(config: SceneConfig) -> int | None:
    """A box of a car parked on the right 6-30 m ahead with nothing parked between it and the camera."""
    boxes = boxes_near(config, 0.0, 0.0)
    right = (boxes.material == Material.VEHICLE) & (boxes.lo[:, 0] > ROAD_HALF_M - 2.5)
    for i in np.flatnonzero(right & (boxes.lo[:, 1] == 0) & (boxes.lo[:, 2] > 6) & (boxes.lo[:, 2] < 30)):
        between = right & (boxes.hi[:, 2] > 0) & (boxes.lo[:, 2] < boxes.lo[i, 2])
        if not between.any():
            return int(i)
    return None


def test_depth_of_a_parked_car_shrinks_by_the_distance_driven() -> None:
    configs = (SceneConfig(**SMALL, seed=seed, traffic=0.6, speed=8.0) for seed in range(30))
    config, i = next((c, i) for c in configs if (i := _lone_parked_car(c)) is not None)
    k = config.intrinsics
    boxes = boxes_near(config, 0.0, 0.0)
    centre_x = (boxes.lo[i, 0] + boxes.hi[i, 0]) / 2
    for index in (0, 1, 2):
        z = boxes.lo[i, 2] - config.camera_z(index)  # the rear face, relative to the camera
        col = round(k.cx + k.fx * (centre_x - 1.75) / z)
        row = round(k.cy - k.fy * (0.45 - config.camera_height) / z)  # 0.45 m up the rear face
        frame = render_frame(config, index)
        assert frame.labels[row, col] == Material.VEHICLE
        assert frame.depth[row, col] == pytest.approx(z, rel=1e-5)


def test_the_car_ahead_pulls_away_at_its_lane_speed() -> None:
    def lead_car(config: SceneConfig) -> int | None:
        boxes = boxes_near(config, 0.0, 0.0)
        ahead = (boxes.material == Material.VEHICLE) & (np.abs(boxes.lo[:, 0] - 0.85) < 0.3)
        ahead &= (boxes.lo[:, 1] == 0) & (boxes.lo[:, 2] < 40)
        return int(np.flatnonzero(ahead)[np.argmin(boxes.lo[ahead, 2])]) if ahead.any() else None

    configs = (SceneConfig(**SMALL, seed=seed, traffic=1.0) for seed in range(30))
    config, i = next((c, i) for c in configs if (i := lead_car(c)) is not None)
    k = config.intrinsics
    lead_speed = lanes(config.seed, config.speed)[2].speed
    assert lead_speed > config.speed
    z0 = boxes_near(config, 0.0, 0.0).lo[i, 2]
    for index in (0, 5, 10):
        z = z0 + (lead_speed - config.speed) * config.timestamp(index)
        row = round(k.cy - k.fy * (0.45 - config.camera_height) / z)
        frame = render_frame(config, index)
        assert frame.labels[row, round(k.cx)] == Material.VEHICLE
        assert frame.depth[row, round(k.cx)] == pytest.approx(z, rel=1e-5)


def test_ego_motion_changes_the_image_but_not_the_road_geometry() -> None:
    config = SceneConfig(**SMALL, seed=3, traffic=0.0)
    f0, f1 = render_frame(config, 0), render_frame(config, 1)
    road = (f0.labels == Material.ROAD) & (f1.labels == Material.ROAD)
    assert road.mean() > 0.2
    np.testing.assert_array_equal(f0.depth[road], f1.depth[road])  # a flat road looks the same
    assert np.mean(f0.image[road] != f1.image[road]) > 0.2  # but its texture flows past
    assert np.mean(f0.depth != f1.depth) > 0.05  # and the roadside comes closer


def test_a_parked_camera_sees_only_the_traffic_move() -> None:
    still = SceneConfig(**SMALL, seed=8, speed=0.0, traffic=0.0)
    np.testing.assert_array_equal(render_frame(still, 0).image, render_frame(still, 30).image)
    busy = SceneConfig(**SMALL, seed=8, speed=0.0, traffic=1.0)
    a, b = render_frame(busy, 0), render_frame(busy, 30)
    changed = np.any(a.image != b.image, axis=2)
    assert changed.any()
    vehicle = (a.labels == Material.VEHICLE) | (b.labels == Material.VEHICLE)
    assert np.all(vehicle[changed])


def test_intrinsics_have_kitti_proportions() -> None:
    k = SceneConfig().intrinsics
    assert k.fx == k.fy == pytest.approx(0.581 * 832, rel=1e-3)
    assert k.cx == pytest.approx(0.4908 * 832, rel=1e-3) and k.cy == pytest.approx(0.461 * 256, rel=1e-3)
    assert k.matrix().shape == (3, 3) and k.matrix()[2, 2] == 1.0


@pytest.mark.parametrize("size", [(16, 16), (32, 48), (48, 64), (75, 249), (64, 208)])
def test_small_and_odd_sizes_render_without_numeric_warnings(size: tuple[int, int]) -> None:
    config = SceneConfig(height=size[0], width=size[1], seed=9, traffic=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for index in (0, 7, 10**6):
            frame = render_frame(config, index)
            assert frame.image.shape == (*size, 3)
            assert np.all(np.isfinite(frame.depth)) and np.all(frame.depth > 0)


def test_fog_off_and_camera_height_change_what_is_drawn() -> None:
    base = SceneConfig(**SMALL, seed=1)
    clear = render_frame(SceneConfig(**SMALL, seed=1, fog=False), 5)
    assert not np.array_equal(render_frame(base, 5).image, clear.image)
    high = render_frame(SceneConfig(**SMALL, seed=1, camera_height=3.0), 5)
    assert high.depth[-1, 104] == pytest.approx(3.0 / 1.65 * render_frame(base, 5).depth[-1, 104], rel=1e-4)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"height": 8}, "height=8 is too small"),
        ({"width": 10.5}, "width=10.5"),
        ({"fps": 0}, "fps=0 must be a positive number"),
        ({"fps": -5.0}, "fps=-5.0"),
        ({"speed": -1}, "speed=-1"),
        ({"max_depth": 300.0}, "max_depth=300.0 .*65535/256"),
        ({"seed": -1}, "seed=-1"),
        ({"traffic": 2}, "traffic=2"),
        ({"camera_height": 0.0}, "camera_height=0.0"),
        ({"fog": "yes"}, "fog='yes'"),
        ({"seed": "abc"}, "seed='abc'"),
    ],
)
def test_bad_settings_raise_config_errors_naming_the_value(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SceneConfig(**options)


def test_bad_frame_index_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="index -1"):
        render_frame(SceneConfig(**SMALL), -1)
    with pytest.raises(ConfigError, match="count -2"):
        iter_frames(SceneConfig(**SMALL), -2)
    with pytest.raises(ConfigError, match="start frame -1"):
        iter_frames(SceneConfig(**SMALL), 2, start=-1)


def test_the_renderer_and_writers_do_not_import_torch() -> None:
    code = "import sys, depthmask.synthetic.scene, depthmask.synthetic.writers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"
