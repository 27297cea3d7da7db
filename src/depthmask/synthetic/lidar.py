"""A simulated Velodyne HDL-64E scan of the rendered scene, and the KITTI calibration files that describe it.

Rig: KITTI's own (the 2011_09_26 calibration files' R, T, R_rect_00 and the cameras' offsets in P_rect_0X):
the Velodyne (x forward, y left, z up) sits 0.27 m behind and 0.08 m above the colour cameras (x right,
y down, z forward); camera 2 (image_02, the one the renderer draws) is 0.06 m left of camera 0. The
renderer's camera *is* rectified camera 2: its intrinsics come from `SceneConfig`, so P_rect_0X = K [I | t_X]
with KITTI's metric offsets t_X. Every number is used exactly as written to the files (7 significant digits).

Beams: 64 lasers, the HDL-64E's two blocks — 32 evenly over +2° … −8.33°, 32 over −8.83° … −24.8° — swept
in 0.17° azimuth steps across the camera's horizontal field of view (the rest of the 360° sweep projects
outside the image). Each beam is cast against the rendered depth image: it is sampled in steps of about
half a pixel of its projection into the camera, and the first sample that lies behind the depth image's
surface (its camera depth ≥ the depth of the pixel it projects to) ends the march. The point emitted is
where the beam reaches that pixel's exact depth, if it still projects into that pixel; otherwise the beam
grazed a depth edge and gives no return, nor does sky or haze (depth ≥ max_depth). So every point's camera
depth is the rendered depth of the pixel it projects to (to float32 precision) — with P_rect_02's convention
that pixel centres sit at integer coordinates, before the Eigen tools' "− 1".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from depthmask.synthetic.config import SceneConfig
from depthmask.synthetic.scene import NEAR_M

TOP_DEG = 2.0  # an HDL-64E sees at most 2° above horizontal
BOTTOM_DEG = -24.8
UPPER_BLOCK_DEG = (TOP_DEG, -8.33)  # 32 lasers each
LOWER_BLOCK_DEG = (-8.83, BOTTOM_DEG)
BEAMS = 64
AZIMUTH_STEP_DEG = 0.17
MIN_RANGE_M = 0.9  # the HDL-64E's closest return
FOV_MARGIN_DEG = 1.0  # azimuths swept beyond the image's left and right edges
MAX_STEPS = 4096  # march samples per beam at most

# KITTI 2011_09_26: calib_velo_to_cam.txt (R, T) and calib_cam_to_cam.txt (R_rect_00, P_rect_0X).
KITTI_VELO_R = np.array(
    [
        [7.533745e-03, -9.999714e-01, -6.166020e-04],
        [1.480249e-02, 7.280733e-04, -9.998902e-01],
        [9.998621e-01, 7.523790e-03, 1.480755e-02],
    ]
)
KITTI_VELO_T = np.array([-4.069766e-03, -7.631618e-02, -2.717806e-01])
KITTI_R_RECT = np.array(
    [
        [9.999239e-01, 9.837760e-03, -7.445048e-03],
        [-9.869795e-03, 9.999421e-01, -4.278459e-03],
        [7.402527e-03, 4.351614e-03, 9.999631e-01],
    ]
)
_KITTI_K = np.array([[7.215377e02, 0.0, 6.095593e02], [0.0, 7.215377e02, 1.728540e02], [0.0, 0.0, 1.0]])
_KITTI_P_LAST = {  # the fourth column of P_rect_00 … P_rect_03
    "00": [0.0, 0.0, 0.0],
    "01": [-3.875744e02, 0.0, 0.0],
    "02": [4.485728e01, 2.163791e-01, 2.745884e-03],
    "03": [-3.395242e02, 2.199936e00, 2.729905e-03],
}
# Each rectified camera's offset from rectified camera 0 in metres (P_rect_0X = K [I | t_X]).
CAMERA_OFFSETS = {cam: np.linalg.solve(_KITTI_K, np.array(col)) for cam, col in _KITTI_P_LAST.items()}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _written(values: np.ndarray) -> np.ndarray:
    """`values` as KITTI's files hold them ('%.6e'), so the simulation uses what a reader will read."""
    return np.array([float(f"{v:.6e}") for v in np.ravel(values)]).reshape(np.shape(values))


def _line(key: str, values: np.ndarray) -> str:
    return f"{key}: " + " ".join(f"{v:.6e}" for v in np.ravel(values)) + "\n"


@dataclass(frozen=True)
class LidarCalibration:
    """The synthetic drive's calibration: what calib_cam_to_cam.txt and calib_velo_to_cam.txt hold."""

    width: int
    height: int
    k: np.ndarray  # 3×3, every camera's (rectified) intrinsics
    r_rect: np.ndarray  # 3×3 R_rect_00
    p_rect: dict[str, np.ndarray]  # '00' … '03' → 3×4 P_rect_0X
    velo_r: np.ndarray  # 3×3 Velodyne → camera 0
    velo_t: np.ndarray  # 3

    def velo_to_image(self, camera: str = "02") -> np.ndarray:
        """3×4 P_rect_0X · R_rect_00 · [R | T]: Velodyne (x, y, z, 1) → (u·w, v·w, w), w = camera depth."""
        rect, velo = np.eye(4), np.eye(4)
        rect[:3, :3] = self.r_rect
        velo[:3, :3], velo[:3, 3] = self.velo_r, self.velo_t
        return self.p_rect[camera] @ rect @ velo

    def cam_to_cam_text(self, calib_time: str) -> str:
        """calib_cam_to_cam.txt in KITTI's layout: S, K, D, R, T, S_rect, R_rect, P_rect per camera."""
        size = np.array([self.width, self.height], np.float64)
        lines = [f"calib_time: {calib_time}\n", _line("corner_dist", np.array([9.95e-02]))]
        for cam, p in self.p_rect.items():
            offset = np.linalg.solve(self.r_rect, np.linalg.solve(self.k, p[:, 3]))  # camera 0 → X
            lines += [
                _line(f"S_{cam}", size),
                _line(f"K_{cam}", self.k),
                _line(f"D_{cam}", np.zeros(5)),
                _line(f"R_{cam}", np.eye(3)),  # every camera shares camera 0's orientation
                _line(f"T_{cam}", offset),
                _line(f"S_rect_{cam}", size),
                _line(f"R_rect_{cam}", self.r_rect),
                _line(f"P_rect_{cam}", p),
            ]
        return "".join(lines)

    def velo_to_cam_text(self, calib_time: str) -> str:
        """calib_velo_to_cam.txt in KITTI's layout."""
        zero = np.zeros(2)
        return (
            f"calib_time: {calib_time}\n"
            + _line("R", self.velo_r)
            + _line("T", self.velo_t)
            + _line("delta_f", zero)
            + _line("delta_c", zero)
        )


def calibration_for(config: SceneConfig) -> LidarCalibration:
    """KITTI's rig with the synthetic camera's intrinsics, rounded as the files will hold it."""
    k = _written(config.intrinsics.matrix())
    p_rect = {cam: _written(np.hstack([k, (k @ t)[:, None]])) for cam, t in CAMERA_OFFSETS.items()}
    return LidarCalibration(
        config.width, config.height, k, _written(KITTI_R_RECT), p_rect, KITTI_VELO_R, KITTI_VELO_T
    )


def calib_time(date: str) -> str:
    """KITTI's 'DD-Mon-YYYY HH:MM:SS' for noon of `date` ('YYYY_MM_DD', already validated)."""
    year, month, day = (int(v) for v in date.split("_"))
    return f"{day:02d}-{_MONTHS[month - 1]}-{year} 12:00:00"


def beam_elevations() -> np.ndarray:
    """The 64 beams' elevation angles in degrees, top first."""
    return np.concatenate(
        [np.linspace(*UPPER_BLOCK_DEG, BEAMS // 2), np.linspace(*LOWER_BLOCK_DEG, BEAMS // 2)]
    )


def beam_directions(config: SceneConfig) -> np.ndarray:
    """Unit vectors (n, 3) in Velodyne coordinates: every beam at every azimuth across the camera's view."""
    k = config.intrinsics
    left = math.degrees(math.atan2(k.cx, k.fx)) + FOV_MARGIN_DEG  # azimuth grows to the left (y)
    right = math.degrees(math.atan2(config.width - 1 - k.cx, k.fx)) + FOV_MARGIN_DEG
    azimuth = np.radians(np.arange(-right, left + AZIMUTH_STEP_DEG / 2, AZIMUTH_STEP_DEG))
    elevation = np.radians(beam_elevations())[:, None]
    xyz = [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth)]
    xyz.append(np.broadcast_to(np.sin(elevation), xyz[0].shape))
    return np.stack(xyz, axis=-1).reshape(-1, 3)


def scan_from_depth(
    config: SceneConfig,
    depth: np.ndarray,
    image: np.ndarray | None = None,
    calibration: LidarCalibration | None = None,
) -> np.ndarray:
    """The Velodyne scan (N×4 float32: x, y, z in metres, reflectance 0…1) of one rendered frame.

    `depth` is the frame's exact depth (H×W metres, max_depth = nothing); `image` (BGR uint8) gives each
    point's reflectance as its pixel's grey level, 0 without one. See the module docstring for the cast.
    """
    cal = calibration or calibration_for(config)
    project = cal.velo_to_image("02")
    height, width = depth.shape
    beams = beam_directions(config)
    slope, offset = beams @ project[:, :3].T, project[:, 3]  # (U, V, W)(t) = t·slope + offset
    beams, slope = beams[slope[:, 2] > 1e-3], slope[slope[:, 2] > 1e-3]
    far = float(config.max_depth)
    t_near = np.maximum(MIN_RANGE_M, (NEAR_M - offset[2]) / slope[:, 2])
    t_near, t_far = _inside(slope, offset, (height, width), t_near, (far - offset[2]) / slope[:, 2])
    keep = t_far > t_near
    beams, slope, t_near, t_far = beams[keep], slope[keep], t_near[keep], t_far[keep]

    def pixel(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _nearest(t[:, None] * s + offset)

    # Samples evenly spaced in 1/t move about evenly along the beam's projection: half a pixel apart.
    (u0, v0, _), (u1, v1, _) = pixel(t_near, slope), pixel(t_far, slope)
    steps = np.minimum(2 * np.ceil(np.hypot(u1 - u0, v1 - v0)) + 2, MAX_STEPS).astype(np.int64)
    inv_near, inv_step = 1 / t_near, (1 / t_far - 1 / t_near) / (steps - 1)

    n = len(beams)
    hit = np.full((n, 2), -1, np.int64)  # (row, col) of the first sample behind the surface
    before = np.full((n, 2), -1, np.int64)  # the sample before it (−1: outside the image)
    before_t = t_near.copy()
    last = np.full((n, 2), -1, np.int64)
    last_t = t_near.copy()
    active = np.arange(n)
    for step in range(int(steps.max(initial=0))):
        active = active[steps[active] > step]
        if not len(active):
            break
        t = 1 / (inv_near[active] + step * inv_step[active])
        col, row, w = pixel(t, slope[active])
        inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        r, c = np.where(inside, row, 0).astype(np.int64), np.where(inside, col, 0).astype(np.int64)
        behind = inside & (w >= depth[r, c])
        done = active[behind]
        hit[done, 0], hit[done, 1] = r[behind], c[behind]
        before[done], before_t[done] = last[done], last_t[done]
        last[active, 0], last[active, 1] = np.where(inside, r, -1), np.where(inside, c, -1)
        last_t[active] = t
        active = active[~behind]

    def on_pixel(pix: np.ndarray, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each beam reaches its pixel's depth, and whether that spot projects into the pixel."""
        ok = pix[:, 0] >= 0
        r, c = np.maximum(pix[:, 0], 0), np.maximum(pix[:, 1], 0)
        d = depth[r, c].astype(np.float64)
        t = (d - offset[2]) / slope[rays, 2]
        col, row, _ = pixel(t, slope[rays])
        return t, ok & (d < far) & (t >= MIN_RANGE_M) & (col == c) & (row == r)

    rays = np.flatnonzero(hit[:, 0] >= 0)
    t_before, use_before = on_pixel(before[rays], rays)
    t_hit, use_hit = on_pixel(hit[rays], rays)
    use_before &= t_before >= before_t[rays] - 1e-9  # the crossing lies between the two samples
    t_star = np.where(use_before, t_before, t_hit)
    pix = np.where(use_before[:, None], before[rays], hit[rays])
    chosen = use_before | use_hit
    rays, t_star, pix = rays[chosen], t_star[chosen], pix[chosen]
    points = (t_star[:, None] * beams[rays]).astype(np.float32)
    # Keep only what a reader of the float32 file projects back into the pixel whose depth it carries.
    col, row, _ = _nearest(points.astype(np.float64) @ project[:, :3].T + project[:, 3])
    same = (row == pix[:, 0]) & (col == pix[:, 1])
    points, pix = points[same], pix[same]
    reflectance = np.zeros(len(points), np.float32)
    if image is not None:
        grey = image[pix[:, 0], pix[:, 1]].astype(np.float32) @ np.array([0.114, 0.587, 0.299], np.float32)
        reflectance = grey / 255
    return np.column_stack([points, reflectance]).astype(np.float32)


def _inside(
    slope: np.ndarray, offset: np.ndarray, shape: tuple[int, int], t_lo: np.ndarray, t_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """[t_lo, t_hi] narrowed to where each beam projects inside the image (half a pixel of margin).

    u(t) ≥ a with w(t) > 0 is the linear condition t·(U′ − a·W′) ≥ a·W₀ − U₀, and so for every edge.
    """
    lo, hi = t_lo.copy(), t_hi.copy()
    height, width = shape
    for axis, edge, sign in ((0, -0.5, 1), (0, width - 0.5, -1), (1, -0.5, 1), (1, height - 0.5, -1)):
        a = sign * (slope[:, axis] - edge * slope[:, 2])
        b = sign * (edge * offset[2] - offset[axis])
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = b / a
        lo = np.where(a > 0, np.maximum(lo, bound), lo)
        hi = np.where(a < 0, np.minimum(hi, bound), hi)
        hi = np.where((a == 0) & (b > 0), -np.inf, hi)
    return lo, hi


def _nearest(uvw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest pixel column, row (pixel centres at integers) and camera depth of (u·w, v·w, w) rows."""
    return np.round(uvw[:, 0] / uvw[:, 2]), np.round(uvw[:, 1] / uvw[:, 2]), uvw[:, 2]
