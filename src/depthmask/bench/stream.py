"""End-to-end rows: frames through the runtime's streaming pipeline (decode ∥ infer ∥ write) versus the
same backend's compute-only rate on the same frames.

Throughput: the source is read with the `every` policy as fast as it decodes; end-to-end frames/s is
frames written to the audit log over the pipeline's wall time, compute-only frames/s is the same
decoded frames through `backend.infer` alone, batch by batch, once just before and once just after the
pipeline run (pooled, so a machine drifting faster or slower during the three runs does not pass for
pipeline overhead); their ratio is the overlap efficiency.
`busy_ratio` measures the same within the one pipeline run: the share of its wall time spent inside
`backend.infer` (1.0 = decode, batching and writing fully hidden), which other work on the machine
cannot skew the way it can skew two runs made one after the other.
Added latency (batch 1): the same source replayed at half the compute-only rate (`PacedSource`), so no
frame ever queues behind another. A frame's latency runs from the moment it leaves its source (its
capture, contracts §4) to its audit record; its added latency is that minus the inference time of the
batch it rode in (preprocessing, buffering, hand-offs, writing): `added_p50_ms` is the p50 of that per
frame. The plain difference of the two p50s is reported beside it. Decode is the camera's own time and
is reported separately.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from depthmask.bench.measure import time_calls
from depthmask.runtime.latency import summarize
from depthmask.sources.base import Frame, SourceBase

CLIP_FPS = 10.0  # the rendered clip's nominal rate (KITTI's)
PACE_FRACTION = 0.5  # the latency run feeds frames at this fraction of the compute-only rate


def render_clip(path: Path, frames: int, seed: int = 3) -> Path:
    """A video of the synthetic driving scene at its native 256×832 camera size (the pipeline decodes it
    and resizes to the model's input, as it would a real drive)."""
    import cv2

    from depthmask.sources.synthetic import SyntheticSource

    source = SyntheticSource(frames=frames, seed=seed)
    writer: Any = None
    try:
        for frame in source:
            if writer is None:
                h, w = frame.image.shape[:2]  # type: ignore[union-attr]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), CLIP_FPS, (w, h))
            writer.write(frame.image)
    finally:
        if writer is not None:
            writer.release()
    return path


class _Wrapped(SourceBase):
    """Another source under its own id, read with back-pressure; subclasses change what it yields."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.source_id = inner.source_id
        self.default_policy = "every"

    def open(self) -> None:
        """Open the wrapped source."""
        self.inner.open()

    def close(self) -> None:
        """Close the wrapped source."""
        self.inner.close()

    @property  # type: ignore[override]
    def end_note(self) -> str | None:
        """Why the wrapped source ended early, if it did."""
        return getattr(self.inner, "end_note", None)


class PacedSource(_Wrapped):
    """Another source's frames, re-stamped one `period_s` apart, for the pipeline's realtime pacing."""

    def __init__(self, inner: Any, period_s: float) -> None:
        super().__init__(inner)
        self.period_s = period_s

    def __iter__(self) -> Iterator[Frame]:
        for i, frame in enumerate(self.inner):
            yield dataclasses.replace(frame, timestamp=i * self.period_s)

    def describe(self) -> dict[str, Any]:
        """The wrapped source's description and the pacing."""
        return {**self.inner.describe(), "paced_fps": 1.0 / self.period_s}


def _pipeline(backend: Any, source: Any, batch: int, realtime: bool) -> tuple[Any, list[float], dict]:
    """Run `source` through the pipeline into an audit log; (report, per-frame latency ms, stage ms)."""
    from depthmask.runtime.pipeline import Pipeline, PipelineOptions
    from depthmask.runtime.sinks.audit import AuditLogSink

    latencies: list[float] = []
    stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "added": []}

    def on_result(result: Any) -> None:
        if result.status == "ok":
            record = result.record(time.perf_counter())  # the runtime's own split of the latency
            latency, timings = record["latency_ms"], record["stages_ms"]
            latencies.append(latency)
            for k in ("decode", "preprocess"):
                if k in timings:
                    stages[k].append(timings[k])
            if "infer" in timings:  # the inference time of the batch this frame rode in
                stages["added"].append(latency - timings["infer"])

    with tempfile.TemporaryDirectory(prefix="depthmask-bench-stream-") as tmp:
        sink = AuditLogSink(Path(tmp) / "audit.jsonl", backend.info.stats_columns)
        source.open()
        sink.open()
        try:
            options = PipelineOptions(batch=batch, max_wait_ms=50.0, realtime=realtime)
            report = Pipeline([source], ["every"], backend, [sink], options, on_result).run()
        finally:
            sink.close()
            source.close()
    return report, latencies, stages


def stream_measure(
    backend: Any, source_spec: str, batch: int, frames: int, compute_p50_ms: float | None = None
) -> dict[str, Any]:
    """Throughput (every batch size) and, at batch 1, added latency of `backend` streaming `source_spec`.

    `backend` is loaded (and warmed up at this batch size by the compute rows before it).
    `compute_p50_ms`: the compute-only p50 the added latency is measured from (the compute row's, timed
    over more calls); None = the p50 of the compute-only pass over the streamed frames.
    """
    from depthmask.export.frames import collect, frames_from_source
    from depthmask.sources import open_source

    info = backend.info
    decoded = collect(frames_from_source(source_spec, info.height, info.width, frames))
    n = len(decoded) - len(decoded) % batch or len(decoded)
    decoded = decoded[:n]
    chunks = [decoded[i : i + batch] for i in range(0, n, batch)]

    def compute_only() -> Any:
        it = iter(chunks)
        return time_calls(lambda: backend.infer(next(it)), warmup=0, seconds=0.0, iters=len(chunks))

    before = compute_only()
    report, latencies, stages = _pipeline(backend, _Limited(open_source(source_spec), n), batch, False)
    after = compute_only()
    compute = before.merged(after)
    compute_fps = compute.frames_per_s(batch)
    ok = report.counts["ok"]
    e2e_fps = ok / report.wall_s if report.wall_s > 0 else float("nan")
    out: dict[str, Any] = {
        "source": source_spec,
        "frames": ok,
        "counts": dict(report.counts),
        "compute_fps": round(compute_fps, 4),
        "end_to_end_fps": round(e2e_fps, 4),
        "ratio": round(e2e_fps / compute_fps, 4) if compute_fps > 0 else None,
        "busy_ratio": round(sum(report.infer_ms) / (report.wall_s * 1e3), 4) if report.wall_s > 0 else None,
        "compute_fps_before_after": [round(t.frames_per_s(batch), 4) for t in (before, after)],
        "compute_ms_per_batch": compute.summary(),
        "throughput_latency_ms": summarize(latencies),
        "decode_ms": summarize(stages["decode"]),
        "preprocess_ms": summarize(stages["preprocess"]),
        "sink_ms": summarize(report.sink_ms),
        "wall_s": round(report.wall_s, 3),
    }
    if batch == 1:
        period = 1.0 / (PACE_FRACTION * compute_fps)
        paced_n = max(4, n // 2)
        paced = PacedSource(_Limited(open_source(source_spec), paced_n), period)
        _report, paced_latency, paced_stages = _pipeline(backend, paced, 1, True)
        e2e = summarize(paced_latency)
        added = summarize(paced_stages["added"])
        base = compute_p50_ms if compute_p50_ms is not None else compute.summary()["p50"]
        out["latency"] = {
            "paced_fps": round(1.0 / period, 4),
            "frames": len(paced_latency),
            "end_to_end_ms": e2e,
            "added_ms": added,
            "added_p50_ms": added["p50"],
            "compute_p50_ms": base,
            "p50_difference_ms": round(e2e["p50"] - base, 3)
            if e2e["p50"] is not None and base is not None
            else None,
            "decode_p50_ms": out["decode_ms"]["p50"],
        }
    return out


class _Limited(_Wrapped):
    """The first `count` frames of another source."""

    def __init__(self, inner: Any, count: int) -> None:
        super().__init__(inner)
        self.count = count

    def __iter__(self) -> Iterator[Frame]:
        for i, frame in enumerate(self.inner):
            if i >= self.count:
                return
            yield frame

    def describe(self) -> dict[str, Any]:
        """The wrapped source's description."""
        return {**self.inner.describe(), "frames": self.count}
