"""A sink that fails (a full disk, a read-only folder, an encoder error) is set aside, not fatal.

Only the audit log is the record of the run; a video or a folder of PNGs that can no longer be written
must not take audit.jsonl and summary.json with it. The guard calls the sink until its first failure,
then stops calling it, keeps the reason for summary.json and says so once in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from depthmask.runtime.records import Result
from depthmask.runtime.sinks.base import Sink

log = logging.getLogger("depthmask.runtime")


class GuardedSink:
    """Wraps an optional sink: its first exception disables it and is recorded in `failed`."""

    def __init__(self, sink: Sink, name: str) -> None:
        self.sink = sink
        self.name = name
        self.failed: str | None = None
        self.failed_at: int | None = None  # frames written before the failure
        self.written = 0

    def _fail(self, stage: str, exc: BaseException) -> None:
        self.failed = f"{stage} failed: {type(exc).__name__}: {exc}"
        self.failed_at = self.written
        log.error("%s output %s after %d frames; the audit log goes on", self.name, self.failed, self.written)

    def open(self) -> None:
        """Open the sink; a failure here disables it for the whole run."""
        try:
            self.sink.open()
        except Exception as exc:  # any failure of an optional output: recorded, the run goes on
            self._fail("open", exc)

    def write(self, result: Result) -> None:
        """Pass the result on until the sink has failed once."""
        if self.failed is not None:
            return
        try:
            self.sink.write(result)
            self.written += 1
        except Exception as exc:  # see open()
            self._fail("write", exc)

    def close(self) -> None:
        """Finalise the sink (also after a failure: a video's writer still holds a file to release)."""
        try:
            self.sink.close()
        except Exception as exc:  # see open()
            if self.failed is None:
                self._fail("close", exc)

    def describe(self) -> dict[str, Any]:
        """The sink's own description plus, after a failure, what failed and when."""
        try:
            out = dict(self.sink.describe())
        except Exception as exc:  # a broken sink may not even describe itself
            out = {"describe_failed": str(exc)}
        out["output"] = self.name
        if self.failed is not None:
            out["failed"] = self.failed
            out["failed_after_frames"] = self.failed_at
        return out
