"""Render the procedural drive: exact Z-depth and a BGR image per frame, by vectorised ray casting.

The camera looks straight down the road (no pitch, no roll), so every pixel's ray is
(dx[col], dy[row], 1) and the ray parameter *is* the Z-depth KITTI measures. That makes every
intersection separable: the road plane's depth depends on the row only, a face across the road
(x = const) on the column only, a face towards the camera is one constant. Each visible box face is
intersected with the rays inside its projected pixel rectangle and kept where it is nearer than what is
already there (a depth buffer); colours are computed afterwards once per visible pixel, per material.
No loops over pixels; one Python step per visible face.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from depthmask.errors import ConfigError
from depthmask.synthetic import textures
from depthmask.synthetic.config import Intrinsics, SceneConfig
from depthmask.synthetic.layout import EGO_X, ROAD_HALF_M, Boxes, Lighting, Material, boxes_near, lighting

__all__ = ["NEAR_M", "SceneConfig", "SyntheticFrame", "iter_frames", "render_frame"]

NEAR_M = 0.1  # near clipping distance: geometry closer than this along the optical axis is not drawn
_SKY_ID, _GROUND_ID = 0, 1  # face ids in the id buffer; box faces follow from 2
# Face normals by index: +x, −x, +y, −y, −z (a face can only be seen from its outer side).
_NORMALS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, -1]], np.float64)
_X_FACE, _Y_FACE, _Z_FACE = 0, 1, 2  # a face's axis: the coordinate that is constant on it
_ROAD = int(Material.ROAD)
# (material as a plain int, albedo rule); plain ints because comparing arrays with IntEnums is slow.
_RULES = [(int(m), rule) for m, rule in textures.RULES.items()] + [(int(Material.SKY), textures.nothing)]


@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered frame.

    `image` is BGR uint8 H×W×3 (OpenCV's order); `depth` float32 H×W metres along the optical axis
    (KITTI's projected depth), `max_depth` where nothing nearer is hit (sky, haze); `labels` uint8 H×W
    holds each pixel's `Material`; `timestamp` is seconds since frame 0.
    """

    index: int
    timestamp: float
    image: np.ndarray
    depth: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class _Rays:
    """Per-size ray directions and what every frame starts from (the road's depth, or max_depth)."""

    k: Intrinsics
    dx: np.ndarray  # (W,) float32, x of the ray per column
    dy: np.ndarray  # (H,) float32, y (up) of the ray per row
    inv_dx: np.ndarray  # (W,) 1/dx (±inf at an exactly central column)
    inv_dy: np.ndarray  # (H,)
    rows: np.ndarray  # (H,) float32 row numbers
    cols: np.ndarray  # (W,) float32 column numbers
    depth0: np.ndarray  # (H, W) float32: the road where it is nearer than max_depth, else max_depth
    ids0: np.ndarray  # (H, W) int32: _GROUND_ID or _SKY_ID


@functools.lru_cache(maxsize=8)
def _rays(height: int, width: int, k: Intrinsics, camera_height: float, max_depth: float) -> _Rays:
    dx = ((np.arange(width) - k.cx) / k.fx).astype(np.float32)
    dy = (-(np.arange(height) - k.cy) / k.fy).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv_dx, inv_dy = (1 / dx).astype(np.float32), (1 / dy).astype(np.float32)
        road = np.where(dy < 0, camera_height * -inv_dy, np.inf)
    ground = road < max_depth
    depth0 = np.repeat(np.where(ground, road, max_depth).astype(np.float32)[:, None], width, axis=1)
    ids0 = np.repeat(np.where(ground, _GROUND_ID, _SKY_ID).astype(np.int32)[:, None], width, axis=1)
    for a in (dx, dy, inv_dx, inv_dy, depth0, ids0):
        a.flags.writeable = False
    return _Rays(
        k,
        dx,
        dy,
        inv_dx,
        inv_dy,
        np.arange(height, dtype=np.float32),
        np.arange(width, dtype=np.float32),
        depth0,
        ids0,
    )


@functools.lru_cache(maxsize=8)
def _sky(config: SceneConfig) -> np.ndarray:
    r = _rays_of(config)
    return textures.sky(r.dx, r.dy, lighting(config.seed))


def _rays_of(config: SceneConfig) -> _Rays:
    return _rays(
        config.height, config.width, config.intrinsics, float(config.camera_height), float(config.max_depth)
    )


def render_frame(config: SceneConfig, index: int) -> SyntheticFrame:
    """Frame `index` of the drive `config`: a pure function of both (any order, any process)."""
    if not isinstance(index, Integral) or isinstance(index, bool) or index < 0:
        raise ConfigError(f"synthetic frame index {index!r} must be an integer ≥ 0 (frame 0 is the start)")
    index = int(index)
    rays = _rays_of(config)
    time = config.timestamp(index)
    camera = np.array([EGO_X, float(config.camera_height), config.camera_z(index)])
    boxes = boxes_near(config, float(camera[2]), time)
    faces = _visible_faces(boxes, camera, rays, float(config.max_depth))
    depth, ids = rays.depth0.copy(), rays.ids0.copy()
    _draw(faces, rays, depth, ids)
    image, labels = _shade(config, rays, boxes, faces, camera, depth, ids)
    return SyntheticFrame(index=index, timestamp=time, image=image, depth=depth, labels=labels)


def iter_frames(config: SceneConfig, count: int, start: int = 0) -> Iterator[SyntheticFrame]:
    """Frames start … start + count − 1 of the drive, in order (arguments are checked at the call)."""
    if not isinstance(count, Integral) or isinstance(count, bool) or count < 0:
        raise ConfigError(f"synthetic frame count {count!r} must be an integer ≥ 0")
    if not isinstance(start, Integral) or isinstance(start, bool) or start < 0:
        raise ConfigError(f"synthetic start frame {start!r} must be an integer ≥ 0 (frame 0 is the start)")
    return (render_frame(config, index) for index in range(start, start + count))


@dataclass(frozen=True)
class _Faces:
    """Visible box faces as parallel arrays (coordinates relative to the camera, y up)."""

    box: np.ndarray  # (f,) index into the frame's Boxes
    axis: np.ndarray  # (f,) _X_FACE / _Y_FACE / _Z_FACE
    normal: np.ndarray  # (f,) index into _NORMALS
    plane: np.ndarray  # (f,) the constant coordinate
    lo: np.ndarray  # (f,) range of the face's first free coordinate (y for x-faces, x otherwise)
    hi: np.ndarray
    pixels: np.ndarray  # (f, 4) int: r0, r1, c0, c1 of the projected rectangle, clipped to the image


def _visible_faces(boxes: Boxes, camera: np.ndarray, rays: _Rays, far: float) -> _Faces:
    """The faces that point at the camera and project into the image, with their pixel rectangles."""
    k = rays.k
    height, width = len(rays.dy), len(rays.dx)
    lo, hi = boxes.lo - camera, boxes.hi - camera
    index = np.flatnonzero((hi[:, 2] > NEAR_M) & (lo[:, 2] < far))  # boxes within the view's depth
    lo, hi = lo[index], hi[index]
    za, zb = np.maximum(lo[:, 2], NEAR_M), np.minimum(hi[:, 2], far)  # z extent clipped to the view

    def u(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        return k.cx + k.fx * x / z

    def v(y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return k.cy - k.fy * y / z

    parts = []
    # Faces across the road (x = const): seen from the side the camera is on.
    right_of = lo[:, 0] > 0
    x = np.where(right_of, lo[:, 0], hi[:, 0])
    keep = right_of | (hi[:, 0] < 0)
    us = [u(x, za), u(x, zb)]
    vs = [v(y, z) for y in (lo[:, 1], hi[:, 1]) for z in (za, zb)]
    parts.append((keep, _X_FACE, np.where(right_of, 1, 0), x, lo[:, 1], hi[:, 1], us, vs))
    # Horizontal faces (y = const): tops below the camera, bottoms above it.
    above = lo[:, 1] > 0
    y = np.where(above, lo[:, 1], hi[:, 1])
    keep = above | (hi[:, 1] < 0)
    us = [u(xx, z) for xx in (lo[:, 0], hi[:, 0]) for z in (za, zb)]
    vs = [v(y, za), v(y, zb)]
    parts.append((keep, _Y_FACE, np.where(above, 3, 2), y, lo[:, 0], hi[:, 0], us, vs))
    # Faces towards the camera (z = const): the near end of boxes wholly ahead.
    keep = lo[:, 2] > NEAR_M
    z = np.where(keep, lo[:, 2], 1.0)
    parts.append(
        (
            keep,
            _Z_FACE,
            np.full(len(z), 4),
            z,
            lo[:, 0],
            hi[:, 0],
            [u(lo[:, 0], z), u(hi[:, 0], z)],
            [v(lo[:, 1], z), v(hi[:, 1], z)],
        )
    )

    names = ("box", "axis", "normal", "plane", "lo", "hi", "pixels")
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for keep, axis, normal, plane, first_lo, first_hi, us, vs in parts:
        r0 = np.ceil(np.minimum.reduce(vs))
        r1 = np.floor(np.maximum.reduce(vs)) + 1
        c0 = np.ceil(np.minimum.reduce(us))
        c1 = np.floor(np.maximum.reduce(us)) + 1
        pix = np.stack(
            [np.clip(r0, 0, height), np.clip(r1, 0, height), np.clip(c0, 0, width), np.clip(c1, 0, width)],
            axis=1,
        )
        keep = keep & (pix[:, 1] > pix[:, 0]) & (pix[:, 3] > pix[:, 2])
        out["box"].append(index[keep])
        out["axis"].append(np.full(int(keep.sum()), axis))
        out["normal"].append(normal[keep])
        out["plane"].append(plane[keep])
        # For faces across the road the free coordinate tested per pixel is y, otherwise x.
        out["lo"].append(first_lo[keep])
        out["hi"].append(first_hi[keep])
        out["pixels"].append(pix[keep].astype(np.int64))
    return _Faces(**{name: np.concatenate(v) for name, v in out.items()})


def _draw(faces: _Faces, rays: _Rays, depth: np.ndarray, ids: np.ndarray) -> None:
    """Intersect every face with the rays of its rectangle; keep it where it is the nearest hit."""
    k = rays.k
    # Python scalars: numpy's per-call overhead dominates small faces, so keep the loop lean.
    rows = zip(
        faces.axis.tolist(),
        faces.plane.tolist(),
        faces.lo.tolist(),
        faces.hi.tolist(),
        faces.pixels.tolist(),
        strict=True,
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for face_id, (axis, plane, lo, hi, (r0, r1, c0, c1)) in enumerate(rows, start=2):
            d = depth[r0:r1, c0:c1]
            if axis == _Z_FACE:  # constant depth; the rectangle is the face exactly
                hit = d > plane
                t: np.ndarray | float = plane
            elif axis == _X_FACE:  # depth per column; inside between two rows per column
                t = (plane * rays.inv_dx[c0:c1])[None, :]
                top, bottom = k.cy - k.fy * hi / t, k.cy - k.fy * lo / t
                r = rays.rows[r0:r1, None]
                hit = (r >= top) & (r <= bottom) & (t < d)
            else:  # depth per row; inside between two columns per row
                t = (plane * rays.inv_dy[r0:r1])[:, None]
                left, right = k.cx + k.fx * lo / t, k.cx + k.fx * hi / t
                c = rays.cols[None, c0:c1]
                hit = (c >= left) & (c <= right) & (t < d)
            np.copyto(d, t, where=hit)
            np.copyto(ids[r0:r1, c0:c1], face_id, where=hit)


def _shade(
    config: SceneConfig,
    rays: _Rays,
    boxes: Boxes,
    faces: _Faces,
    camera: np.ndarray,
    depth: np.ndarray,
    ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Albedo per material, Lambertian shading per face normal, distance haze; sky from the cache.

    Works on whole flattened images (sky pixels included, then overwritten): cheaper than gathering the
    non-sky pixels first. Few, large temporaries: this is where most of a frame's time goes.
    """
    light = lighting(config.seed)
    tables = _face_tables(boxes, faces, camera, light)
    face = ids.ravel()
    t = depth.ravel()
    axis = tables.axis[face]
    a = np.where(axis == _X_FACE, t, (depth * rays.dx).ravel())
    a += tables.offset_a[face]
    b = np.where(axis == _Y_FACE, t, (depth * rays.dy[:, None]).ravel())
    b += tables.offset_b[face]
    material = tables.material[face]
    albedo = np.empty((len(face), 3), np.float32)
    road = np.flatnonzero(material == _ROAD)
    for mat, rule in _RULES:
        sel = road if mat == _ROAD else np.flatnonzero(material == mat)
        if len(sel):
            surface = textures.Surface(a[sel], b[sel], axis[sel], face[sel], tables.colour, tables.params)
            _put_rows(albedo, sel, rule(surface))
    # Light, haze and the 0…255 scale (with +0.5 for rounding) folded into one gain and one offset.
    gain = tables.shade[face]
    if config.fog:
        fog = np.square(t * np.float32(1 / config.max_depth))
        gain *= 1 - fog
        offset = fog[:, None] * (np.asarray(light.haze, np.float32) * 255) + np.float32(0.5)
    else:
        offset = np.float32(0.5)
    albedo *= gain[:, None]
    albedo += offset
    np.clip(albedo, 0, 255, out=albedo)
    image = albedo.astype(np.uint8).reshape(*ids.shape, 3)
    np.copyto(image, _sky(config), where=(ids == _SKY_ID)[..., None])
    material[road[np.abs(a[road]) > ROAD_HALF_M]] = Material.VERGE
    return image, material.reshape(ids.shape)


_PIXEL = np.dtype((np.void, 12))  # one BGR float32 triple as a single item


def _put_rows(dst: np.ndarray, index: np.ndarray, rows: np.ndarray) -> None:
    """dst[index] = rows for (n, 3) float32 rows; as 12-byte items np.put is ~4× faster than indexing."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    np.put(dst.view(_PIXEL).ravel(), index, rows.view(_PIXEL).ravel())


@dataclass(frozen=True)
class _Tables:
    """Per face id (0 sky, 1 road, 2… box faces): what the shading needs."""

    material: np.ndarray
    axis: np.ndarray
    shade: np.ndarray
    offset_a: np.ndarray  # camera position minus texture origin, along the face's a coordinate
    offset_b: np.ndarray
    colour: np.ndarray
    params: np.ndarray


def _face_tables(boxes: Boxes, faces: _Faces, camera: np.ndarray, light: Lighting) -> _Tables:
    sun = np.asarray(light.sun)
    ambient, brightness = light.ambient, light.brightness
    lambert = brightness * (ambient + (1 - ambient) * np.maximum(_NORMALS @ sun, 0.0))
    # Texture origin: each box's corner, except the pavement (continuous along the road, like the road
    # itself), which uses the ground's origin so that its slabs line up from frame to frame.
    z_origin = math.floor(camera[2] / textures.GROUND_PERIOD_M) * textures.GROUND_PERIOD_M
    origin = boxes.lo[faces.box].copy()
    origin[boxes.material[faces.box] == Material.PAVEMENT] = (0.0, 0.0, z_origin)
    rel = camera - origin
    a_axis = np.where(faces.axis == _X_FACE, 2, 0)
    b_axis = np.where(faces.axis == _Y_FACE, 2, 1)
    rows = np.arange(len(faces.box))
    n = len(faces.box) + 2
    material = np.zeros(n, np.uint8)
    material[1] = Material.ROAD
    material[2:] = boxes.material[faces.box]
    axis = np.zeros(n, np.uint8)
    axis[1] = _Y_FACE
    axis[2:] = faces.axis
    shade = np.zeros(n, np.float32)  # × 255: images are written in 0…255
    shade[1] = 255 * lambert[2]
    shade[2:] = 255 * lambert[faces.normal]
    offset_a = np.zeros(n, np.float32)
    offset_b = np.zeros(n, np.float32)
    offset_a[1], offset_b[1] = camera[0], camera[2] - z_origin
    offset_a[2:] = rel[rows, a_axis]
    offset_b[2:] = rel[rows, b_axis]
    colour = np.zeros((n, 3), np.float32)
    colour[2:] = boxes.colour[faces.box]
    params = np.zeros((n, 3), np.float32)
    params[2:] = boxes.params[faces.box]
    return _Tables(material, axis, shade, offset_a, offset_b, colour, params)
