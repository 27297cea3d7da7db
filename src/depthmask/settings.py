"""Helpers shared by the frozen settings dataclasses of every stage (export, bench, …)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from depthmask.errors import ConfigError, closest


def settings_dict(settings: Any) -> dict[str, Any]:
    """A settings dataclass as JSON-ready fields: paths as strings, tuples as lists."""
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        out[f.name] = (
            str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        )
    return out


def check_choice(option: str, value: Any, choices: tuple[str, ...], *, optional: bool = False) -> None:
    """ConfigError unless `value` is one of `choices` (or None when `optional`), with the closest one."""
    if (value is None and optional) or value in choices:
        return
    raise ConfigError(
        f"{option} {value!r} is not one of {', '.join(choices)}." + closest(str(value), choices)
    )


def parse_percentages(text: str, option: str) -> tuple[float, ...]:
    """'5,10,100' → (0.05, 0.1, 1.0): shares written in percent (`--curve-keep`, `--curve`)."""
    try:
        return tuple(float(v) / 100 for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"{option} takes percentages separated by commas, e.g. 5,10,20; got {text!r}"
        ) from None


def parse_size(text: str | None, option: str = "--size") -> tuple[int, int] | None:
    """'228x304' (H x W in pixels; 'X' and '×' read as 'x') → (228, 304); None → None (the default size).

    The one spelling of a frame size on every command (`--size`, `--depth-size`) and in dataset specs."""
    if text is None:
        return None
    try:
        h, w = (int(v) for v in text.strip().lower().replace("×", "x").split("x"))
    except ValueError:
        raise ConfigError(f"{option} takes HxW in pixels, e.g. 228x304; got {text!r}") from None
    if h <= 0 or w <= 0:
        raise ConfigError(f"{option} takes a positive HxW in pixels, e.g. 228x304; got {text!r}")
    return h, w
