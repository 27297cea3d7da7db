"""`synthetic:` — the built-in procedural driving scene as a frame source (no files needed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from numbers import Integral
from typing import Any

from depthmask.errors import SourceError, closest
from depthmask.sources.base import Frame, SourceBase, shorten
from depthmask.sources.images import MAX_IMAGE_PIXELS

DEFAULT_FRAMES = 120
MAX_FRAMES = 10**8  # 116 days at 10 fps: any more is a typo


class SyntheticSource(SourceBase):
    """Frames of the procedural scene, timestamped by its frame rate; depth kept in `Frame.meta`."""

    def __init__(self, frames: int = DEFAULT_FRAMES, **scene: Any) -> None:
        from depthmask.synthetic.scene import SceneConfig

        fields = {f.name for f in dataclasses.fields(SceneConfig)}
        known = ["frames", *sorted(fields)]
        unknown = sorted(set(scene) - fields)
        if unknown:
            key = unknown[0]
            raise SourceError(
                f"synthetic: unknown option {shorten(key)!r}; known: {', '.join(known)}."
                + closest(key, known)
            )
        frames = frame_count(frames)
        self.config = SceneConfig(**scene)
        if self.config.height * self.config.width > MAX_IMAGE_PIXELS:  # would exhaust memory, not render
            raise SourceError(
                f"synthetic: height={self.config.height} × width={self.config.width} is more than "
                f"{MAX_IMAGE_PIXELS:,} pixels; the default is height=256, width=832"
            )
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
        """Kind, settings, frame count and rate (it always ends normally: "end" is None)."""
        return {
            "kind": "synthetic",
            "uri": self.source_id,
            "frames": self.frames,
            "fps": self.config.fps,
            "size": [self.config.height, self.config.width],
            "end": self.end_note,
        }


def frame_count(frames: Any) -> int:
    """`frames` as the number of frames of a synthetic drive; SourceError unless a whole number in
    1 … MAX_FRAMES (the one rule for `synthetic:` sources and training sets alike)."""
    if isinstance(frames, bool) or not isinstance(frames, Integral) or not 1 <= frames <= MAX_FRAMES:
        raise SourceError(
            f"synthetic: frames={shorten(str(frames))} must be a whole number of frames in 1 … "
            f"{MAX_FRAMES:,}, e.g. frames={DEFAULT_FRAMES}"
        )
    return int(frames)


def parse_options(text: str) -> dict[str, Any]:
    """'frames=120,seed=3' → {'frames': 120, 'seed': 3} (ints, floats, true/false, else strings).

    SourceError for an item that is not key=value, an empty key, or a key given twice.
    """
    out: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SourceError(
                f"synthetic: option {shorten(item)!r} is not key=value (e.g. synthetic:frames=120,seed=3)"
            )
        if key in out:
            raise SourceError(f"synthetic: option {shorten(key)!r} is given twice; give each option once")
        out[key] = _value(value.strip())
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
