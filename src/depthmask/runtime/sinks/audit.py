"""`audit.jsonl` (one record per frame, flushed as written) and `summary.json` at the end (contracts §4)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from depthmask.errors import OutputError
from depthmask.runtime.latency import summarize
from depthmask.runtime.records import Result


class AuditLogSink:
    """Writes one JSON line per frame and keeps what the summary needs.

    Each record goes to the OS in its own write (no Python buffer holds it), and a write that fails
    part-way (a full disk) is cut back to the last whole line, so the file only ever holds whole
    records. Written by hand rather than with a buffered file, whose partial flushes leave half lines.
    """

    def __init__(self, path: Path, stats_columns: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.columns = stats_columns
        self.fd: int | None = None
        self.size = 0  # bytes of whole records in the file
        self.stats: dict[str, list[float]] = {c: [] for c in stats_columns}
        self.latency: list[float] = []
        self.stages: dict[str, list[float]] = {}
        self.counts: dict[str, int] = {"ok": 0, "dropped": 0, "decode_error": 0, "skipped": 0}
        self.errors: list[dict[str, Any]] = []
        self.lines = 0  # records written whole

    def open(self) -> None:
        """Create (truncate) the log."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise OutputError(f"could not create {self.path}: {exc.strerror}") from None

    def write(self, result: Result) -> None:
        """Append the record; latency runs from the frame leaving its source to this line being written."""
        latency_ms = (time.perf_counter() - result.item.t_read) * 1e3
        rec = result.record(latency_ms)
        try:
            self._append((json.dumps(rec) + "\n").encode())
            self.lines += 1
        except OSError as exc:  # a full disk, a vanished mount: the run cannot keep its record
            raise OutputError(
                f"could not write {self.path} ({exc.strerror or exc}) at frame {rec['frame']} of "
                f"{rec['source']}; the records before it are in the file. Free space or pass another --out"
            ) from None
        self.counts[result.status] += 1
        if result.status == "ok":
            self.latency.append(latency_ms)
            for c in self.columns:
                v = rec.get(c)
                if v is not None:
                    self.stats[c].append(v)
            for stage, ms in result.item.timings.items():
                self.stages.setdefault(stage, []).append(ms)
        elif result.status != "dropped" and len(self.errors) < 100:
            self.errors.append({"frame": rec["frame"], "source": rec["source"], "error": rec.get("error")})

    def _append(self, data: bytes) -> None:
        assert self.fd is not None, "write() before open()"
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):  # a device such as /dev/full cannot be truncated
                os.ftruncate(self.fd, self.size)
            raise
        self.size += len(data)

    def close(self) -> None:
        """Sync and close the log."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.fsync(fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: a device that cannot be synced; nothing is lost
                raise OutputError(f"could not finish {self.path} ({exc.strerror or exc})") from None
        finally:
            os.close(fd)

    def summary(self) -> dict[str, Any]:
        """Counts, statistics and latency percentiles of what was logged."""
        return {
            "counts": dict(self.counts),
            "frames": sum(self.counts.values()),
            "stats": {c: summarize(v) for c, v in self.stats.items()},
            "latency_ms": summarize(self.latency),
            "stages_ms": {k: summarize(v) for k, v in self.stages.items()},
            "errors": self.errors,
        }

    def describe(self) -> dict[str, Any]:
        """Where the log is."""
        return {"audit_log": str(self.path)}


def write_json_atomic(path: Path, data: dict[str, Any], default: Callable[[Any], Any] = str) -> None:
    """Write JSON via a temp file + rename, so a reader never sees half a summary."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=default))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
