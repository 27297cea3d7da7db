"""What flows from the readers to the sinks: `Item` (a frame on its way) and `Result` (its outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from depthmask.sources.base import Frame

Status = Literal["ok", "dropped", "decode_error", "skipped"]


@dataclass
class Item:
    """A frame read from source number `source_index`, preprocessed to the model's input (or not, if bad)."""

    frame: Frame
    source_index: int
    t_read: float  # time.perf_counter() when the frame left its source
    input: np.ndarray | None = None
    error: str | None = None  # why a decoded frame could not be prepared (fit); its record says so
    timings: dict[str, float] = field(default_factory=dict)  # stage → milliseconds


@dataclass
class Result:
    """One frame's outcome: status, outputs (when inferred) and where it rode."""

    item: Item
    status: Status
    error: str | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # this frame's slice of each output
    stats: dict[str, float] = field(default_factory=dict)
    batch: int | None = None

    @property
    def frame(self) -> Frame:
        """The source frame this result belongs to."""
        return self.item.frame

    def record(self, latency_ms: float) -> dict[str, Any]:
        """The audit-log line of contracts §4 (JSON-ready)."""
        rec: dict[str, Any] = {
            "frame": self.frame.index,
            "source": self.frame.source_id,
            "t_capture": self.frame.timestamp,
            "status": self.status,
        }
        if self.error:
            rec["error"] = self.error
        rec.update({k: _finite(v) for k, v in self.stats.items()})
        rec["latency_ms"] = round(latency_ms, 3)
        rec["batch"] = self.batch
        if self.item.timings:
            rec["stages_ms"] = {k: round(v, 3) for k, v in self.item.timings.items()}
        return rec


def _finite(v: float) -> float | None:
    # JSON has no NaN; a non-finite statistic is reported as null.
    v = float(v)
    return v if np.isfinite(v) else None
