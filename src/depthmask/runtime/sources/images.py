"""Sequences of image files: a folder, a glob, or a `.txt` list of paths."""

from __future__ import annotations

import glob
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.errors import SourceError
from depthmask.runtime.sources.base import Frame, SourceBase

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def read_image(path: Path) -> tuple[np.ndarray | None, str | None]:
    """Decode one image as BGR uint8; (None, reason) when it cannot be read, never an exception."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return None, f"{path}: not an image file (suffix {path.suffix or 'none'!r})"
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror or exc})"
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        return None, f"{path}: could not be decoded (truncated or corrupt {path.suffix} file)"
    if image.dtype != np.uint8:  # 16-bit PNGs: keep the top byte, as a viewer would
        image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image, None


class ImageSequenceSource(SourceBase):
    """Frames from a list of image files, in the given order; unreadable files become error frames."""

    def __init__(
        self,
        paths: Sequence[Path],
        source_id: str,
        timestamps: Sequence[float] | None = None,
        fps: float = 0.0,
    ) -> None:
        if not paths:
            raise SourceError(f"{source_id}: no files to read")
        if timestamps is not None and len(timestamps) != len(paths):
            raise SourceError(f"{source_id}: {len(timestamps)} timestamps for {len(paths)} images")
        self.paths = list(paths)
        self.timestamps = list(timestamps) if timestamps is not None else None
        self.source_id = source_id
        self.fps = fps

    def __iter__(self) -> Iterator[Frame]:
        for i, path in enumerate(self.paths):
            image, error = read_image(path)
            t = self.timestamps[i] if self.timestamps is not None else time.time()
            yield Frame(i, t, image, self.source_id, error, {"path": str(path)})

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self) -> dict[str, Any]:
        """Kind, first/last file and count."""
        return {
            "kind": "images",
            "uri": self.source_id,
            "frames": len(self.paths),
            "fps": self.fps or None,
            "first": str(self.paths[0]),
        }


def paths_from_folder(folder: Path) -> list[Path]:
    """Every visible regular file of a folder in name order (non-images become error frames)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise SourceError(f"folder {str(folder)!r} has no files; point at a folder of images")
    return files


def paths_from_glob(pattern: str) -> list[Path]:
    """Files matching a glob pattern, sorted."""
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not files:
        raise SourceError(f"the pattern {pattern!r} matches no files")
    return files


def paths_from_list(list_file: Path) -> list[Path]:
    """Paths listed one per line ('#' comments allowed), relative to the list file's folder."""
    lines = [ln.strip() for ln in list_file.read_text().splitlines()]
    paths = [Path(ln) for ln in lines if ln and not ln.startswith("#")]
    paths = [p if p.is_absolute() else list_file.parent / p for p in paths]
    if not paths:
        raise SourceError(f"the list {str(list_file)!r} names no files")
    return paths
