"""The Sink protocol: where results go (audit log, per-frame files, overlay video, a window)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from depthmask.runtime.records import Result


@runtime_checkable
class Sink(Protocol):
    """open → write(result) … → close; close finalises files (a playable video, a summary)."""

    def open(self) -> None:
        """Create files; raise a DepthmaskError naming the path if it cannot."""

    def write(self, result: Result) -> None:
        """Handle one frame's result (called from the writer thread, in order)."""

    def close(self) -> None:
        """Flush and finalise; safe to call twice."""

    def describe(self) -> dict[str, Any]:
        """What was written where."""


def source_dir_name(source_id: str, index: int) -> str:
    """A folder name for one source's outputs: its index plus a readable, filesystem-safe tail."""
    tail = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in source_id.rstrip("/").split("/")[-1])
    return f"{index:02d}_{tail[:40] or 'source'}"  # the head: a file's name, a scheme and its first options
