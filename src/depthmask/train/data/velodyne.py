"""KITTI Velodyne scans → sparse depth in a camera image, the way the Eigen-split evaluations make it.

Files of a raw drive (spec/training.md, "KITTI formats"):
- `<date>/calib_cam_to_cam.txt`: `S_rect_0X` (W H), `R_rect_00` (3×3), `P_rect_0X` (3×4), …;
- `<date>/calib_velo_to_cam.txt`: `R` (3×3) and `T` (3) from the Velodyne to camera 0 (unrectified);
- `<drive>/velodyne_points/data/<10 digits>.bin`: float32 x, y, z, reflectance per point (metres;
  x forward, y left, z up).

`depth_map_from_scan` follows `generate_depth_map` of Godard's monodepth (utils/evaluation_utils.py) and
Monodepth2 (kitti_utils.py), whose maps are the Eigen-split ground truth papers report:
1. P = P_rect_0X · R_rect_00 (padded to 4×4) · [R | T] (padded to 4×4), one 3×4 matrix;
2. keep the points with x ≥ 0 (in front of the Velodyne);
3. (u, v, w) = P · (x, y, z, 1); pixel column, row = round(u / w) − 1, round(v / w) − 1 with numpy's
   round (halves to even). The "− 1" is the standard code's ("to get the exact same value as KITTI
   matlab code"): every point lands one pixel left of and above the pixel P projects it to;
4. keep pixels inside the image; where several points share a pixel the nearest depth wins; 0 = none.
The depth stored is the point's Velodyne x by default (`depth="lidar"`: both evaluations call
generate_depth_map with vel_depth=True), or w, the depth along the camera's optical axis
(`depth="camera"`, generate_depth_map's default). On KITTI x exceeds w by about 0.27 m: the Velodyne sits
that far behind the cameras.

Two departures, neither seen on real scans' evaluated pixels: points with w ≤ 0 (less than 0.27 m ahead
of the Velodyne, where the projection flips sign) are dropped instead of being mirrored into the image;
and a pixel's points are found by its true index, where the standard code's `sub2ind`
(row·(W−1) + col − 1) also merges the last column of one row with the first of the next — columns that
the Garg and Eigen crops leave out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from depthmask.errors import ConfigError, SourceError, closest
from depthmask.sources.base import file_kind, read_text_file

CAM_TO_CAM = "calib_cam_to_cam.txt"
VELO_TO_CAM = "calib_velo_to_cam.txt"
SCAN_FOLDER = Path("velodyne_points", "data")
DEPTHS = ("lidar", "camera")
MAX_CALIBRATION_BYTES = 2**20  # real files are about 5 kB

Depth = Literal["lidar", "camera"]


@dataclass(frozen=True)
class VeloProjection:
    """Velodyne → one camera's rectified image: P_rect_0X · R_rect_00 · [R | T] and the image size."""

    matrix: np.ndarray  # 3×4 float64
    size: tuple[int, int] | None  # (H, W) from S_rect_0X; None when the file has none
    camera: str  # 'image_02'
    where: str  # the calibration folder, for messages


def read_calibration(path: Path) -> dict[str, np.ndarray | str]:
    """A KITTI calibration file: one `key: values` a line → float64 arrays (text where not all numbers).

    `calib_time: 09-Jan-2012 13:57:47` stays text; blank lines are skipped; SourceError names a line
    without a key.
    """
    text = read_text_file(path, "KITTI calibration file", MAX_CALIBRATION_BYTES)
    out: dict[str, np.ndarray | str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip() or " " in key.strip():
            raise SourceError(
                f"{path}:{number}: {line.strip()[:60]!r} is not a 'key: values' line "
                "(e.g. 'P_rect_02: 7.215377e+02 0.000000e+00 …')"
            )
        try:
            out[key.strip()] = np.array([float(v) for v in value.split()], np.float64)
        except ValueError:
            out[key.strip()] = value.strip()
    return out


def projection_from_calibration(
    cam_to_cam: dict[str, np.ndarray | str],
    velo_to_cam: dict[str, np.ndarray | str],
    camera: str = "image_02",
    where: str = "",
) -> VeloProjection:
    """The Velodyne → `camera` projection from the two parsed calibration files (`read_calibration`)."""
    if not (camera.startswith("image_0") and camera[-1] in "0123" and len(camera) == 8):
        raise ConfigError(f"KITTI camera {camera!r} is not one of image_00 … image_03")
    index = camera[-2:]
    files = {CAM_TO_CAM: cam_to_cam, VELO_TO_CAM: velo_to_cam}

    def entry(name: str, key: str, need: int, optional: bool = False) -> np.ndarray | None:
        value = files[name].get(key)
        if value is None and optional:
            return None
        if not isinstance(value, np.ndarray) or value.size != need:
            found = "is missing" if value is None else f"has {_count(value)} values"
            raise SourceError(
                f"{where or '.'}/{name}: {key} {found}; KITTI's file gives {need} numbers "
                f"(keys present: {', '.join(sorted(files[name]))}).{closest(key, files[name])}"
            )
        return value

    rect = np.eye(4)
    rect[:3, :3] = entry(CAM_TO_CAM, "R_rect_00", 9).reshape(3, 3)
    p_rect = entry(CAM_TO_CAM, f"P_rect_{index}", 12).reshape(3, 4)
    velo = np.eye(4)
    velo[:3, :3] = entry(VELO_TO_CAM, "R", 9).reshape(3, 3)
    velo[:3, 3] = entry(VELO_TO_CAM, "T", 3)
    size = entry(CAM_TO_CAM, f"S_rect_{index}", 2, optional=True)
    shape = (int(size[1]), int(size[0])) if size is not None else None  # the file says W H
    return VeloProjection(p_rect @ rect @ velo, shape, camera, where)


def load_projection(calibration_dir: Path, camera: str = "image_02") -> VeloProjection:
    """The projection of a date folder's `calib_cam_to_cam.txt` and `calib_velo_to_cam.txt`."""
    folder = Path(calibration_dir)
    missing = [n for n in (CAM_TO_CAM, VELO_TO_CAM) if file_kind(folder / n) != "file"]
    if missing:
        raise SourceError(
            f"KITTI calibration folder {str(folder)!r} has no {' or '.join(missing)}; the Velodyne ground "
            "truth needs both (they come with every raw drive's date folder, e.g. 2011_09_26_calib.zip)"
        )
    return projection_from_calibration(
        read_calibration(folder / CAM_TO_CAM), read_calibration(folder / VELO_TO_CAM), camera, str(folder)
    )


def read_scan(path: Path) -> np.ndarray:
    """A Velodyne `.bin`: N×4 float32 (x, y, z, reflectance); SourceError when it is not one."""
    try:
        data = np.fromfile(path, dtype="<f4")
    except OSError as exc:
        raise SourceError(f"cannot read Velodyne scan {path}: {exc.strerror or exc}") from None
    if data.size % 4:
        raise SourceError(
            f"{path} holds {data.size * 4} bytes, not a whole number of 16-byte points "
            "(float32 x, y, z, reflectance); the file is truncated or not a KITTI scan"
        )
    return data.reshape(-1, 4)


def depth_map_from_scan(
    points: np.ndarray,
    projection: VeloProjection,
    shape: tuple[int, int] | None = None,
    *,
    depth: Depth = "lidar",
) -> np.ndarray:
    """Float32 H×W depth in metres (0 = no point) of a scan projected as the Eigen evaluations do.

    `points` is N×3 or N×4 (Velodyne x, y, z first); `shape` (H, W) defaults to the calibration's
    S_rect size. See the module docstring for the rule, the pixel convention and `depth`.
    """
    if depth not in DEPTHS:
        raise ConfigError(
            f"depth must be one of {', '.join(DEPTHS)}, got {depth!r}." + closest(depth, DEPTHS)
        )
    if shape is None:
        if projection.size is None:
            raise SourceError(f"{projection.where}/{CAM_TO_CAM} gives no S_rect size; pass the image's shape")
        shape = projection.size
    height, width = shape
    xyz = np.asarray(points, np.float64)[:, :3]
    xyz = xyz[xyz[:, 0] >= 0]
    uvw = xyz @ projection.matrix[:, :3].T + projection.matrix[:, 3]
    front = uvw[:, 2] > 0
    uvw, xyz = uvw[front], xyz[front]
    col = np.round(uvw[:, 0] / uvw[:, 2]) - 1
    row = np.round(uvw[:, 1] / uvw[:, 2]) - 1
    inside = (col >= 0) & (row >= 0) & (col < width) & (row < height)
    values = (xyz[:, 0] if depth == "lidar" else uvw[:, 2])[inside]
    flat = row[inside].astype(np.int64) * width + col[inside].astype(np.int64)
    out = np.full(height * width, np.inf)
    np.minimum.at(out, flat, values)  # the nearest point of each pixel
    out[np.isinf(out)] = 0.0
    return out.reshape(height, width).astype(np.float32)


def _count(value: object) -> int | str:
    return value.size if isinstance(value, np.ndarray) else "non-numeric"
