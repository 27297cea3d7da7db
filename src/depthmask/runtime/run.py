"""`run(cfg)`: the core of `depthmask run` — open sources and model, stream, write outputs and the summary."""

from __future__ import annotations

import contextlib
import logging
import signal
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from depthmask.contract import exits
from depthmask.environment import fingerprint
from depthmask.errors import ConfigError, OutputError
from depthmask.runtime.backends import backend_name_for, create_backend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.latency import summarize
from depthmask.runtime.overlay import overlay_size
from depthmask.runtime.pipeline import Pipeline, PipelineOptions, PipelineReport
from depthmask.runtime.records import Result
from depthmask.runtime.signals import deferred, interruptible, received
from depthmask.runtime.sinks.audit import AuditLogSink, write_json_atomic
from depthmask.runtime.sinks.base import Sink
from depthmask.runtime.sinks.files import FrameFilesSink
from depthmask.runtime.sinks.guard import GuardedSink
from depthmask.runtime.sinks.samples import SamplesSink
from depthmask.runtime.sinks.video import OverlayVideoSink
from depthmask.sources import open_sources

log = logging.getLogger("depthmask.runtime")


def run(cfg: RunConfig, on_result: Callable[[Result], None] | None = None) -> dict[str, Any]:
    """Stream every source through the model; returns the summary (also written to `summary.json`).

    The model is validated and the output folder checked before the first frame. SIGINT and SIGTERM stop
    the run with every output finalised (exit status 130 / 143 in the summary); a second one exits at
    once. An optional output that fails (a full disk, an encoder error) is set aside and recorded; only
    a failing audit log ends the run early.
    """
    with interruptible():
        return _run(cfg, on_result)


def _run(cfg: RunConfig, on_result: Callable[[Result], None] | None) -> dict[str, Any]:
    # From the first frame to the summary a signal is noted, never raised (see runtime.signals).
    with contextlib.ExitStack() as calm:
        return _run_deferring(cfg, on_result, calm)


def _run_deferring(
    cfg: RunConfig, on_result: Callable[[Result], None] | None, calm: contextlib.ExitStack
) -> dict[str, Any]:
    sources = open_sources(list(cfg.sources))
    prepare_output_folder(cfg.out)
    name = cfg.backend or backend_name_for(cfg.model)
    backend = create_backend(name, cfg.model, **backend_options(name, cfg))
    opened: list[Any] = []
    sinks: list[Any] = []
    pipeline: Pipeline | None = None
    try:
        for s in sources:
            s.open()
            opened.append(s)
        backend.load()
        info = backend.info
        backend_description = backend.describe()  # while loaded: providers, device, threads in use
        ids = [s.source_id for s in sources]
        policies = [cfg.policy or s.default_policy for s in sources]
        audit = AuditLogSink(cfg.out / "audit.jsonl", info.stats_columns)
        audit.open()  # the record of the run: if it cannot be written, nothing runs
        sinks.append(audit)
        optional: list[tuple[str, Sink]] = []
        if cfg.show:
            from depthmask.runtime.sinks.window import WindowSink

            optional.append(("window", WindowSink(info.height)))
        if "samples" in cfg.save:
            total = sum(int(s.describe().get("frames") or 0) for s in sources) or None
            optional.append(("samples", SamplesSink(cfg.out, total)))
        if "video" in cfg.save:
            size = overlay_size(
                info.height,
                info.width,
                "mask" in info.outputs,
                bool({"depth", "depth_masked"} & set(info.outputs)),
            )
            fps = {s.source_id: float(s.describe().get("fps") or 0.0) for s in sources}
            optional.append(("video", OverlayVideoSink(cfg.out, ids, fps, size, cfg.depth_range)))
        files = {k for k in ("depth", "depth_masked", "mask") if k in cfg.save and k in info.outputs}
        if files:
            optional.append(("files", FrameFilesSink(cfg.out, files, ids)))
        for label, sink in optional:
            guarded = GuardedSink(sink, label)
            guarded.open()
            sinks.insert(len(sinks) - 1, guarded)  # the audit log is written last, after the files
        log.info(
            "effective config: backend=%s batch=%d policy=%s fit=%s model=%s",
            backend.name, cfg.batch, policies, cfg.fit, cfg.model,
        )  # fmt: skip
        options = PipelineOptions(
            cfg.batch, cfg.max_wait_ms, cfg.buffer, cfg.realtime, cfg.fit, max_frames=cfg.max_frames
        )
        t0 = time.time()
        pipeline = Pipeline(sources, policies, backend, sinks, options, on_result)
        calm.enter_context(deferred())
        report = pipeline.run()
    finally:
        calm.enter_context(deferred())  # closing (a video's index, the log) is never cut by a signal
        # A source whose reader is still blocked in it (a stalled stream) is not released under it.
        stuck = {id(sources[i]) for i in pipeline.stuck} if pipeline is not None else set()
        close_error = _close_all([*sinks, *(s for s in opened if id(s) not in stuck), backend])
    if report.error is None and close_error is not None:
        report.error = close_error
    if received() is not None and not report.interrupted:  # a signal noted while outputs were closing
        report.interrupted, report.signal = True, received()
    described = [s.describe() for s in sources]
    for d, s, n in zip(described, sources, report.read, strict=True):
        d["frames_read"] = n
        d["end"] = report.end_notes.get(s.source_id) or d.get("end")
    summary = {
        **audit.summary(),
        "exit_status": _exit_status(audit.counts, report),
        "interrupted": report.interrupted,
        "signal": signal.Signals(report.signal).name if report.signal else None,
        "error": None if report.error is None else f"{type(report.error).__name__}: {report.error}",
        "started": t0,
        "wall_s": round(report.wall_s, 3),
        "throughput_fps": round(audit.counts["ok"] / report.wall_s, 3) if report.wall_s > 0 else None,
        "batches": report.batches,
        "infer_ms_per_batch": summarize(report.infer_ms),
        "sink_ms_per_frame": summarize(report.sink_ms),
        "policies": dict(zip([s.source_id for s in sources], policies, strict=True)),
        "sources": described,
        "backend": backend_description,
        "model": info.metadata,
        "outputs": [sink.describe() for sink in sinks],
        "failed_outputs": {s.name: s.failed for s in sinks if isinstance(s, GuardedSink) and s.failed},
        "config": cfg.to_dict(),
        "environment": fingerprint(),
    }
    try:
        write_json_atomic(cfg.out / "summary.json", summary)
    except OSError as exc:  # a full disk: the records already in audit.jsonl are the run's account
        lost = OutputError(
            f"could not write {cfg.out / 'summary.json'} ({exc.strerror or exc}); audit.jsonl keeps the "
            f"{audit.lines} records written before. Free space and re-run, or pass another --out"
        )
        if report.error is None:
            raise lost from None
        log.error("%s", lost)
    if report.error is not None:  # outputs and summary are written; now the user sees the error
        raise report.error
    return summary


def prepare_output_folder(out: Path) -> None:
    """Create `out` (and its parents) and prove it is writable, before any model or frame is touched."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is an existing file; name a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise OutputError(
            f"--out {out} cannot be written ({exc.strerror or exc}); name a folder you can write to"
        ) from None


def backend_options(name: str, cfg: RunConfig) -> dict[str, Any]:
    """The constructor options of backend `name` from the run's settings; refuses what it cannot honour
    (a setting silently ignored would make benchmark rows lie)."""
    options: dict[str, Any] = {"threads": cfg.threads} if cfg.threads else {}
    if name == "torch":
        settings = (("device", cfg.device), ("precision", cfg.precision), ("depth_net", cfg.depth_net))
        options.update({k: v for k, v in settings if v})
        return options
    if cfg.depth_net is not None:
        raise ConfigError(
            f"--depth-net {cfg.depth_net} names the network for --backend torch to rebuild; the {name} "
            f"backend runs {cfg.model} as exported and needs no network code"
        )
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


def _close_all(things: Iterable[Any]) -> Exception | None:
    """Close every sink, source and the backend even when one fails (the audit log must be flushed);
    returns the first failure, which the summary records before it is raised."""
    first: Exception | None = None
    for thing in things:
        try:
            thing.close()
        except Exception as exc:  # keep closing the rest; recorded and raised by the caller
            log.error("closing %s failed: %s", type(thing).__name__, exc)
            first = first or exc
    return first


def _exit_status(counts: dict[str, int], report: PipelineReport) -> int:
    if report.error is not None:
        return exits.USER_ERROR
    if report.interrupted:
        return exits.interrupted(report.signal or signal.SIGINT)
    return exits.FRAMES_FAILED if counts["decode_error"] else exits.OK
