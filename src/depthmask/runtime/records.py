"""What flows from the readers to the sinks: `Item` (a frame on its way) and `Result` (its outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from depthmask.contract.constants import MASK_EMPTY_KEEP, MASK_FULL_KEEP
from depthmask.runtime.regions import Box
from depthmask.sources.base import Frame
from depthmask.sources.fit import Placement

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
    display: np.ndarray | None = None  # the frame at its own aspect, scaled to the overlay's width
    placement: Placement | None = None  # where the model's input lies in the source frame
    t_ready: float | None = None  # perf_counter when the input was fitted (then it queues for a batch)
    t_infer: tuple[float, float] | None = None  # perf_counter at the start and end of its batch's inference
    regions: np.ndarray | None = None  # a region graph's maps [1 + boxes, H, W] (content, then each box)
    boxes: tuple[Box, ...] = ()  # the boxes of maps 1…
    boxes_over: tuple[str, ...] = ()  # boxes beyond what the engine takes a frame (named in the record)


@dataclass
class Result:
    """One frame's outcome: status, outputs (when inferred) and where it rode."""

    item: Item
    status: Status
    error: str | None = None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # this frame's slice of each output
    stats: dict[str, float] = field(default_factory=dict)
    batch: int | None = None
    host_flags: list[str] = field(default_factory=list)  # set on the host after inference (attention_jump)
    regions: list[dict[str, Any]] = field(default_factory=list)  # per box: name, box, region_stats' columns
    curve: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # method → column → per keep

    @property
    def frame(self) -> Frame:
        """The source frame this result belongs to."""
        return self.item.frame

    @property
    def flags(self) -> list[str]:
        """`mask_empty` / `mask_full` when G kept almost none / almost all of the pixels, then the flags
        set on the host (`attention_jump`: the mask changed more than the run allows since the last frame)."""
        keep = self.stats.get("mask_keep")
        if keep is None or not np.isfinite(keep):
            return list(self.host_flags)
        mask = ["mask_empty"] if keep < MASK_EMPTY_KEEP else ["mask_full"] if keep > MASK_FULL_KEEP else []
        return mask + self.host_flags

    def record(self, t_written: float) -> dict[str, Any]:
        """The audit-log line of contracts §4 (JSON-ready), for a record written at perf_counter
        `t_written`. `latency_ms` runs from the frame leaving its source to `t_written`; for an inferred
        frame `stages_ms` splits it into preprocess + queue + infer + write, which sum to it (decode
        comes before and is beside it), and `age_ms` gives the frame's age at inference and when written."""
        item = self.item
        rec: dict[str, Any] = {
            "frame": self.frame.index,
            "source": self.frame.source_id,
            "t_capture": self.frame.timestamp,
            "status": self.status,
        }
        if self.error:
            rec["error"] = self.error
        flags = self.flags
        for k, v in self.stats.items():
            # The share of an (almost) empty mask's mass is noise, not where N looks: undefined.
            rec[k] = None if k == "far_attention" and "mask_empty" in flags else _finite(v)
        if flags:
            rec["flags"] = flags
        if self.regions:
            rec["regions"] = [
                {k: _finite(v) if isinstance(v, float) else v for k, v in region.items()}
                for region in self.regions
            ]
        if item.boxes_over:
            rec["regions_over"] = list(item.boxes_over)
        if self.curve:
            rec["curve"] = {
                m: {c: [_finite(v) for v in values] for c, values in columns.items()}
                for m, columns in self.curve.items()
            }
        rec["latency_ms"] = _ms(t_written - item.t_read)
        rec["batch"] = self.batch
        timings = dict(item.timings)
        if item.t_ready is not None and item.t_infer is not None:
            start, end = item.t_infer
            timings.update(
                preprocess=(item.t_ready - item.t_read) * 1e3,
                queue=(start - item.t_ready) * 1e3,
                infer=(end - start) * 1e3,
                write=(t_written - end) * 1e3,
            )
            rec["age_ms"] = {"infer": _ms(start - item.t_read), "written": rec["latency_ms"]}
        else:
            rec["age_ms"] = {"written": rec["latency_ms"]}
        if timings:
            rec["stages_ms"] = {k: round(v, 3) for k, v in timings.items()}
        return rec


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def _finite(v: float) -> float | None:
    # JSON has no NaN; a non-finite statistic is reported as null.
    v = float(v)
    return v if np.isfinite(v) else None
