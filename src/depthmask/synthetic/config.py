"""Settings of the procedural driving scene: one frozen dataclass with units, defaults and validation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from depthmask.errors import ConfigError

SKY_DEPTH_M = 80.0  # default far cap: KITTI's usual evaluation cap; sky and anything farther get this depth
MAX_ENCODABLE_DEPTH_M = 65535 / 256  # the deepest a KITTI uint16 depth PNG (metres × 256) can hold
KITTI_CAMERA_HEIGHT_M = 1.65  # KITTI's colour cameras sit 1.65 m above the road
# KITTI's image_02 intrinsics (2011_09_26: fx = fy = 721.5 px, cx = 609.6, cy = 172.9 at 1242×375),
# kept as proportions of the image size so every resolution sees the same field of view.
KITTI_FX_PER_WIDTH = 721.5377 / 1242
KITTI_CX_PER_WIDTH = 609.5593 / 1242
KITTI_CY_PER_HEIGHT = 172.854 / 375
MIN_SIZE = 16


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels; pixel centres sit at integer coordinates (OpenCV's convention)."""

    fx: float
    fy: float
    cx: float
    cy: float

    def matrix(self) -> np.ndarray:
        """The 3×3 camera matrix K (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class SceneConfig:
    """A procedural drive: image size, scene seed, frame rate, ego speed and the far depth cap.

    Frame k is taken at t = k / fps seconds with the camera k · speed / fps metres down the road.
    Everything the camera sees is a pure function of these fields and k.
    """

    height: int = 256  # pixels
    width: int = 832  # pixels
    seed: int = 0  # scene layout, colours, lighting and traffic
    fps: float = 10.0  # frames per second (KITTI records at 10 Hz)
    speed: float = 10.0  # ego speed in m/s (36 km/h); 0 = parked camera
    max_depth: float = SKY_DEPTH_M  # metres; sky and anything farther are drawn as haze at this depth
    camera_height: float = KITTI_CAMERA_HEIGHT_M  # metres above the road
    traffic: float = 0.5  # 0 = empty road … 1 = busy (parked and moving vehicles)
    fog: bool = True  # distance haze that fades geometry into the horizon colour at max_depth

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not _is_int(value) or value < MIN_SIZE:
                raise ConfigError(
                    f"synthetic scene {name}={value!r} is too small or not an integer; "
                    f"use at least {MIN_SIZE} pixels (the default is height=256, width=832)"
                )
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(
                f"synthetic scene seed={self.seed!r} must be a non-negative integer, e.g. seed=0"
            )
        if not _is_real(self.fps) or not self.fps > 0:
            raise ConfigError(f"synthetic scene fps={self.fps!r} must be a positive number, e.g. fps=10")
        if not _is_real(self.speed) or self.speed < 0:
            raise ConfigError(
                f"synthetic scene speed={self.speed!r} must be a number of m/s ≥ 0 (0 = parked), "
                "e.g. speed=10"
            )
        if not _is_real(self.camera_height) or not 0.3 <= self.camera_height <= 10:
            raise ConfigError(
                f"synthetic scene camera_height={self.camera_height!r} must lie in 0.3 … 10 m "
                f"(KITTI's is {KITTI_CAMERA_HEIGHT_M})"
            )
        lowest = max(10.0, 4 * float(self.camera_height))
        if not _is_real(self.max_depth) or not lowest <= self.max_depth <= MAX_ENCODABLE_DEPTH_M:
            raise ConfigError(
                f"synthetic scene max_depth={self.max_depth!r} must lie in {lowest:g} … "
                f"{MAX_ENCODABLE_DEPTH_M:.2f} m (a KITTI uint16 depth PNG holds at most 65535/256 m); "
                f"the default is {SKY_DEPTH_M:g}"
            )
        if not _is_real(self.traffic) or not 0 <= self.traffic <= 1:
            raise ConfigError(f"synthetic scene traffic={self.traffic!r} must lie in 0 … 1, e.g. traffic=0.5")
        if not isinstance(self.fog, (bool, np.bool_)):
            raise ConfigError(f"synthetic scene fog={self.fog!r} must be true or false")

    @property
    def intrinsics(self) -> Intrinsics:
        """KITTI-proportioned intrinsics at this size (fx = fy ≈ 0.58 · width)."""
        f = KITTI_FX_PER_WIDTH * self.width
        cx, cy = KITTI_CX_PER_WIDTH * self.width, KITTI_CY_PER_HEIGHT * self.height
        return Intrinsics(fx=f, fy=f, cx=cx, cy=cy)

    def timestamp(self, index: int) -> float:
        """Seconds from the first frame to frame `index`."""
        return index / self.fps

    def camera_z(self, index: int) -> float:
        """Metres travelled down the road at frame `index`."""
        return index * self.speed / self.fps


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
