"""Write a synthetic drive to disk: the KITTI raw + annotated-depth layout, or an .mp4 video.

KITTI layout (spec/training.md, "KITTI formats"), both under one `root` so `kitti:<root>` reads it:

    <root>/<date>/<date>_drive_<NNNN>_sync/image_02/data/<10-digit index>.png   BGR frames
    <root>/<date>/<date>_drive_<NNNN>_sync/image_02/timestamps.txt   'YYYY-MM-DD HH:MM:SS.fffffffff'
    <root>/<date>/calib_cam_to_cam.txt                               S_02, K_02, S_rect_02, P_rect_02 only
    <root>/<split>/<date>_drive_<NNNN>_sync/proj_depth/groundtruth/image_02/<10-digit index>.png
        uint16, value = round(metres × 256), 0 = no measurement (sky, haze and unsampled pixels)

With `lidar=True` also a simulated Velodyne scan per frame and the calibration that goes with it
(`depthmask.synthetic.lidar`), so `kitti:<drive>?gt=velodyne` reads the drive as KITTI's raw scans:

    <root>/<date>/<date>_drive_<NNNN>_sync/velodyne_points/data/<10-digit index>.bin   float32 x, y, z, r
    <root>/<date>/<date>_drive_<NNNN>_sync/velodyne_points/timestamps{,_start,_end}.txt
    <root>/<date>/calib_cam_to_cam.txt     every camera's S, K, D, R, T, S_rect, R_rect, P_rect (00 … 03)
    <root>/<date>/calib_velo_to_cam.txt    R, T (Velodyne → camera 0), delta_f, delta_c
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum
from numbers import Integral
from pathlib import Path

import cv2
import numpy as np

from depthmask.errors import ConfigError, OutputError
from depthmask.synthetic import lidar as lidar_scan
from depthmask.synthetic.config import SceneConfig
from depthmask.synthetic.scene import iter_frames

DEPTH_SCALE = 256.0  # KITTI: metres = value / 256
DEFAULT_KEEP = 0.07  # share of pixels a sparse ground truth keeps (projected LiDAR covers about 5–10 %)
LIDAR_TOP_DEG = lidar_scan.TOP_DEG  # an HDL-64E sees at most 2° above horizontal: no returns above
_SPARSE = 4  # stream tag for the ground-truth sampling, apart from the scene's own streams


class DepthPattern(str, Enum):
    """Which pixels of the exact depth the written ground truth keeps."""

    DENSE = "dense"  # every pixel with a surface nearer than max_depth
    RANDOM = "random"  # a random `keep` share of pixels, new draw per frame
    SCANLINES = "scanlines"  # every 4th row below the LiDAR's top beam, points spaced along each row


@dataclass(frozen=True)
class KittiDrive:
    """What `write_kitti_drive` wrote."""

    drive: Path  # <root>/<date>/<date>_drive_<NNNN>_sync
    images: tuple[Path, ...]
    timestamps: Path
    depths: tuple[Path, ...]
    calibration: Path  # calib_cam_to_cam.txt
    scans: tuple[Path, ...] = ()  # velodyne_points/data/*.bin (lidar=True only)
    velo_calibration: Path | None = None  # calib_velo_to_cam.txt (lidar=True only)


def kitti_depth_from_metres(
    depth: np.ndarray, max_depth: float, keep: np.ndarray | None = None
) -> np.ndarray:
    """uint16 KITTI depth: round(metres × 256); 0 where depth ≥ max_depth (sky), not finite or not kept."""
    valid = np.isfinite(depth) & (depth > 0) & (depth < max_depth)
    if keep is not None:
        valid &= keep
    out = np.zeros(depth.shape, np.uint16)
    out[valid] = np.minimum(np.rint(depth[valid] * DEPTH_SCALE), 65535).astype(np.uint16)
    return out


def sample_mask(
    config: SceneConfig, index: int, pattern: DepthPattern | str, keep: float = DEFAULT_KEEP
) -> np.ndarray | None:
    """The pixels a sparse ground truth keeps for frame `index` (None: all); deterministic by seed, index."""
    kind = DepthPattern(pattern)
    if kind is DepthPattern.DENSE:
        return None
    shape = (config.height, config.width)
    rng = np.random.default_rng([config.seed, _SPARSE, index])
    if kind is DepthPattern.RANDOM:
        return rng.random(shape) < keep
    rows_step = 4
    cols_step = max(1, round(1 / (keep * rows_step)))
    k = config.intrinsics
    top = k.cy - k.fy * np.tan(np.radians(LIDAR_TOP_DEG))
    mask = np.zeros(shape, bool)
    first = int(max(0, np.ceil(top))) + int(rng.integers(rows_step))
    for row in range(first, config.height, rows_step):  # one step per scan line, not per pixel
        mask[row, int(rng.integers(cols_step)) :: cols_step] = True
    return mask


def kitti_timestamp(date: str, seconds: float) -> str:
    """'YYYY-MM-DD HH:MM:SS.fffffffff' for `seconds` after noon (UTC) of `date` ('YYYY_MM_DD')."""
    noon = _parse_date(date) + dt.timedelta(hours=12)
    nanos = round(seconds * 1e9)
    whole, frac = divmod(nanos, 10**9)
    return f"{noon + dt.timedelta(seconds=whole):%Y-%m-%d %H:%M:%S}.{frac:09d}"


def write_kitti_drive(
    config: SceneConfig,
    root: Path | str,
    count: int,
    *,
    start: int = 0,
    date: str = "2011_09_26",
    drive: int = 1,
    split: str = "train",
    pattern: DepthPattern | str = DepthPattern.DENSE,
    keep: float = DEFAULT_KEEP,
    lidar: bool = False,
) -> KittiDrive:
    """Render frames start … start+count−1 and write them in the KITTI raw + annotated-depth layout.

    Timestamps start at noon of `date` and step by 1/fps. `pattern` and `keep` choose dense or
    LiDAR-like sparse ground truth; sky and anything at max_depth are always 0 (no measurement).
    `lidar` adds a simulated Velodyne scan per frame and the full KITTI calibration (module docstring).
    """
    _parse_date(date)
    if not isinstance(count, Integral) or count < 1:
        raise ConfigError(f"frame count {count!r} must be a positive integer, e.g. 100")
    if not isinstance(drive, Integral) or not 0 <= drive <= 9999:
        raise ConfigError(f"drive number {drive!r} must lie in 0 … 9999 (it is written as 4 digits)")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", split):
        raise ConfigError(f"split {split!r} must be a plain folder name such as 'train' or 'val'")
    try:
        chosen = DepthPattern(pattern)
    except ValueError:
        choices = ", ".join(p.value for p in DepthPattern)
        raise ConfigError(f"depth pattern {pattern!r} is not one of {choices}") from None
    if not 0 < keep <= 1:
        raise ConfigError(f"keep={keep!r} must lie in (0, 1]: the share of pixels sparse ground truth keeps")
    if not isinstance(lidar, (bool, np.bool_)):
        raise ConfigError(f"lidar={lidar!r} must be true or false")

    root = Path(root)
    name = f"{date}_drive_{drive:04d}_sync"
    drive_dir = root / date / name
    image_dir = drive_dir / "image_02" / "data"
    depth_dir = root / split / name / "proj_depth" / "groundtruth" / "image_02"
    scan_dir = drive_dir / "velodyne_points" / "data"
    for folder in (image_dir, depth_dir, *([scan_dir] if lidar else [])):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {folder}: {exc.strerror}; choose a writable root") from None

    calibration_rig = lidar_scan.calibration_for(config) if lidar else None
    images, depths, scans, stamps = [], [], [], []
    for frame in iter_frames(config, count, start):
        stem = f"{frame.index:010d}.png"
        images.append(_imwrite(image_dir / stem, frame.image))
        keep_mask = sample_mask(config, frame.index, chosen, keep)
        encoded = kitti_depth_from_metres(frame.depth, config.max_depth, keep_mask)
        depths.append(_imwrite(depth_dir / stem, encoded))
        stamps.append(kitti_timestamp(date, frame.timestamp))
        if calibration_rig is not None:
            points = lidar_scan.scan_from_depth(config, frame.depth, frame.image, calibration_rig)
            scans.append(_write_scan(scan_dir / f"{frame.index:010d}.bin", points))
    timestamps = drive_dir / "image_02" / "timestamps.txt"
    timestamps.write_text("\n".join(stamps) + "\n")
    calibration = root / date / "calib_cam_to_cam.txt"
    if calibration_rig is None:
        calibration.write_text(_calibration(config))
        return KittiDrive(drive_dir, tuple(images), timestamps, tuple(depths), calibration)
    when = lidar_scan.calib_time(date)
    calibration.write_text(calibration_rig.cam_to_cam_text(when))
    velo_calibration = root / date / "calib_velo_to_cam.txt"
    velo_calibration.write_text(calibration_rig.velo_to_cam_text(when))
    half_turn = 0.5 / config.fps  # the sweep that ends as the camera fires
    for suffix, shift in (("", 0.0), ("_start", -half_turn), ("_end", half_turn)):
        lines = [kitti_timestamp(date, config.timestamp(i) + shift) for i in range(start, start + count)]
        (scan_dir.parent / f"timestamps{suffix}.txt").write_text("\n".join(lines) + "\n")
    return KittiDrive(
        drive_dir, tuple(images), timestamps, tuple(depths), calibration, tuple(scans), velo_calibration
    )


def write_video(config: SceneConfig, path: Path | str, count: int, *, start: int = 0) -> Path:
    """Render frames start … start+count−1 into an MPEG-4 Part 2 ('mp4v') video at the scene's fps."""
    if not isinstance(count, Integral) or count < 1:
        raise ConfigError(f"frame count {count!r} must be a positive integer, e.g. 100")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
    writer = cv2.VideoWriter(str(path), fourcc, float(config.fps), (config.width, config.height))
    if not writer.isOpened():
        raise OutputError(f"OpenCV cannot write the video {path}; use a writable path ending in .mp4")
    try:
        for frame in iter_frames(config, count, start):
            writer.write(frame.image)
    finally:
        writer.release()
    return path


def _imwrite(path: Path, image: np.ndarray) -> Path:
    if not cv2.imwrite(str(path), image):
        raise OutputError(f"OpenCV could not write {path}; check the folder is writable and has space")
    return path


def _write_scan(path: Path, points: np.ndarray) -> Path:
    try:
        points.astype("<f4").tofile(path)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {exc.strerror}; check the folder is writable and has space"
        ) from None
    return path


def _parse_date(date: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(date, "%Y_%m_%d").replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        raise ConfigError(f"date {date!r} is not KITTI's YYYY_MM_DD, e.g. '2011_09_26'") from None


def _calibration(config: SceneConfig) -> str:
    """calib_cam_to_cam.txt with the synthetic camera's entries (rectified: K = P's left block)."""
    k = config.intrinsics
    numbers = " ".join(f"{v:.6e}" for v in k.matrix().ravel())
    projection = " ".join(f"{v:.6e}" for v in np.hstack([k.matrix(), np.zeros((3, 1))]).ravel())
    size = f"{config.width:.6e} {config.height:.6e}"
    return f"S_02: {size}\nK_02: {numbers}\nS_rect_02: {size}\nP_rect_02: {projection}\n"
