"""KITTI raw drives: `<drive>/image_02/data/<10-digit>.png` with `image_02/timestamps.txt`."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path

from depthmask.errors import SourceError
from depthmask.sources.base import file_kind, read_text_file, shorten
from depthmask.sources.images import ImageSequenceSource, paths_from_folder

KITTI_CAMERAS = ("image_02", "image_03", "image_00", "image_01")
MAX_TIMESTAMPS_BYTES = 16 * 2**20  # 30 bytes a line: half a million frames, far beyond any drive
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\.(\d{1,12}))?")
_FRAME_NAME = re.compile(r"\d{10}")


def is_kitti_drive(path: Path) -> bool:
    """True for a folder holding `image_0X/data/`."""
    return file_kind(path) == "dir" and any(file_kind(path / cam / "data") == "dir" for cam in KITTI_CAMERAS)


def parse_kitti_timestamp(text: str) -> float:
    """'2011-09-26 13:02:25.964389445' → POSIX seconds (UTC; nanoseconds kept to float precision).

    ValueError naming the text when it is not one.
    """
    text = text.strip()
    found = _TIMESTAMP.fullmatch(text)
    base = None
    if found is not None:
        with contextlib.suppress(ValueError):  # strptime also rejects impossible dates (month 13)
            base = dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S")
    if found is None or base is None:
        raise ValueError(
            f"not a KITTI timestamp: {shorten(text, 60)!r} (expected e.g. '2011-09-26 13:02:25.964389445')"
        )
    frac = found.group(2)
    return base.replace(tzinfo=dt.timezone.utc).timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


def read_kitti_timestamps(path: Path) -> list[float]:
    """All timestamps of a `timestamps.txt`, in seconds; SourceError names the file and the bad line."""
    text = read_text_file(path, "KITTI timestamps file", MAX_TIMESTAMPS_BYTES)
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(parse_kitti_timestamp(line))
        except ValueError as exc:
            raise SourceError(
                f"{shorten(str(path))}, line {number}: {exc}; fix the line, or remove the file to number "
                "the frames instead"
            ) from None
    return out


def kitti_drive_source(drive: Path, camera: str = "image_02", stride: int = 1) -> ImageSequenceSource:
    """A KITTI drive's camera as a frame source, stamped with the drive's own timestamps.

    Frames are named by their line in `timestamps.txt` (`0000000042.png` is line 43): when some named
    files are missing, the sequence follows the timestamps and each missing file becomes an error frame.
    SourceError when the timestamps cannot be read or do not fit the files.
    """
    data = drive / camera / "data"
    if file_kind(data) != "dir":
        have = [c for c in KITTI_CAMERAS if file_kind(drive / c / "data") == "dir"]
        raise SourceError(
            f"{shorten(str(drive))} has no {camera}/data/ (cameras present: {', '.join(have) or 'none'})"
        )
    try:
        paths = paths_from_folder(data)
    except SourceError:
        raise SourceError(f"{shorten(str(data))} holds no frames") from None
    stamps_file = drive / camera / "timestamps.txt"
    stamps = read_kitti_timestamps(stamps_file) if file_kind(stamps_file) == "file" else None
    if stamps is not None and len(stamps) != len(paths):
        by_number = _paths_by_frame_number(paths, len(stamps))
        if by_number is None:
            raise SourceError(
                f"{shorten(str(stamps_file))} has {len(stamps)} timestamps for {len(paths)} frames in "
                f"{shorten(str(data))}; the drive is incomplete (re-extract it) or the folder holds extra "
                "files; remove timestamps.txt to number the frames instead"
            )
        paths = by_number
    fps = 0.0
    if stamps and len(stamps) > 1 and stamps[-1] > stamps[0]:
        fps = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    return ImageSequenceSource(paths, source_id=str(drive), timestamps=stamps, fps=fps, stride=stride)


def _paths_by_frame_number(paths: list[Path], count: int) -> list[Path] | None:
    """One path per timestamp line (`%010d` + the files' suffix), missing files included, when every file
    is named by a frame number below `count` with one suffix; None when the files are not so named."""
    suffixes = {p.suffix for p in paths}
    if len(suffixes) != 1 or not all(_FRAME_NAME.fullmatch(p.stem) and int(p.stem) < count for p in paths):
        return None
    suffix = suffixes.pop()
    return [paths[0].parent / f"{k:010d}{suffix}" for k in range(count)]
