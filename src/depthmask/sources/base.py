"""The Source protocol, the `Frame` record every source yields, and the safe file helpers they share."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from depthmask.errors import SourceError

Policy = Literal["every", "live"]
MAX_SHOWN_CHARS = 200  # longer paths and values are shortened in messages


@dataclass(frozen=True)
class Frame:
    """One frame read from a source.

    `image` is BGR uint8 H×W×3 (OpenCV's order) or None when the frame could not be decoded, in which
    case `error` says why: a bad frame is a record, never a silent gap or the end of the stream.
    `timestamp` is the source's own time in seconds (KITTI's timestamps, a video's position) or the
    wall-clock read time when the source has none.
    """

    index: int
    timestamp: float
    image: np.ndarray | None
    source_id: str
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        """True when the frame decoded."""
        return self.error is None


@runtime_checkable
class Source(Protocol):
    """A stream of frames: open, iterate, close, describe. Used as a context manager."""

    source_id: str
    default_policy: Policy
    # Why iteration ended abnormally or early (a truncated video, a camera gone after its reconnects,
    # listed files that vanished), set by the time iteration ends; None for a normal end. The runtime
    # puts it in summary.json; `describe()` carries it as "end".
    end_note: str | None

    def open(self) -> None:
        """Open the underlying file/device; raise SourceError with the path and the fix if it cannot."""

    def __iter__(self) -> Iterator[Frame]:
        """Yield frames in order, one per frame read (decode failures included)."""

    def close(self) -> None:
        """Release the file/device; safe to call twice."""

    def describe(self) -> dict[str, Any]:
        """Kind, URI, frame rate, frame count, size — whatever the source knows up front."""


class SourceBase:
    """Context-manager plumbing shared by the concrete sources."""

    source_id: str = ""
    default_policy: Policy = "every"
    end_note: str | None = None

    def open(self) -> None:
        """Nothing to open by default."""

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> SourceBase:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters with its length said, so a 5000-character path stays readable;
    undecodable bytes of a file name (lone surrogates) show as U+FFFD so the message can be printed."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # the bytes Python smuggled in as surrogates, decoded as `ls` shows them
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else f"{text[: limit // 2]}…{text[-limit // 4 :]} ({len(text)} chars)"


def file_kind(path: Path) -> str | None:
    """'file', 'dir', 'other' (device, pipe, socket) or None when nothing is there or it cannot be looked up
    (a dangling link, a name too long, no permission): never raises, unlike `Path.is_file` on some names."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def read_text_file(path: Path, what: str, max_bytes: int) -> str:
    """The UTF-8 text of a small file (a list, a timestamps file); SourceError names the file and what is
    wrong when it is missing, unreadable, larger than `max_bytes`, binary or not UTF-8."""
    shown = shorten(str(path))
    kind = file_kind(path)
    if kind != "file":  # a pipe would block the read
        found = f"is not a regular file ({kind})" if kind else "does not exist (or cannot be looked up)"
        raise SourceError(f"{what} {shown!r} {found}")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(max_bytes + 1) if size <= max_bytes else b""  # a huge file is not read at all
    except OSError as exc:
        raise SourceError(f"{what} {shown!r} cannot be read ({exc.strerror or exc})") from None
    if size > max_bytes or len(data) > max_bytes:
        raise SourceError(
            f"{what} {shown!r} is larger than {max_bytes // 2**20} MiB ({size:,} bytes); is it really a "
            f"{what}? Split it or point at the files directly"
        )
    nul = data.find(b"\0")
    if nul >= 0:
        raise SourceError(f"{what} {shown!r} is binary (a NUL byte at offset {nul}); expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{what} {shown!r} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
