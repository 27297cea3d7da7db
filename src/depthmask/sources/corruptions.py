"""Weather, sensor and compression corruptions of frames at severities 1–5, in the spirit of KITTI-C and
RoboDepth, made by Albumentations (`pip install 'depthmask[train]'`), not by hand.

Each (corruption, severity) is one Albumentations transform with fixed parameters, so a severity always
means the same amount; what stays random (where rain drops fall, the noise) comes from a seeded pipeline,
so a rerun corrupts the same frames the same way.

| corruption | transform | severity 1 → 5 |
|---|---|---|
| fog | RandomFog | fog coefficient 0.2, 0.35, 0.5, 0.7, 0.9 |
| rain | RandomRain | drizzle, drizzle, heavy, heavy, torrential; brightness × 0.9 … 0.6 |
| snow | RandomSnow | snow point 0.1 … 0.5 (bleach) |
| noise | GaussNoise | std 0.04, 0.08, 0.12, 0.18, 0.26 of full scale |
| blur | GaussianBlur | σ 1, 2, 3, 4, 6 pixels |
| brightness | RandomBrightnessContrast | brightness + 0.1 … + 0.5 |
| jpeg | ImageCompression | JPEG quality 25, 18, 15, 10, 7 (Hendrycks & Dietterich's) |
"""

from __future__ import annotations

from typing import Any

import numpy as np

from depthmask.errors import ConfigError, closest, require

SEVERITIES = (1, 2, 3, 4, 5)
LEVELS: dict[str, tuple[Any, ...]] = {  # severity 1 … 5 of each corruption (the module table)
    "fog": (0.2, 0.35, 0.5, 0.7, 0.9),
    "rain": (("drizzle", 0.9), ("drizzle", 0.8), ("heavy", 0.75), ("heavy", 0.7), ("torrential", 0.6)),
    "snow": (0.1, 0.2, 0.3, 0.4, 0.5),
    "noise": (0.04, 0.08, 0.12, 0.18, 0.26),
    "blur": (1.0, 2.0, 3.0, 4.0, 6.0),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "jpeg": (25, 18, 15, 10, 7),
}
CORRUPTIONS = tuple(LEVELS)


def _transform(name: str, severity: int) -> Any:
    import albumentations as A

    v = LEVELS[name][severity - 1]
    if name == "fog":
        return A.RandomFog(fog_coef_range=(v, v), alpha_coef=0.08, p=1)
    if name == "rain":
        return A.RandomRain(rain_type=v[0], brightness_coefficient=v[1], p=1)
    if name == "snow":
        return A.RandomSnow(snow_point_range=(v, v), p=1)
    if name == "noise":
        return A.GaussNoise(std_range=(v, v), p=1)
    if name == "blur":
        return A.GaussianBlur(sigma_limit=(v, v), blur_limit=0, p=1)
    if name == "brightness":
        return A.RandomBrightnessContrast(brightness_limit=(v, v), contrast_limit=(0.0, 0.0), p=1)
    return A.ImageCompression(quality_range=(v, v), p=1)


def check_corruptions(names: tuple[str, ...], severities: tuple[int, ...]) -> None:
    """ConfigError for an unknown corruption or a severity outside 1–5."""
    for name in names:
        if name not in CORRUPTIONS:
            raise ConfigError(
                f"--corrupt {name!r}: unknown; choose from {', '.join(CORRUPTIONS)}."
                + closest(name, CORRUPTIONS)
            )
    if (
        not severities
        or any(s not in SEVERITIES for s in severities)
        or len(set(severities)) != len(severities)
    ):
        raise ConfigError(f"--severity {severities}: give distinct levels from 1 to 5, e.g. 1..5 or 1,3,5")


class Corruptor:
    """One corruption at one severity, applied to uint8 RGB (or BGR: the transforms are colour-blind to
    channel order except fog and snow's whitening, which is grey) H×W×3 frames in turn."""

    def __init__(self, name: str, severity: int, seed: int = 0) -> None:
        require("albumentations", "train", "--corrupt")
        import albumentations as A

        check_corruptions((name,), (severity,))
        self.name, self.severity = name, severity
        self.pipeline = A.Compose([_transform(name, severity)], seed=seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The corrupted copy of one frame (same shape, uint8)."""
        return self.pipeline(image=np.ascontiguousarray(image))["image"]
