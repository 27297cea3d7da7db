"""`synthetic:` — the built-in procedural driving scene as a frame source (no files needed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from depthmask.errors import SourceError
from depthmask.runtime.sources.base import Frame, SourceBase

DEFAULT_FRAMES = 120


class SyntheticSource(SourceBase):
    """Frames of the procedural scene, timestamped by its frame rate; depth kept in `Frame.meta`."""

    def __init__(self, frames: int = DEFAULT_FRAMES, **scene: Any) -> None:
        from depthmask.synthetic.scene import SceneConfig

        fields = {f.name for f in dataclasses.fields(SceneConfig)}
        unknown = sorted(set(scene) - fields)
        if unknown:
            raise SourceError(
                f"synthetic: unknown option(s) {', '.join(unknown)}; "
                f"known: frames, {', '.join(sorted(fields))}"
            )
        if frames <= 0:
            raise SourceError(f"synthetic: frames must be positive, got {frames}")
        self.config = SceneConfig(**scene)
        self.frames = frames
        self.source_id = "synthetic:" + ",".join(f"{k}={v}" for k, v in {"frames": frames, **scene}.items())

    def __iter__(self) -> Iterator[Frame]:
        from depthmask.synthetic.scene import render_frame

        for i in range(self.frames):
            f = render_frame(self.config, i)
            yield Frame(i, f.timestamp, f.image, self.source_id, meta={"depth": f.depth})

    def __len__(self) -> int:
        return self.frames

    def describe(self) -> dict[str, Any]:
        """Kind, settings, frame count and rate."""
        return {
            "kind": "synthetic",
            "uri": self.source_id,
            "frames": self.frames,
            "fps": self.config.fps,
            "size": [self.config.height, self.config.width],
        }


def parse_options(text: str) -> dict[str, Any]:
    """'frames=120,seed=3' → {'frames': 120, 'seed': 3} (ints, floats, true/false, else strings)."""
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise SourceError(
                f"synthetic: option {item!r} is not key=value (e.g. synthetic:frames=120,seed=3)"
            )
        out[key.strip()] = _value(value.strip())
    return out


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
