"""What stands along the road: buildings, walls, trees, poles and vehicles as axis-aligned boxes.

World axes: x to the right, y up, z down the road (forward); the road surface is y = 0. Content is
generated per road segment from `default_rng([seed, stream, key, segment])`, so any stretch of road is
the same whichever frame asks for it first: a frame renders alone exactly as it does in a sequence.
Moving vehicles live in their lane's own moving coordinate w = z − v·t, segmented the same way.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from depthmask.synthetic.config import SceneConfig

ROAD_HALF_M = 5.5  # kerb to kerb 11 m: two 3.5 m lanes and a 2 m parking strip each side
EDGE_LINE_M = 3.5  # the solid edge lines, |x| = 3.5; the dashed centre line is x = 0
LANE_M = 3.5
EGO_X = LANE_M / 2  # the camera drives in the middle of the right-hand lane
PAVEMENT_M = 3.0
KERB_M = 0.15
SEGMENT_M = 30.0  # roadside content is laid out per 30 m of road
LANE_SEGMENT_M = 24.0  # vehicles per 24 m of lane (four 6 m parking slots)
LEAD_MIN_GAP_M = 15.0  # vehicles ahead in the ego lane start at least this far ahead and pull away

# Stream tags keep the random streams of different kinds of content independent.
_SIDE, _LANE, _LIGHT = 1, 2, 3


class Material(IntEnum):
    """What a pixel shows; also the value of `SyntheticFrame.labels`."""

    SKY = 0
    ROAD = 1
    VERGE = 2  # ground beside the pavement (grass, dirt)
    PAVEMENT = 3  # pavement top and kerb
    BUILDING = 4
    WALL = 5
    VEGETATION = 6
    POLE = 7
    VEHICLE = 8


Vec = tuple[float, ...]
BoxRow = tuple[Vec, Vec, int, Vec, Vec]  # lo, hi, material, colour, params


@dataclass(frozen=True)
class Boxes:
    """Axis-aligned boxes as parallel arrays (world metres; colour BGR albedo in 0…1).

    `params` is material-specific: BUILDING (window spacing, floor height, 0), VEHICLE (lights: 1 rear
    red / 2 front white, width, 1 for the glazed cabin).
    """

    lo: np.ndarray  # (n, 3) float64
    hi: np.ndarray  # (n, 3) float64
    material: np.ndarray  # (n,) uint8
    colour: np.ndarray  # (n, 3) float32
    params: np.ndarray  # (n, 3) float32

    def __len__(self) -> int:
        return len(self.material)

    @staticmethod
    def of(rows: list[BoxRow]) -> Boxes:
        """Boxes from (lo, hi, material, colour, params) rows."""
        if not rows:
            return EMPTY
        lo, hi, mat, col, par = zip(*rows, strict=True)
        return Boxes(
            np.array(lo, np.float64),
            np.array(hi, np.float64),
            np.array(mat, np.uint8),
            np.array(col, np.float32),
            np.array(par, np.float32),
        )

    @staticmethod
    def concat(parts: list[Boxes]) -> Boxes:
        """All boxes of `parts` in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return EMPTY
        return Boxes(
            np.concatenate([p.lo for p in parts]),
            np.concatenate([p.hi for p in parts]),
            np.concatenate([p.material for p in parts]),
            np.concatenate([p.colour for p in parts]),
            np.concatenate([p.params for p in parts]),
        )

    def shifted_z(self, dz: float) -> Boxes:
        """The same boxes moved `dz` metres along the road."""
        shift = np.array([0.0, 0.0, dz])
        return Boxes(self.lo + shift, self.hi + shift, self.material, self.colour, self.params)


EMPTY = Boxes(
    np.zeros((0, 3)),
    np.zeros((0, 3)),
    np.zeros(0, np.uint8),
    np.zeros((0, 3), np.float32),
    np.zeros((0, 3), np.float32),
)


@dataclass(frozen=True)
class Lighting:
    """Per-sequence light: sun direction (unit, world axes), brightness, ambient share and sky tint."""

    sun: tuple[float, float, float]
    brightness: float
    ambient: float
    zenith: tuple[float, float, float]  # BGR
    haze: tuple[float, float, float]  # BGR, the horizon and the fog colour
    clouds: float  # 0 clear … 1 overcast


@dataclass(frozen=True)
class Lane:
    """A lane of vehicles: centre x, speed along z (m/s), which face shows lights, nearest start in w."""

    x: float
    speed: float
    lights: int  # 1: the camera sees rear faces (red lights), 2: front faces (white lights)
    parked: bool
    min_w: float = -math.inf


@functools.lru_cache(maxsize=64)
def lighting(seed: int) -> Lighting:
    """The sequence's sun, brightness and sky colours."""
    rng = np.random.default_rng([seed, _LIGHT])
    elevation = math.radians(rng.uniform(20, 65))
    azimuth = rng.uniform(0, 2 * math.pi)
    sun = (
        math.cos(elevation) * math.sin(azimuth),
        math.sin(elevation),
        math.cos(elevation) * math.cos(azimuth),
    )
    clouds = float(rng.choice([0.0, 0.3, 0.6, 1.0], p=[0.35, 0.3, 0.2, 0.15]))
    blue = np.array([0.85, 0.6, 0.35]) * rng.uniform(0.9, 1.1, 3)
    grey = np.array([0.75, 0.74, 0.72])
    zenith = (1 - 0.7 * clouds) * blue + 0.7 * clouds * grey
    haze = np.clip(0.5 * zenith + 0.5 * np.array([0.92, 0.9, 0.86]), 0, 1)
    return Lighting(
        sun=sun,
        brightness=float(rng.uniform(0.8, 1.15) * (1 - 0.2 * clouds)),
        ambient=float(0.4 + 0.35 * clouds),
        zenith=tuple(float(c) for c in zenith),
        haze=tuple(float(c) for c in haze),
        clouds=clouds,
    )


@functools.lru_cache(maxsize=64)
def lanes(seed: int, speed: float) -> tuple[Lane, ...]:
    """The four lanes: parked left, oncoming, the ego lane ahead (pulling away), parked right."""
    rng = np.random.default_rng([seed, _LANE])
    oncoming = -float(rng.uniform(6, 14))
    lead = float(speed + rng.uniform(0.5, 3))  # faster than the camera: vehicles ahead never get closer
    parked = ROAD_HALF_M - 1.0
    return (
        Lane(-parked, 0.0, 2, True),
        Lane(-EGO_X, oncoming, 2, False),
        Lane(EGO_X, lead, 1, False, min_w=LEAD_MIN_GAP_M),
        Lane(parked, 0.0, 1, True),
    )


def boxes_near(config: SceneConfig, camera_z: float, time: float) -> Boxes:
    """Every box that can be seen from `camera_z` (within max_depth ahead) at `time` seconds."""
    near, far = camera_z, camera_z + config.max_depth
    parts = [_pavements(near - 1.0, far + 1.0)]
    # From 3 m back: tree crowns overhang their segment's end by up to 2.2 m.
    for s in range(math.floor((near - 3.0) / SEGMENT_M), math.floor(far / SEGMENT_M) + 1):
        for side in (0, 1):
            parts.append(_roadside(config.seed, side, s))
    for key, lane in enumerate(lanes(config.seed, float(config.speed))):
        shift = lane.speed * time
        lo_w, hi_w = near - 8.0 - shift, far - shift  # 8 m: longer than any vehicle
        for s in range(math.floor(lo_w / LANE_SEGMENT_M), math.floor(hi_w / LANE_SEGMENT_M) + 1):
            cars = _lane_segment(config.seed, key, lane, s, float(config.traffic))
            if len(cars):
                parts.append(cars.shifted_z(shift) if shift else cars)
    return Boxes.concat(parts)


def _pavements(z0: float, z1: float) -> Boxes:
    grey = (0.58, 0.58, 0.56)
    out = ROAD_HALF_M + PAVEMENT_M
    return Boxes.of(
        [
            ((-out, 0.0, z0), (-ROAD_HALF_M, KERB_M, z1), Material.PAVEMENT, grey, (0, 0, 0)),
            ((ROAD_HALF_M, 0.0, z0), (out, KERB_M, z1), Material.PAVEMENT, grey, (0, 0, 0)),
        ]
    )


_FACADES = np.array(
    [  # BGR albedo: brick, sandstone, render white, grey concrete, ochre, pale blue, dark brick
        [0.22, 0.3, 0.55],
        [0.55, 0.68, 0.75],
        [0.78, 0.8, 0.8],
        [0.55, 0.55, 0.53],
        [0.3, 0.55, 0.7],
        [0.7, 0.62, 0.5],
        [0.2, 0.22, 0.38],
    ]
)
_VEHICLES = np.array(
    [  # BGR albedo: white, silver, black, red, blue, dark green, yellow
        [0.85, 0.85, 0.85],
        [0.62, 0.62, 0.6],
        [0.08, 0.08, 0.08],
        [0.1, 0.1, 0.65],
        [0.6, 0.25, 0.1],
        [0.2, 0.35, 0.15],
        [0.1, 0.65, 0.8],
    ]
)


def _key(segment: int) -> int:
    """Segment numbers as SeedSequence keys, which must be ≥ 0: 0, −1, 1, −2 … → 0, 1, 2, 3 …"""
    return 2 * segment if segment >= 0 else -2 * segment - 1


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float = 0.08) -> tuple[float, float, float]:
    c = np.clip(colour + rng.uniform(-amount, amount, 3), 0.02, 0.98)
    return (float(c[0]), float(c[1]), float(c[2]))


@functools.lru_cache(maxsize=512)
def _roadside(seed: int, side: int, segment: int) -> Boxes:
    """Buildings, walls, hedges, trees and a lamp post on one side of one segment."""
    rng = np.random.default_rng([seed, _SIDE, side, _key(segment)])
    sign = 1.0 if side else -1.0
    inner = ROAD_HALF_M + PAVEMENT_M  # where the pavement ends
    rows: list[BoxRow] = []

    def box(
        x_near: float,
        x_far: float,
        y0: float,
        y1: float,
        z0: float,
        z1: float,
        mat: Material,
        colour: Vec,
        params: Vec = (0.0, 0.0, 0.0),
    ) -> None:
        xs = sorted((sign * x_near, sign * x_far))
        rows.append(((xs[0], y0, z0), (xs[1], y1, z1), mat, colour, params))

    z, end = segment * SEGMENT_M + rng.uniform(0, 3), (segment + 1) * SEGMENT_M
    while z < end - 3:
        kind = rng.choice(4, p=[0.62, 0.14, 0.14, 0.1])  # building, wall/hedge, trees, empty lot
        z1 = min(z + rng.uniform(8, 22), end)
        if kind == 0:
            setback = float(rng.choice([0.0, 0.0, 0.5, 2.0, 4.0, 7.0]))
            height = rng.uniform(4.5, 22)
            params = (rng.uniform(1.8, 3.4), rng.uniform(2.8, 3.6), 0.0)
            colour = _jitter(rng, _FACADES[rng.integers(len(_FACADES))])
            box(inner + setback, inner + setback + 14, 0.0, height, z, z1, Material.BUILDING, colour, params)
        elif kind == 1:
            hedge = rng.random() < 0.4
            mat = Material.VEGETATION if hedge else Material.WALL
            colour = _jitter(rng, np.array([0.15, 0.4, 0.2] if hedge else [0.6, 0.62, 0.64]))
            x0 = inner + rng.uniform(0, 1.0)
            box(x0, x0 + (1.2 if hedge else 0.3), 0.0, rng.uniform(1.0, 2.4), z, z1, mat, colour)
        elif kind == 2:
            for zt in np.arange(z + 2, z1 - 1, rng.uniform(5, 9)):
                x = inner + rng.uniform(1.5, 4)
                trunk = rng.uniform(1.8, 3.0)
                crown = rng.uniform(1.2, 2.2)
                box(x - 0.15, x + 0.15, 0.0, trunk, zt - 0.15, zt + 0.15, Material.POLE, (0.12, 0.2, 0.3))
                box(
                    x - crown,
                    x + crown,
                    trunk,
                    trunk + rng.uniform(2.5, 4.5),
                    zt - crown,
                    zt + crown,
                    Material.VEGETATION,
                    _jitter(rng, np.array([0.12, 0.38, 0.2]), 0.06),
                )
        z = z1 + float(rng.choice([0.0, 0.0, 0.0, 1.5, 4.0, 8.0]))
    if rng.random() < 0.6:  # a lamp post at the kerb
        zp = segment * SEGMENT_M + rng.uniform(0, SEGMENT_M - 0.2)
        x = ROAD_HALF_M + 0.4
        box(x, x + 0.2, 0.0, rng.uniform(6, 8), zp, zp + 0.2, Material.POLE, (0.35, 0.36, 0.38))
    return Boxes.of(rows)


@functools.lru_cache(maxsize=512)
def _lane_segment(seed: int, key: int, lane: Lane, segment: int, traffic: float) -> Boxes:
    """Vehicles of one lane segment, in the lane's moving coordinate w (z at time 0)."""
    rng = np.random.default_rng([seed, _LANE, key, _key(segment)])
    rows: list[BoxRow] = []
    chance = (0.25 + 0.6 * traffic) if lane.parked else 0.9 * traffic
    for slot in range(4 if lane.parked else 1):
        if rng.random() >= chance:
            continue
        if lane.parked:
            w0 = segment * LANE_SEGMENT_M + slot * 6.0 + rng.uniform(0.3, 1.0)
        else:
            w0 = segment * LANE_SEGMENT_M + rng.uniform(0.5, LANE_SEGMENT_M - 6.5)
        if w0 < lane.min_w:
            continue
        rows.extend(_vehicle(rng, lane.x, w0, lane.lights))
    return Boxes.of(rows)


def _vehicle(rng: np.random.Generator, x: float, z0: float, lights: int) -> list[BoxRow]:
    """A van (one box) or a car (body and a glazed cabin) with its rear end at z0."""
    colour = _jitter(rng, _VEHICLES[rng.integers(len(_VEHICLES))], 0.05)
    if rng.random() < 0.15:
        length, width, height = rng.uniform(4.8, 5.6), 2.0, rng.uniform(2.0, 2.5)
        lo, hi = (x - width / 2, 0.0, z0), (x + width / 2, height, z0 + length)
        return [(lo, hi, Material.VEHICLE, colour, (lights, width, 0.0))]
    length, width = rng.uniform(3.8, 4.7), rng.uniform(1.7, 1.9)
    body, cabin, inset = rng.uniform(0.8, 1.0), rng.uniform(0.45, 0.6), 0.12
    lo, hi = (x - width / 2, 0.0, z0), (x + width / 2, body, z0 + length)
    cabin_lo = (x - width / 2 + inset, body, z0 + 0.28 * length)
    cabin_hi = (x + width / 2 - inset, body + cabin, z0 + 0.78 * length)
    return [
        (lo, hi, Material.VEHICLE, colour, (lights, width, 0.0)),
        (cabin_lo, cabin_hi, Material.VEHICLE, colour, (0.0, width - 2 * inset, 1.0)),
    ]
