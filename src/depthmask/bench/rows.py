"""One result row per (path, precision, batch, device, kind): what was measured, or why it was not.

Rows are plain records (JSON in, JSON out); `BenchResult` holds them with the run's environment, GEMM
peaks and per-op profiles. The figures follow contracts §5: latency percentiles per batch (compute) or
per frame (end-to-end), frames/s = frames / wall time, GFLOP per frame counted, achieved GFLOP/s.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OK, UNAVAILABLE, FAILED = "ok", "unavailable", "failed"
COMPUTE, END_TO_END = "compute", "end-to-end"


@dataclass(frozen=True)
class Row:
    """One measured (or unmeasurable) combination."""

    path: str  # authors | torch | onnxruntime | openvino | tensorrt | another registered backend
    precision: str
    batch: int
    device: str
    height: int
    width: int
    mode: str
    kind: str = COMPUTE
    status: str = OK
    reason: str | None = None  # why unavailable / failed
    variant: str = ""  # e.g. "compile" for torch.compile, "three calls" for the authors' way
    warmup: int = 0
    iterations: int = 0
    wall_s: float | None = None
    latency_ms: dict[str, Any] = field(default_factory=dict)
    frames_per_s: float | None = None
    gflop_per_frame: float | None = None
    gflop_per_s: float | None = None
    peak_gflop_per_s: float | None = None
    peak_pct: float | None = None
    fidelity: dict[str, Any] | None = None
    stream: dict[str, Any] | None = None
    backend: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    computes_at: str | None = None  # the precision the row really computes at when not `precision` (auto)

    @property
    def label(self) -> str:
        """'onnxruntime fp32', 'torch bf16 compile', 'authors fp32 three calls' …"""
        parts = [self.path, self.precision, self.variant, "" if self.device == "cpu" else self.device]
        return " ".join(p for p in parts if p)

    @property
    def status_text(self) -> str:
        """'ok', 'unavailable: <why>' or 'failed: <why>'."""
        return self.status if self.status == OK else f"{self.status}: {self.reason}"

    @property
    def ok(self) -> bool:
        """True when the row was measured."""
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with `label` and `status_text` added."""
        out = dataclasses.asdict(self)
        out["notes"] = list(self.notes)
        out["label"] = self.label
        out["status_text"] = self.status_text
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        """The row a `to_dict` wrote (extra keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        kw["notes"] = tuple(kw.get("notes", ()))
        return cls(**kw)


@dataclass(frozen=True)
class BenchResult:
    """A run: its config, the subject measured, the rows, GEMM peaks, profiles and the environment."""

    config: dict[str, Any]
    subject: dict[str, Any]
    rows: tuple[Row, ...]
    peaks: dict[str, Any]
    environment: dict[str, Any]
    profiles: tuple[dict[str, Any], ...] = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result."""
        from depthmask.bench.summary import highlights, peak_bound

        h = highlights(self.rows, self.subject.get("sensitivity"))
        return {
            "format_version": 1,
            "config": self.config,
            "subject": self.subject,
            "environment": self.environment,
            "peaks": self.peaks,
            "rows": [r.to_dict() for r in self.rows],
            "highlights": h,
            "peak_bound": peak_bound(self.peaks, self.subject.get("gflop_per_frame"), h.get("authors_fps")),
            "profiles": list(self.profiles),
            "seconds": round(self.seconds, 1),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        """The result a `to_dict` wrote."""
        return cls(
            config=data.get("config", {}),
            subject=data.get("subject", {}),
            rows=tuple(Row.from_dict(r) for r in data.get("rows", [])),
            peaks=data.get("peaks", {}),
            environment=data.get("environment", {}),
            profiles=tuple(data.get("profiles", [])),
            seconds=float(data.get("seconds", 0.0)),
        )
