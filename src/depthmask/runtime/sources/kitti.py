"""KITTI raw drives: `<drive>/image_02/data/<10-digit>.png` with `image_02/timestamps.txt`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from depthmask.errors import SourceError
from depthmask.runtime.sources.images import ImageSequenceSource

KITTI_CAMERAS = ("image_02", "image_03", "image_00", "image_01")


def is_kitti_drive(path: Path) -> bool:
    """True for a folder holding `image_0X/data/`."""
    return path.is_dir() and any((path / cam / "data").is_dir() for cam in KITTI_CAMERAS)


def parse_kitti_timestamp(text: str) -> float:
    """'2011-09-26 13:02:25.964389445' → POSIX seconds (UTC; nanoseconds kept to float precision)."""
    text = text.strip()
    date_part, _, frac = text.partition(".")
    try:
        base = dt.datetime.strptime(date_part, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise ValueError(f"not a KITTI timestamp: {text!r}") from None
    return base.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


def read_kitti_timestamps(path: Path) -> list[float]:
    """All timestamps of a `timestamps.txt`, in seconds."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    try:
        return [parse_kitti_timestamp(ln) for ln in lines]
    except ValueError as exc:
        raise SourceError(f"{path}: {exc}") from None


def kitti_drive_source(drive: Path, camera: str = "image_02") -> ImageSequenceSource:
    """A KITTI drive's camera as a frame source, stamped with the drive's own timestamps."""
    data = drive / camera / "data"
    if not data.is_dir():
        have = [c for c in KITTI_CAMERAS if (drive / c / "data").is_dir()]
        raise SourceError(f"{drive} has no {camera}/data/ (cameras present: {', '.join(have) or 'none'})")
    paths = sorted(p for p in data.iterdir() if p.is_file() and not p.name.startswith("."))
    if not paths:
        raise SourceError(f"{data} holds no frames")
    stamps_file = drive / camera / "timestamps.txt"
    stamps = read_kitti_timestamps(stamps_file) if stamps_file.is_file() else None
    if stamps is not None and len(stamps) != len(paths):
        raise SourceError(
            f"{stamps_file} has {len(stamps)} timestamps for {len(paths)} frames in {data}; "
            "the drive is incomplete (re-extract it) or the folder holds extra files"
        )
    fps = 0.0
    if stamps and len(stamps) > 1 and stamps[-1] > stamps[0]:
        fps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return ImageSequenceSource(paths, source_id=str(drive), timestamps=stamps, fps=fps)
