"""Surface colours of the scene: a tileable value-noise texture, the sky and one albedo rule per material.

Every rule takes the hit points of its pixels in surface coordinates (a, b) in metres — (z, y) on faces
across the road, (x, z) on horizontal faces, (x, y) on faces towards the camera — and returns BGR albedo
in 0…1. Texture coordinates are relative to each box's corner, so patterns stay put as the camera moves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from depthmask.synthetic.layout import EDGE_LINE_M, ROAD_HALF_M, Lighting, Material

NOISE_SIZE = 256  # cells per side of the tileable noise texture
GROUND_PERIOD_M = 576.0  # every ground pattern (64 m noise tile, 9 m dashes, 1 m slabs) repeats after this
DASH_PERIOD_M, DASH_M = 9.0, 3.0  # centre line: 3 m paint, 6 m gap


class Surface:
    """The visible pixels of one material: hit points (a, b) in metres, face axis and face id.

    `colour` and `params` (the faces' albedo and material parameters, per pixel) are gathered only when
    a rule asks for them: the road, the largest surface, needs neither.
    """

    def __init__(
        self,
        a: np.ndarray,
        b: np.ndarray,
        axis: np.ndarray,
        face: np.ndarray,
        colours: np.ndarray,
        params: np.ndarray,
    ) -> None:
        self.a, self.b, self.axis, self.face = a, b, axis, face
        self._colours, self._params = colours, params

    def __len__(self) -> int:
        return len(self.a)

    @functools.cached_property
    def colour(self) -> np.ndarray:
        """(n, 3) BGR albedo of each pixel's box."""
        return np.take(self._colours, self.face, axis=0)  # take: several times faster than [] on rows

    @functools.cached_property
    def params(self) -> np.ndarray:
        """(n, 3) material parameters of each pixel's box (see `layout.Boxes`)."""
        return np.take(self._params, self.face, axis=0)


AlbedoRule = Callable[[Surface], np.ndarray]


@functools.lru_cache(maxsize=1)
def noise_texture() -> np.ndarray:
    """Flat (256·256,) float32 value noise in 0…1, four octaves, tileable; fixed, not per scene."""
    rng = np.random.default_rng(20190601)
    out = np.zeros((NOISE_SIZE, NOISE_SIZE))
    for cells, weight in ((8, 0.35), (32, 0.3), (64, 0.2), (256, 0.15)):
        out += weight * _upsample_periodic(rng.random((cells, cells)), NOISE_SIZE)
    out = (out - out.min()) / (out.max() - out.min())
    return out.astype(np.float32).ravel()


def _upsample_periodic(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a periodic grid to size × size (wraps at the edges)."""
    n = grid.shape[0]
    pos = np.arange(size) * (n / size)
    i0 = np.floor(pos).astype(int)
    f = pos - i0
    i1 = (i0 + 1) % n
    rows = grid[i0] * (1 - f)[:, None] + grid[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]


def noise(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """Noise at surface points (a, b) in metres, `scale` cells per metre (nearest cell: one gather)."""
    ia = (a * scale).astype(np.int32) & (NOISE_SIZE - 1)  # & wraps negatives too (two's complement)
    ib = (b * scale).astype(np.int32) & (NOISE_SIZE - 1)
    return noise_texture()[(ia << 8) | ib]


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def _tinted(level: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    return level[:, None] * np.asarray(tint, np.float32)


_ASPHALT = (1.03, 1.0, 0.97)
_GRASS, _DIRT = np.array([0.2, 0.38, 0.26], np.float32), np.array([0.22, 0.33, 0.38], np.float32)


def nothing(s: Surface) -> np.ndarray:
    """Black: for pixels whose colour comes from elsewhere (the sky)."""
    return np.zeros((len(s), 3), np.float32)


def ground(s: Surface) -> np.ndarray:
    """Asphalt with a dashed centre line and solid edge lines inside the kerbs, grass and dirt outside."""
    fine, coarse = noise(s.a, s.b, 4.0), noise(s.a, s.b, 0.5)
    absx = np.abs(s.a)
    out = _tinted(0.2 + 0.1 * fine + 0.1 * coarse, _ASPHALT)
    dashes = _frac(s.b * np.float32(1 / DASH_PERIOD_M)) < DASH_M / DASH_PERIOD_M
    out[((absx < 0.07) & dashes) | (np.abs(absx - EDGE_LINE_M) < 0.08)] = 0.8
    verge = np.flatnonzero(absx > ROAD_HALF_M)  # seen only between buildings: few pixels
    if len(verge):
        kind = np.where((coarse[verge] > 0.55)[:, None], _GRASS, _DIRT)
        out[verge] = kind * (0.45 + 0.7 * fine[verge])[:, None]
    return out


def pavement(s: Surface) -> np.ndarray:
    """Square slabs with darker joints on top; lighter kerb stones on the face towards the road."""
    top = s.axis == 1
    shade = 0.85 + 0.3 * noise(s.a, s.b, 4.0)
    joint = (_frac(s.a) < 0.04) | ((_frac(s.b) < 0.04) & top)
    shade *= np.where(joint, 0.7, 1.0) * np.where(top, 1.0, 1.15)
    return s.colour * shade[:, None]


def building(s: Surface) -> np.ndarray:
    """A facade with rows of windows (per-building spacing and floor height), some lit, on plaster noise."""
    spacing, floor = s.params[:, 0], s.params[:, 1]
    out = s.colour * (0.8 + 0.35 * noise(s.a, s.b, 3.0))[:, None]
    col, row = s.a / spacing, s.b / floor
    fa, fb = _frac(col), _frac(row)
    window = np.flatnonzero((s.axis != 1) & (fa > 0.25) & (fa < 0.75) & (fb > 0.3) & (fb < 0.82))
    if len(window):
        # One noise cell per window: each pane gets its own reflection or light.
        per = noise(np.floor(col[window]) * 0.37, np.floor(row[window]) * 0.61, 1.0)
        glass = _tinted(0.12 + 0.35 * per, (1.25, 1.1, 0.95))
        lit = per > 0.82
        glass[lit] = np.array([0.45, 0.72, 0.88], np.float32) * per[lit, None]
        out[window] = glass
    return out


def wall(s: Surface) -> np.ndarray:
    """Concrete or brick with blotches."""
    return s.colour * (0.7 + 0.45 * noise(s.a, s.b, 4.0))[:, None]


def vegetation(s: Surface) -> np.ndarray:
    """Leaves: strong fine-grained contrast."""
    return s.colour * (0.35 + 1.1 * noise(s.a * 1.7, s.b * 1.3, 8.0))[:, None]


def pole(s: Surface) -> np.ndarray:
    """Painted metal or bark."""
    return s.colour * (0.85 + 0.3 * noise(s.a, s.b, 6.0))[:, None]


def vehicle(s: Surface) -> np.ndarray:
    """Body paint with dark sills and wheels, lights and a number plate at the end facing the camera;
    the cabin's sides and ends are glazed and its roof painted."""
    a, b = s.a, s.b
    lights, width, cabin = s.params[:, 0], s.params[:, 1], s.params[:, 2] > 0.5
    out = s.colour * (0.92 + 0.12 * noise(a, b, 5.0))[:, None]
    out[(~cabin) & (b < 0.28)] = 0.06
    end = (s.axis == 2) & ~cabin
    lamp = end & (b > 0.55) & (b < 0.72) & ((a < 0.3) | (a > width - 0.3))
    out[lamp & (lights == 1)] = (0.12, 0.1, 0.8)
    out[lamp & (lights == 2)] = (0.85, 0.92, 0.95)
    out[end & (np.abs(a - width / 2) < 0.26) & (b > 0.33) & (b < 0.46)] = 0.85
    glass = cabin & (s.axis != 1) & (b > 0.04)
    out[glass] = _tinted(0.1 + 0.12 * _frac(b[glass] * 2.0 + 0.3 * a[glass]), (1.2, 1.1, 1.0))
    return out


RULES: dict[Material, AlbedoRule] = {
    Material.ROAD: ground,
    Material.PAVEMENT: pavement,
    Material.BUILDING: building,
    Material.WALL: wall,
    Material.VEGETATION: vegetation,
    Material.POLE: pole,
    Material.VEHICLE: vehicle,
}


def sky(dx: np.ndarray, dy: np.ndarray, light: Lighting) -> np.ndarray:
    """BGR uint8 sky for rays (dx per column, dy up per row): haze at the horizon, zenith colour above,
    clouds on a layer overhead that travels with the camera (real clouds are too far to move in a drive)."""
    up = dy[:, None]
    s = np.sqrt(np.clip(up / 0.45, 0, 1))
    zenith, haze = np.asarray(light.zenith, np.float32), np.asarray(light.haze, np.float32)
    colour = haze * (1 - s[..., None]) + zenith * s[..., None]
    colour = np.broadcast_to(colour, (len(dy), len(dx), 3)).copy()
    if light.clouds > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(up > 0.005, 1.0 / up, 0.0)
        cloud_a = dx[None, :] * depth * 40.0  # where each ray meets a layer 40 units overhead
        cloud_b = np.broadcast_to(depth * 40.0, cloud_a.shape)
        n = noise(cloud_a, cloud_b, 0.4)
        cover = np.clip((n - (0.75 - 0.45 * light.clouds)) * 4, 0, 1) * np.clip(up / 0.06, 0, 1)
        colour += (np.float32(0.93) - colour) * (0.85 * cover)[..., None]
    return (np.clip(colour, 0, 1) * 255 + 0.5).astype(np.uint8)
