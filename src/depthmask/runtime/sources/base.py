"""The Source protocol and the `Frame` record every source yields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

Policy = Literal["every", "live"]


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

    def open(self) -> None:
        """Nothing to open by default."""

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> SourceBase:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
