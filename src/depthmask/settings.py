"""Helpers shared by the frozen settings dataclasses of every stage (export, bench, …)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


def settings_dict(settings: Any) -> dict[str, Any]:
    """A settings dataclass as JSON-ready fields: paths as strings, tuples as lists."""
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        out[f.name] = (
            str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        )
    return out
