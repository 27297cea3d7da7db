"""The limits a golden verify is gated on: defaults < a gate file (.json or .toml) < command-line flags."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from depthmask.contract.constants import GATE_MAX_ABS_REL, GATE_MIN_IOU
from depthmask.errors import ConfigError, MissingDependencyError, closest, shown


@dataclass(frozen=True)
class GateLimits:
    """Pass/fail limits (None: not gated). Depth abs_rel covers `depth` and `depth_masked`."""

    max_abs_rel: float | None = GATE_MAX_ABS_REL
    min_iou: float | None = GATE_MIN_IOU
    max_p99_ms: float | None = None
    min_fps: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"gate limit {f.name} must be a finite number; got {shown(value)}")
            if value < 0:
                raise ConfigError(f"gate limit {f.name} must be ≥ 0; got {value}")
        if self.min_iou is not None and self.min_iou > 1:
            raise ConfigError(f"gate limit min_iou is an IoU in [0, 1]; got {self.min_iou}")

    def updated(self, values: Mapping[str, Any], origin: str = "flags") -> GateLimits:
        """A copy with `values` (keys as the dataclass or the flags spell them: max_abs_rel, max-abs-rel)."""
        known = [f.name for f in fields(self)]
        clean: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ConfigError(
                    f"{origin}: unknown gate key {key!r}; known: {', '.join(known)}.{closest(name, known)}"
                )
            clean[name] = float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        try:
            return replace(self, **clean)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None


def read_gate(path: str | Path) -> dict[str, Any]:
    """The limits a gate file sets (a flat .json object or .toml table); keys checked by `updated`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"gate file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
        elif suffix == ".toml":
            data = _toml().loads(path.read_text())
        else:
            raise ConfigError(f"gate file {path}: use a .json or .toml file (got {suffix or 'no suffix'!r})")
    except (ValueError, UnicodeDecodeError) as exc:  # JSON's and TOML's decode errors are ValueErrors
        raise ConfigError(f"gate file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"gate file {path} must hold one object of limits; got {type(data).__name__}")
    GateLimits().updated(data, origin=f"gate file {path}")  # refuse unknown keys and bad values here
    return data


def _toml() -> Any:
    """tomllib (Python ≥ 3.11), or tomli where it is installed on 3.10."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise MissingDependencyError(
                "a .toml gate file on Python 3.10 needs tomli: pip install tomli (or use a .json file)"
            ) from None
    return tomllib
