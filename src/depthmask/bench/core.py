"""`bench_from_config`: the core of `depthmask bench` — one row per (path, device, precision, batch).

For each combination: say why it cannot run here (an `unavailable` row), or open the backend, measure its
fidelity against the fp32 reference once, time each batch size (warm-up, then ≥ `seconds` and ≥ `iters`
calls), and optionally stream it end-to-end through the runtime pipeline. A combination that fails is a
`failed: <why>` row and the run goes on (DEPTHMASK_DEBUG=1 raises instead). GEMM peaks of the CPU
precisions measured are taken in the same run and each CPU row reports its % of its precision's peak.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.bench.config import AUTHORS, AUTO, BenchConfig
from depthmask.bench.fidelity import fidelity_of, run_in_batches
from depthmask.bench.measure import time_calls
from depthmask.bench.rows import END_TO_END, FAILED, UNAVAILABLE, BenchResult, Row
from depthmask.bench.subject import Subject
from depthmask.bench.targets import devices_for, open_target, unavailable
from depthmask.environment import fingerprint
from depthmask.errors import module_available

log = logging.getLogger("depthmask.bench")

OnRow = Callable[[Row], None]
OnStep = Callable[[str], None]


@contextlib.contextmanager
def _workdir(cfg: BenchConfig) -> Iterator[Path]:
    if cfg.workdir is not None:
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        yield cfg.workdir
    else:
        with tempfile.TemporaryDirectory(prefix="depthmask-bench-") as tmp:
            yield Path(tmp)


class _Run:
    """State shared by the rows of one run: the subject, the fp32 reference outputs, the streaming clip."""

    def __init__(
        self, cfg: BenchConfig, workdir: Path, on_row: OnRow, on_step: OnStep, subject: Subject | None
    ) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.on_row = on_row
        self.on_step = on_step
        self.subject = subject if subject is not None else Subject(cfg, workdir, on_step)
        self.threads = cfg.threads or os.cpu_count() or 1
        self._source: str | None = cfg.source
        self.rows: list[Row] = []
        self.profiles: list[dict[str, Any]] = []
        self.auto_label = ""  # what --backend auto chose (its rows are labelled "auto fp32 → <choice>")

    # -- shared inputs ---------------------------------------------------------------------------------
    def reference(self) -> dict[str, np.ndarray]:
        """The subject's fp32 reference outputs on the fidelity frames (computed once per subject)."""
        return self.subject.reference()

    def source(self) -> str:
        """The streaming source: as configured, else a synthetic drive rendered to a video file once."""
        if self._source is None:
            from depthmask.bench.stream import render_clip

            self.on_step(f"rendering a {self.cfg.stream_frames}-frame synthetic drive for streaming")
            self._source = str(render_clip(self.workdir / "drive.mp4", self.cfg.stream_frames))
        return self._source

    # -- rows ------------------------------------------------------------------------------------------
    def emit(self, row: Row) -> None:
        self.rows.append(row)
        self.on_row(row)

    def base(self, path: str, device: str, precision: str, batch: int, **kw: Any) -> Row:
        h, w = self.subject.size
        variant = (
            "three calls" if path == AUTHORS
            else f"→ {self.auto_label}" if path == AUTO and self.auto_label
            else "compile" if path == "torch" and self.cfg.compile
            else ""
        )  # fmt: skip
        return Row(
            path=path,
            precision=precision,
            batch=batch,
            device=device,
            height=h,
            width=w,
            mode=self.subject.mode,
            variant=variant,
            **kw,
        )

    def combination(self, path: str, device: str, precision: str) -> None:
        """Every batch size of one (path, device, precision)."""
        reason = unavailable(path, device, precision)
        if reason is None and path in (AUTHORS, "torch"):
            reason = self.subject.graph_unavailable()
        if reason is not None:
            for batch in self.cfg.batches:
                self.emit(self.base(path, device, precision, batch, status=UNAVAILABLE, reason=reason))
            return
        done: set[int] = set()
        backend = None
        fidelity = None
        try:
            self.on_step(f"{path} {precision} on {device}: preparing")
            backend = open_target(path, device, precision, self.subject, self.cfg)
            choice = getattr(backend, "auto_choice", None)
            if choice is not None:
                self.auto_label = choice.label
                self.on_step(f"auto: {choice.why}")
            backend.load()
            if self.cfg.fidelity:
                reference = self.reference()
                got = run_in_batches(backend.infer, self.subject.frames, min(self.cfg.batches))
                fidelity = fidelity_of(reference, got, epsilon=self.subject.info.epsilon)
            for batch in self.cfg.batches:
                self.on_step(f"{path} {precision} on {device}: batch {batch}")
                row = self.timed(backend, path, device, precision, batch, fidelity)
                done.add(batch)
                self.emit(row)
                if self.cfg.stream:
                    try:
                        self.emit(self.streamed(backend, row))
                    except Exception as exc:  # streaming failing leaves the compute rows standing
                        why = _failure(exc, f"{path} {precision} streaming")
                        self.emit(
                            self.base(
                                path, device, precision, batch, kind=END_TO_END, status=FAILED, reason=why
                            )
                        )
            if self.cfg.profile:
                try:
                    self.profile(path, precision, device)
                except Exception as exc:  # a profile is an explanation, not a measurement
                    why = _failure(exc, f"{path} {precision} profile")
                    self.profiles.append(
                        {"path": path, "precision": precision, "device": device, "error": why}
                    )
        except Exception as exc:  # one failing combination must not end the benchmark
            why = _failure(exc, f"{path} {precision} on {device}")
            for batch in self.cfg.batches:
                if batch not in done:
                    self.emit(self.base(path, device, precision, batch, status=FAILED, reason=why))
        finally:
            if backend is not None:
                backend.close()

    def timed(
        self, backend: Any, path: str, device: str, precision: str, batch: int, fidelity: dict | None
    ) -> Row:
        cfg = self.cfg
        frames = self.subject.batch_of(batch)
        timing = time_calls(
            lambda: backend.infer(frames),
            warmup=cfg.warmup,
            seconds=cfg.seconds,
            iters=cfg.iters,
            max_seconds=cfg.max_seconds,
        )
        fps = timing.frames_per_s(batch)
        # A path that computes a different graph (the authors' order of operations) counts its own.
        gflop = getattr(backend, "gflop_per_frame", None) or self.subject.gflop_per_frame
        notes = []
        choice = getattr(backend, "auto_choice", None)
        if choice is not None:
            notes.append(f"auto chose {choice.why}")
            notes += [
                f"auto probe {p.label}: {p.reason}"
                for p in choice.probes
                if p.reason and not (p.passed and p.eligible)
            ]
        if timing.capped:
            notes.append(
                f"stopped by --max-seconds {cfg.max_seconds:g} after {timing.iterations} iterations "
                f"(below the {cfg.iters}-iteration, {cfg.seconds:g} s convention)"
            )
        return self.base(
            path,
            device,
            precision,
            batch,
            warmup=cfg.warmup,
            iterations=timing.iterations,
            wall_s=round(timing.wall_s, 3),
            latency_ms=timing.summary(),
            frames_per_s=round(fps, 4),
            gflop_per_frame=round(gflop, 3) if gflop is not None else None,
            gflop_per_s=round(gflop * fps, 2) if gflop is not None else None,
            fidelity=fidelity,
            backend=_describe(backend, self.workdir),
            notes=tuple(notes),
            computes_at=choice.precision if choice is not None else None,
        )

    def streamed(self, backend: Any, compute: Row) -> Row:
        from depthmask.bench.stream import stream_measure

        self.on_step(f"{compute.label}: streaming at batch {compute.batch}")
        measured = stream_measure(
            backend, self.source(), compute.batch, self.cfg.stream_frames, compute.latency_ms.get("p50")
        )
        fps = measured["end_to_end_fps"]
        gflop = compute.gflop_per_frame
        latency = measured.get("latency", {}).get("end_to_end_ms") or measured["throughput_latency_ms"]
        return self.base(
            compute.path,
            compute.device,
            compute.precision,
            compute.batch,
            kind=END_TO_END,
            iterations=measured["frames"],
            wall_s=measured["wall_s"],
            latency_ms=latency,
            frames_per_s=fps,
            gflop_per_frame=gflop,
            gflop_per_s=round(gflop * fps, 2) if gflop is not None else None,
            stream=measured,
            backend=compute.backend,
        )

    def profile(self, path: str, precision: str, device: str) -> None:
        from depthmask.bench.profile import openvino_profile, ort_profile

        if device != "cpu" or path not in ("onnxruntime", "openvino"):
            return
        batch = min(self.cfg.batches)
        frames = self.subject.batch_of(batch)
        self.on_step(f"{path} {precision}: per-op profile at batch {batch}")
        if path == "onnxruntime":
            prof = ort_profile(self.subject.onnx(precision), frames, self.cfg.threads)
        else:
            model = self.subject.onnx("int8" if precision == "int8" else "fp32")
            prof = openvino_profile(model, frames, precision, self.cfg.threads)
        self.profiles.append({"path": path, "precision": precision, "device": device, **prof})


def _failure(exc: Exception, what: str) -> str:
    """'Type: first line of the message' (DEPTHMASK_DEBUG=1 re-raises instead, with the traceback)."""
    if os.environ.get("DEPTHMASK_DEBUG") == "1":
        raise exc
    log.debug("%s failed", what, exc_info=exc)
    first = (str(exc).strip().splitlines() or [""])[0][:400]
    return f"{type(exc).__name__}: {first}"


def _describe(backend: Any, workdir: Path) -> dict[str, Any]:
    """The backend's description, a model in the work folder named relative to it (the folder is
    temporary unless --workdir: no machine's path in a result file)."""
    try:
        described = dict(backend.describe())
    except Exception as exc:  # a description must never cost the measurement
        return {"describe_error": str(exc)}
    model = described.get("model")
    if isinstance(model, str) and Path(model).is_relative_to(workdir):
        described["model"] = str(Path(model).relative_to(workdir))
    return described


def with_peaks(rows: list[Row], peaks: dict[str, Any]) -> list[Row]:
    """CPU rows get the GEMM peak of the precision they compute at (an auto row's choice, else their own)
    and their % of it."""
    import dataclasses

    out = []
    for r in rows:
        peak = peaks.get(r.computes_at or r.precision, {}).get("gflop_per_s") if r.device == "cpu" else None
        if r.ok and peak and r.gflop_per_s is not None:
            r = dataclasses.replace(r, peak_gflop_per_s=peak, peak_pct=round(100.0 * r.gflop_per_s / peak, 2))
        out.append(r)
    return out


def bench_from_config(
    cfg: BenchConfig,
    *,
    on_row: OnRow | None = None,
    on_step: OnStep | None = None,
    subject: Subject | None = None,
) -> BenchResult:
    """Measure every configured combination; rows come back (and to `on_row` as each is done).

    `subject`: a Subject from an earlier run of the same networks, size and weights, whose graph, exports
    and reference outputs are reused (a harness measuring several row sets pays for them once).
    """
    if subject is not None:
        subject.require_compatible(cfg)
    t0 = time.perf_counter()
    on_row = on_row or (lambda _row: None)
    on_step = on_step or (lambda msg: log.info("%s", msg))
    threads = cfg.threads or os.cpu_count() or 1
    if module_available("torch"):
        import torch

        torch.set_num_threads(threads)  # the authors' way and the reference run on the process's threads
    with _workdir(cfg) as work:
        run = _Run(cfg, subject.workdir if subject is not None else work, on_row, on_step, subject)
        for path in cfg.backends:
            for device in devices_for(path, cfg.devices):
                for precision in cfg.precisions:
                    run.combination(path, device, precision)
        peaks: dict[str, Any] = {}
        if cfg.peak:
            from depthmask.bench.peak import gemm_peak

            for precision in sorted(
                {r.computes_at or r.precision for r in run.rows if r.ok and r.device == "cpu"}
            ):
                on_step(f"GEMM peak, {precision}, {threads} threads")
                peaks[precision] = gemm_peak(precision, threads).to_dict()
        rows = with_peaks(run.rows, peaks)
        subject = {
            **run.subject.describe(),
            "fidelity_reference": run.subject.reference_name,
            "fidelity_frames": len(run.subject.frames) if run.subject.reference_name else 0,
            "sensitivity": run.subject.sensitivity,
            "threads": threads,
        }
    return BenchResult(
        config=cfg.to_dict(),
        subject=subject,
        rows=tuple(rows),
        peaks=peaks,
        environment=_environment(),
        profiles=tuple(run.profiles),
        seconds=time.perf_counter() - t0,
    )


def _environment() -> dict[str, Any]:
    """The fingerprint (contracts §5) plus the optional libraries benchmarks use."""
    from importlib import metadata

    env = dict(fingerprint())
    libs = dict(env.get("libraries", {}))
    for name in ("openvino", "onnx", "onnxscript", "onnxslim"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            libs[name] = metadata.version(name)
    env["libraries"] = libs
    env["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    return env
