"""`run(cfg)`: the core of `depthmask run` — open sources and model, stream, write outputs and the summary."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from depthmask.environment import fingerprint
from depthmask.errors import ConfigError
from depthmask.runtime.backends import backend_name_for, create_backend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.latency import summarize
from depthmask.runtime.overlay import overlay_size
from depthmask.runtime.pipeline import Pipeline, PipelineOptions, PipelineReport
from depthmask.runtime.records import Result
from depthmask.runtime.signals import sigint_deferred
from depthmask.runtime.sinks.audit import AuditLogSink, write_json_atomic
from depthmask.runtime.sinks.base import Sink
from depthmask.runtime.sinks.files import FrameFilesSink
from depthmask.runtime.sinks.samples import SamplesSink
from depthmask.runtime.sinks.video import OverlayVideoSink
from depthmask.runtime.sources import open_sources

log = logging.getLogger("depthmask.runtime")

EXIT_OK = 0
EXIT_ERROR = 1  # the run stopped early on an error (named in summary.json); what was processed is kept
EXIT_FRAMES_FAILED = 2  # the run completed but some frames could not be decoded
EXIT_INTERRUPTED = 130  # Ctrl-C: outputs flushed and finalised, summary written


def run(cfg: RunConfig, on_result: Callable[[Result], None] | None = None) -> dict[str, Any]:
    """Stream every source through the model; returns the summary (also written to `summary.json`)."""
    sources = open_sources(list(cfg.sources))
    name = cfg.backend or backend_name_for(cfg.model)
    backend = create_backend(name, cfg.model, **backend_options(name, cfg))
    opened: list[Any] = []
    sinks: list[Sink] = []
    try:
        for s in sources:
            s.open()
            opened.append(s)
        backend.load()
        info = backend.info
        backend_description = backend.describe()  # while loaded: providers, device, threads in use
        ids = [s.source_id for s in sources]
        policies = [cfg.policy or s.default_policy for s in sources]
        cfg.out.mkdir(parents=True, exist_ok=True)
        audit = AuditLogSink(cfg.out / "audit.jsonl", info.stats_columns)
        sinks.append(audit)
        files = {k for k in ("depth", "depth_masked", "mask") if k in cfg.save and k in info.outputs}
        if files:
            sinks.insert(0, FrameFilesSink(cfg.out, files, ids))
        if "video" in cfg.save:
            size = overlay_size(
                info.height,
                info.width,
                "mask" in info.outputs,
                bool({"depth", "depth_masked"} & set(info.outputs)),
            )
            fps = {s.source_id: float(s.describe().get("fps") or 0.0) for s in sources}
            sinks.insert(0, OverlayVideoSink(cfg.out, ids, fps, size, cfg.depth_range))
        if "samples" in cfg.save:
            total = sum(int(s.describe().get("frames") or 0) for s in sources) or None
            sinks.insert(0, SamplesSink(cfg.out, total))
        if cfg.show:
            from depthmask.runtime.sinks.window import WindowSink

            sinks.insert(0, WindowSink(info.height))
        for sink in sinks:
            sink.open()
        log.info(
            "effective config: backend=%s batch=%d policy=%s fit=%s model=%s",
            backend.name, cfg.batch, policies, cfg.fit, cfg.model,
        )  # fmt: skip
        options = PipelineOptions(cfg.batch, cfg.max_wait_ms, cfg.buffer, cfg.realtime, cfg.fit)
        t0 = time.time()
        report = Pipeline(sources, policies, backend, sinks, options, on_result).run()
    finally:
        with sigint_deferred():  # a second Ctrl-C must not leave a video without its index
            _close_all([*sinks, *opened, backend])
    summary = {
        **audit.summary(),
        "exit_status": _exit_status(audit.counts, report),
        "interrupted": report.interrupted,
        "error": None if report.error is None else f"{type(report.error).__name__}: {report.error}",
        "started": t0,
        "wall_s": round(report.wall_s, 3),
        "throughput_fps": round(audit.counts["ok"] / report.wall_s, 3) if report.wall_s > 0 else None,
        "batches": report.batches,
        "infer_ms_per_batch": summarize(report.infer_ms),
        "sink_ms_per_frame": summarize(report.sink_ms),
        "policies": dict(zip([s.source_id for s in sources], policies, strict=True)),
        "sources": [s.describe() for s in sources],
        "backend": backend_description,
        "model": info.metadata,
        "outputs": [sink.describe() for sink in sinks],
        "config": cfg.to_dict(),
        "environment": fingerprint(),
    }
    with sigint_deferred():
        write_json_atomic(cfg.out / "summary.json", summary)
    if report.error is not None:  # outputs and summary are written; now the user sees the error
        raise report.error
    return summary


def backend_options(name: str, cfg: RunConfig) -> dict[str, Any]:
    """The constructor options of backend `name` from the run's settings; refuses what it cannot honour
    (a setting silently ignored would make benchmark rows lie)."""
    options: dict[str, Any] = {"threads": cfg.threads} if cfg.threads else {}
    if name == "torch":
        options.update({k: v for k, v in (("device", cfg.device), ("precision", cfg.precision)) if v})
        return options
    if cfg.precision is not None:
        raise ConfigError(
            f"--precision {cfg.precision} sets the torch backend's compute precision; the {name} backend "
            f"runs {cfg.model} at the precision it was exported with (export another with "
            "`depthmask export --precision fp16`), or add --backend torch"
        )
    if cfg.device is None:
        return options
    if name == "onnxruntime" and cfg.device in ("cpu", "cuda"):
        options["providers"] = [cfg.device]
    elif name == "tensorrt" and (cfg.device == "cuda" or cfg.device.startswith("cuda:")):
        index = cfg.device.partition(":")[2] or "0"
        if not index.isdigit():
            raise ConfigError(f"--device {cfg.device!r}: write the GPU as cuda:N, e.g. cuda:0")
        options["device"] = int(index)
    else:
        takes = {"onnxruntime": "cpu or cuda", "tensorrt": "cuda or cuda:N"}.get(name, "no --device")
        raise ConfigError(f"--device {cfg.device!r}: the {name} backend takes {takes}")
    return options


def _close_all(things: Iterable[Any]) -> None:
    """Close every sink, source and the backend even when one fails (the audit log must be flushed);
    the first failure is raised afterwards."""
    first: BaseException | None = None
    for thing in things:
        try:
            thing.close()
        except Exception as exc:  # keep closing the rest; re-raised below
            log.error("closing %s failed: %s", type(thing).__name__, exc)
            first = first or exc
    if first is not None:
        raise first


def _exit_status(counts: dict[str, int], report: PipelineReport) -> int:
    if report.error is not None:
        return EXIT_ERROR
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FRAMES_FAILED if counts["decode_error"] or counts["skipped"] else EXIT_OK
