"""Sequences of image files: a folder, a glob, or a `.txt` list of paths."""

from __future__ import annotations

import glob
import os
import stat
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.errors import SourceError
from depthmask.sources.base import Frame, SourceBase, file_kind, read_text_file, shorten
from depthmask.sources.fit import as_bgr
from depthmask.sources.headers import image_header

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
MAX_IMAGE_PIXELS = 2**27  # 134 M pixels: 16× an 8K frame; larger headers are refused before decoding
MAX_IMAGE_BYTES = 2**30  # no accepted image needs more (2^27 pixels × 4 channels × 16 bits)
MAX_LIST_BYTES = 64 * 2**20  # a .txt list: a million paths of 64 characters fits
MAX_PATH_CHARS = 4096  # Linux's PATH_MAX; a longer "path" in a list is not one
MAX_FILES = 10_000_000  # a glob or folder beyond this is a mistake (`/**`), not a sequence


def read_image(path: Path) -> tuple[np.ndarray | None, str | None]:
    """Decode one image as BGR uint8 H×W×3; (None, reason naming the file) when it cannot be, never raising.

    The size in the file's header is checked against MAX_IMAGE_PIXELS before anything is decoded, so a
    crafted header (100000×100000) costs nothing. 16-bit images keep their top byte, float images are
    taken as 0…1, grey is replicated to three channels and alpha dropped.
    """
    path = Path(path)
    shown = shorten(str(path))
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return None, f"{shown}: not an image file (suffix {path.suffix or 'none'!r})"
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a pipe or device would block or never end
            return None, f"{shown}: not a regular file"
        if info.st_size > MAX_IMAGE_BYTES:
            return None, f"{shown}: {info.st_size:,} bytes, more than an image may have ({MAX_IMAGE_BYTES:,})"
        data = path.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        return None, f"{shown}: cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if not data:
        return None, f"{shown}: empty file (0 bytes)"
    header = image_header(data)
    if header is None:
        return None, (
            f"{shown}: not a PNG, JPEG, BMP, TIFF, WebP or PNM image (unrecognised or corrupt header)"
        )
    kind, width, height = header
    if width < 1 or height < 1:
        return None, f"{shown}: its {kind} header declares a {width}×{height} image (corrupt)"
    if width * height > MAX_IMAGE_PIXELS:
        return None, (
            f"{shown}: its {kind} header declares {width}×{height} pixels ({width * height:,}), more than "
            f"the {MAX_IMAGE_PIXELS:,} allowed; downscale the image"
        )
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except Exception as exc:  # whatever a decoder raises (cv2.error, MemoryError, ...) fails this frame only
        return None, f"{shown}: could not be decoded ({type(exc).__name__}: {shorten(str(exc).strip(), 120)})"
    if image is None or image.size == 0:
        return None, f"{shown}: could not be decoded (truncated or corrupt {kind} file)"
    try:
        return _to_bgr8(image), None
    except Exception as exc:  # MemoryError converting a large 16-bit or float image: this frame only
        return None, f"{shown}: could not be converted to 8-bit BGR ({type(exc).__name__}: {exc})"


def _to_bgr8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:  # 16-bit PNG/TIFF: keep the top byte, as a viewer would
        image = (image >> 8).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.floating):  # float TIFF: 0…1
        image = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 2:  # grey + alpha
        image = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] > 4:  # extra TIFF samples
        image = image[:, :, :3]
    return as_bgr(image)


class ImageSequenceSource(SourceBase):
    """Frames from a list of image files, in the given order; unreadable files become error frames.

    With `stride` N only every N-th file is read (indices 0, N, 2N, … — a frame's index is its file's
    position in the sequence); the others are not read and get no record. `end_note` counts listed files
    that were missing when read.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        source_id: str,
        timestamps: Sequence[float] | None = None,
        fps: float = 0.0,
        stride: int = 1,
    ) -> None:
        if not paths:
            raise SourceError(f"{shorten(source_id)}: no files to read")
        if timestamps is not None and len(timestamps) != len(paths):
            raise SourceError(f"{shorten(source_id)}: {len(timestamps)} timestamps for {len(paths)} images")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise SourceError(f"{shorten(source_id)}: stride must be a whole number ≥ 1, got {stride!r}")
        self.paths = list(paths)
        self.timestamps = list(timestamps) if timestamps is not None else None
        self.source_id = source_id
        self.fps = fps
        self.stride = stride
        self.end_note: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        self.end_note = None
        missing: list[Path] = []
        for i in range(0, len(self.paths), self.stride):
            path = self.paths[i]
            image, error = read_image(path)
            if image is None and file_kind(path) is None:
                missing.append(path)
            t = self.timestamps[i] if self.timestamps is not None else time.time()
            yield Frame(i, t, image, self.source_id, error, {"path": str(path)})
        if missing:
            self.end_note = (
                f"{shorten(self.source_id)}: {len(missing)} of the {len(self)} files read were missing "
                f"(first: {shorten(str(missing[0]))}); each has a decode_error record"
            )

    def __len__(self) -> int:
        """Frames it yields: every `stride`-th file."""
        return -(-len(self.paths) // self.stride)

    def describe(self) -> dict[str, Any]:
        """Kind, first file, frames yielded (of how many files), stride and how it ended."""
        return {
            "kind": "images",
            "uri": self.source_id,
            "frames": len(self),
            "files": len(self.paths),
            "stride": self.stride,
            "fps": self.fps or None,
            "first": str(self.paths[0]),
            "end": self.end_note,
        }


def paths_from_folder(folder: Path) -> list[Path]:
    """Every visible entry of a folder except sub-folders, in name order.

    Entries that are not images (or not readable, or dangling links) are kept: they become error frames,
    so nothing in the folder is skipped silently. Hidden (dot) files are left out.
    """
    shown = shorten(str(folder))
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in islice(entries, MAX_FILES + 1) if not e.name.startswith(".")]
    except OSError as exc:
        raise SourceError(f"folder {shown!r} cannot be listed ({exc.strerror or exc})") from None
    if len(names) > MAX_FILES:
        raise SourceError(f"folder {shown!r} holds more than {MAX_FILES:,} entries; split it")
    files = [folder / n for n in sorted(names) if file_kind(folder / n) != "dir"]
    if not files:
        raise SourceError(f"folder {shown!r} has no files; point at a folder of images")
    return files


def paths_from_glob(pattern: str) -> list[Path]:
    """Files matching a glob pattern (`**` recursive), sorted; SourceError when none match."""
    try:
        found = list(islice(glob.iglob(pattern, recursive=True), MAX_FILES + 1))
    except (OSError, ValueError) as exc:
        raise SourceError(f"the pattern {shorten(pattern)!r} cannot be searched ({exc})") from None
    if len(found) > MAX_FILES:
        raise SourceError(
            f"the pattern {shorten(pattern)!r} matches more than {MAX_FILES:,} paths; narrow it"
        )
    files = sorted(Path(p) for p in found if file_kind(Path(p)) == "file")
    if not files:
        raise SourceError(f"the pattern {shorten(pattern)!r} matches no files")
    return files


def paths_from_list(list_file: Path) -> list[Path]:
    """Paths listed one per line ('#' comments allowed), relative to the list file's folder.

    SourceError for a list that is binary, not UTF-8, larger than MAX_LIST_BYTES, holds a line that
    cannot be a path, or names nothing. Listed files that are missing become error frames.
    """
    text = read_text_file(list_file, "image list", MAX_LIST_BYTES)
    paths = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_PATH_CHARS:
            raise SourceError(
                f"{shorten(str(list_file))}, line {number}: {len(line)} characters, longer than any path "
                f"({MAX_PATH_CHARS}); the list should hold one image path per line"
            )
        path = Path(line)
        paths.append(path if path.is_absolute() else list_file.parent / path)
    if not paths:
        raise SourceError(f"the list {shorten(str(list_file))!r} names no files")
    return paths
