"""`audit.jsonl` (one record per frame, flushed as written) and `summary.json` at the end (contracts §4)."""

from __future__ import annotations

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
    """Writes one JSON line per frame and keeps what the summary needs."""

    def __init__(self, path: Path, stats_columns: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.columns = stats_columns
        self.file: Any = None
        self.stats: dict[str, list[float]] = {c: [] for c in stats_columns}
        self.latency: list[float] = []
        self.stages: dict[str, list[float]] = {}
        self.counts: dict[str, int] = {"ok": 0, "dropped": 0, "decode_error": 0, "skipped": 0}
        self.errors: list[dict[str, Any]] = []

    def open(self) -> None:
        """Create (truncate) the log."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.file = open(self.path, "w", buffering=1)  # noqa: SIM115 (open for the run) line-buffered: each record lands as written
        except OSError as exc:
            raise OutputError(f"could not create {self.path}: {exc.strerror}") from None

    def write(self, result: Result) -> None:
        """Append the record; latency runs from the frame leaving its source to this line being written."""
        latency_ms = (time.perf_counter() - result.item.t_read) * 1e3
        rec = result.record(latency_ms)
        self.file.write(json.dumps(rec) + "\n")
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

    def close(self) -> None:
        """Flush and close the log."""
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None

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
    tmp.write_text(json.dumps(data, indent=2, default=default))
    os.replace(tmp, path)
