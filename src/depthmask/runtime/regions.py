"""Region-conditioned audits: boxes in source pixels → the weight maps of a region graph's `regions` input.

Boxes come from `--roi NAME=X0,Y0,X1,Y1` (the same on every frame) and from a region file (`--roi-file`,
JSONL, one line per frame: `{"frame": 12, "source": "drive_0001", "boxes": [{"name": "lead", "box":
[x0, y0, x1, y1]}]}`, e.g. a detector's output; "source" may be left out to mean every source). Map 0 is
always the frame's content in the model's input (0 on letterbox padding); each box is drawn through the
frame's `Placement`, clipped to what the model sees, with the exact share of each input pixel it covers
(so a box over the whole frame is the content map itself).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.errors import ConfigError, shown
from depthmask.sources.fit import Placement

NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_BOXES = 255  # per frame: each is a frame-sized float map (the graph's limit is the metadata's `max`)
MAX_FILE_LINES = 10**7


@dataclass(frozen=True)
class Box:
    """A named box in source pixels: x0, y0 (top-left) to x1, y1 (bottom-right, exclusive)."""

    name: str
    x0: float
    y0: float
    x1: float
    y1: float

    def to_list(self) -> list[float]:
        """[x0, y0, x1, y1] as recorded."""
        return [self.x0, self.y0, self.x1, self.y1]


def make_box(name: Any, coords: Any, where: str) -> Box:
    """A Box from a name and four numbers, or ConfigError naming `where`, the value and the form."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: region name {shown(name)} must be 1–64 letters, digits or _.:- (e.g. lead_car)"
        )
    ok = (
        isinstance(coords, (list, tuple)) and len(coords) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in coords)
        and all(math.isfinite(v) and abs(v) < 1e7 for v in coords)
    )  # fmt: skip
    if not ok:
        raise ConfigError(f"{where}: box {shown(coords)} must be four finite numbers x0, y0, x1, y1 (pixels)")
    x0, y0, x1, y1 = (float(v) for v in coords)
    if not (x1 > x0 and y1 > y0):
        raise ConfigError(
            f"{where}: box {name} = {shown(coords)} is empty; write x0, y0 (top-left) then x1 > x0, y1 > y0"
        )
    return Box(name, x0, y0, x1, y1)


def parse_roi(text: str) -> Box:
    """`NAME=X0,Y0,X1,Y1` (source pixels) → Box; ConfigError naming the text and the form."""
    name, sep, rest = str(text).partition("=")
    if not sep:
        raise ConfigError(
            f"--roi {shown(text)}: write NAME=X0,Y0,X1,Y1 in the source's pixels, e.g. lead=400,150,800,375"
        )
    try:
        coords = [float(v) for v in rest.split(",")]
    except ValueError:
        raise ConfigError(
            f"--roi {shown(text)}: X0,Y0,X1,Y1 must be numbers, e.g. lead=400,150,800,375"
        ) from None
    return make_box(name.strip(), coords, f"--roi {text}")


def unique(boxes: Sequence[Box], where: str) -> None:
    """Refuse two boxes of one frame under the same name (their records could not be told apart)."""
    names = [b.name for b in boxes]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"{where}: region names must differ within a frame; {', '.join(twice)} appear twice"
        )


@dataclass(frozen=True)
class RegionFile:
    """Per-frame boxes read from a JSONL file: (source or None, frame index) → boxes."""

    path: Path
    boxes: Mapping[tuple[str | None, int], tuple[Box, ...]] = field(default_factory=dict)

    def boxes_for(self, source_id: str, frame: int) -> tuple[Box, ...]:
        """The frame's boxes: those for its source, then those for every source."""
        return self.boxes.get((source_id, frame), ()) + self.boxes.get((None, frame), ())


def read_region_file(path: Path) -> RegionFile:
    """Read and check every line now (a bad line is refused before the first frame, by line number)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"--roi-file {path}: no such file; write one JSON object a line (see `depthmask run --help`)"
        )
    boxes: dict[tuple[str | None, int], list[Box]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--roi-file {path} could not be read as UTF-8 text: {exc}") from None
    if len(lines) > MAX_FILE_LINES:
        raise ConfigError(f"--roi-file {path} has {len(lines)} lines; at most {MAX_FILE_LINES} are read")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ConfigError(f"{where}: not JSON ({exc}); write one object a line") from None
        key, found = _entry(entry, where)
        boxes.setdefault(key, []).extend(found)
        unique(boxes[key], where)
    return RegionFile(path, {k: tuple(v) for k, v in boxes.items()})


def _entry(entry: Any, where: str) -> tuple[tuple[str | None, int], list[Box]]:
    form = '{"frame": INDEX, "source": ID (optional), "boxes": [{"name": NAME, "box": [x0, y0, x1, y1]}]}'
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object {form}, got {shown(entry)}")
    frame, source, listed = entry.get("frame"), entry.get("source"), entry.get("boxes", [])
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
        raise ConfigError(f'{where}: "frame" must be a frame index ≥ 0, got {shown(frame)}; {form}')
    if source is not None and not (isinstance(source, str) and source):
        raise ConfigError(f'{where}: "source" must be a source id (as in audit.jsonl), got {shown(source)}')
    if not isinstance(listed, list) or len(listed) > MAX_BOXES:
        raise ConfigError(f'{where}: "boxes" must be a list of at most {MAX_BOXES} boxes; {form}')
    found = []
    for k, item in enumerate(listed):
        if not isinstance(item, dict):
            raise ConfigError(
                f'{where}: boxes[{k}] must be an object {{"name": …, "box": […]}}, got {shown(item)}'
            )
        name = item.get("name", item.get("label", f"box{k}"))
        found.append(make_box(name, item.get("box"), f"{where}: boxes[{k}]"))
    return (source, frame), found


@dataclass(frozen=True)
class RegionPlan:
    """Which boxes each frame is audited on: the fixed `--roi` boxes, then the region file's."""

    fixed: tuple[Box, ...] = ()
    file: RegionFile | None = None

    def __post_init__(self) -> None:
        unique(self.fixed, "--roi")

    def boxes_for(self, source_id: str, frame: int) -> tuple[Box, ...]:
        """The frame's boxes (fixed first); two of one name are refused."""
        boxes = self.fixed + (self.file.boxes_for(source_id, frame) if self.file is not None else ())
        if self.file is not None:
            unique(boxes, f"{self.file.path}: frame {frame} of {source_id} with --roi")
        return boxes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the fixed boxes and the file."""
        return {
            "boxes": {b.name: b.to_list() for b in self.fixed},
            "file": str(self.file.path) if self.file is not None else None,
        }


def coverage(lo: float, hi: float, size: int) -> np.ndarray:
    """The share of each of `size` unit pixels that [lo, hi) covers (exact, for fractional edges)."""
    edges = np.arange(size, dtype=np.float64)
    return np.clip(np.minimum(hi, edges + 1) - np.maximum(lo, edges), 0.0, 1.0).astype(np.float32)


def region_maps(boxes: Iterable[Box], place: Placement) -> np.ndarray:
    """[1 + boxes, H, W] float32 maps over the model's input: the content (1 inside, 0 on letterbox
    padding), then each box drawn through the placement and clipped to the content."""
    height, width = place.input
    top, left, ch, cw = place.content
    wt, wl, wh, ww = place.window
    content_y, content_x = coverage(top, top + ch, height), coverage(left, left + cw, width)
    maps = [np.outer(content_y, content_x)]
    sy, sx = ch / wh, cw / ww  # input pixels per source pixel
    for box in boxes:
        y0, y1 = top + (box.y0 - wt) * sy, top + (box.y1 - wt) * sy
        x0, x1 = left + (box.x0 - wl) * sx, left + (box.x1 - wl) * sx
        clip_y = coverage(max(y0, top), min(y1, top + ch), height)
        clip_x = coverage(max(x0, left), min(x1, left + cw), width)
        maps.append(np.outer(clip_y, clip_x))
    return np.stack(maps).astype(np.float32)


def stack_maps(maps: Sequence[np.ndarray]) -> np.ndarray:
    """One batch's maps [B, R, H, W]: frames with fewer boxes get all-zero maps (their rows are dropped)."""
    count = max(m.shape[0] for m in maps)
    out = np.zeros((len(maps), count, *maps[0].shape[1:]), dtype=np.float32)
    for k, m in enumerate(maps):
        out[k, : m.shape[0]] = m
    return out
