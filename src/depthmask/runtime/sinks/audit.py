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

import numpy as np

from depthmask.contract.fidelity import curve_auc
from depthmask.contract.spec import REGION_COLUMNS
from depthmask.errors import OutputError
from depthmask.runtime.latency import summarize
from depthmask.runtime.records import Result

LATENCY_STAGES = ("preprocess", "queue", "infer", "write")  # they sum to latency_ms (decode is before)


class AuditLogSink:
    """Writes one JSON line per frame and keeps what the summary needs.

    Each record goes to the OS in its own write (no Python buffer holds it), and a write that fails
    part-way (a full disk) is cut back to the last whole line, so the file only ever holds whole
    records. Written by hand rather than with a buffered file, whose partial flushes leave half lines.
    """

    def __init__(
        self, path: Path, stats_columns: tuple[str, ...], curve_keeps: tuple[float, ...] = ()
    ) -> None:
        self.path = Path(path)
        self.columns = stats_columns
        self.fd: int | None = None
        self.size = 0  # bytes of whole records in the file
        self.stats: dict[str, list[float]] = {c: [] for c in stats_columns}
        self.latency: list[float] = []
        self.stages: dict[str, list[float]] = {}
        self.ages: dict[str, list[float]] = {}
        self.by_source: dict[str, dict[str, int]] = {}
        self.flags: dict[str, int] = {"mask_empty": 0, "mask_full": 0, "attention_jump": 0}
        self.counts: dict[str, int] = {"ok": 0, "dropped": 0, "decode_error": 0, "skipped": 0}
        self.errors: list[dict[str, Any]] = []
        self.regions: dict[str, dict[str, list[float]]] = {}  # box name → column → values
        self.regions_over = 0  # frames with more boxes than the engine takes
        self.curve_keeps = curve_keeps
        self.curve: dict[str, dict[str, list[list[float]]]] = {}  # method → column → per frame
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
        rec = result.record(time.perf_counter())
        try:
            self._append((json.dumps(rec) + "\n").encode())
            self.lines += 1
        except OSError as exc:  # a full disk, a vanished mount: the run cannot keep its record
            raise OutputError(
                f"could not write {self.path} ({exc.strerror or exc}) at frame {rec['frame']} of "
                f"{rec['source']}; the records before it are in the file. Free space or pass another --out"
            ) from None
        self.counts[result.status] += 1
        self.ages.setdefault("written", []).append(rec["age_ms"]["written"])
        source = self.by_source.setdefault(rec["source"], {"read": 0, "dropped": 0})
        source["read"] += 1
        source["dropped"] += result.status == "dropped"
        if result.status == "ok":
            self.latency.append(rec["latency_ms"])
            self.ages.setdefault("infer", []).append(rec["age_ms"]["infer"])
            for c in self.columns:
                v = rec.get(c)
                if v is not None:
                    self.stats[c].append(v)
            for stage, ms in rec.get("stages_ms", {}).items():
                self.stages.setdefault(stage, []).append(ms)
            for flag in rec.get("flags", ()):
                self.flags[flag] += 1
            for region in rec.get("regions", ()):
                columns = self.regions.setdefault(region["name"], {c: [] for c in REGION_COLUMNS})
                for c in REGION_COLUMNS:
                    if region.get(c) is not None:
                        columns[c].append(region[c])
            self.regions_over += "regions_over" in rec
            for method, columns in rec.get("curve", {}).items():
                kept = self.curve.setdefault(method, {})
                for column, values in columns.items():
                    if None not in values:
                        kept.setdefault(column, []).append(values)
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
        """Counts, statistics, flags, latency (end to end and by stage) and ages of what was logged."""
        stages = {k: summarize(v) for k, v in self.stages.items()}
        latency = summarize(self.latency)
        summed = [stages[k]["mean"] for k in LATENCY_STAGES if k in stages]
        return {
            "counts": dict(self.counts),
            "frames": sum(self.counts.values()),
            "stats": {c: summarize(v) for c, v in self.stats.items()},
            "flags": dict(self.flags),
            "latency_ms": latency,
            "stages_ms": stages,
            "latency_stages": {
                "stages": list(LATENCY_STAGES),
                "sum_of_stage_means_ms": round(sum(summed), 3) if summed else None,  # type: ignore[arg-type]
                "end_to_end_mean_ms": latency["mean"],
            },
            "age_ms": {k: summarize(v) for k, v in self.ages.items()},
            "drops_by_source": {
                sid: {**c, "rate": round(c["dropped"] / c["read"], 4)} for sid, c in self.by_source.items()
            },
            "errors": self.errors,
            "regions": {
                name: {"frames": len(columns["area"]), **{c: summarize(v) for c, v in columns.items()}}
                for name, columns in self.regions.items()
            },
            "regions_over": self.regions_over,
            "curve": self._curve(),
        }

    def _curve(self) -> dict[str, Any] | None:
        """The mean faithfulness curve over the frames, per method, and its AUC (mean δ1 over the keeps)."""
        if not self.curve:
            return None
        methods = {}
        for method, columns in self.curve.items():
            means = {c: [round(float(v), 5) for v in np.mean(rows, axis=0)] for c, rows in columns.items()}
            delta1 = means.get("delta1", [])
            auc = curve_auc(list(self.curve_keeps), delta1) if delta1 else None
            methods[method] = {**means, "frames": len(columns.get("delta1", [])), "auc": auc}
        return {"keeps": list(self.curve_keeps), "methods": methods}

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
