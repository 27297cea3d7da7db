"""`run(cfg)`: the core of `depthmask run` — open sources and model, stream, write outputs and the summary."""

from __future__ import annotations

import contextlib
import logging
import signal
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from depthmask.contract import exits
from depthmask.contract.constants import MASK_EMPTY_KEEP, MASK_FULL_KEEP
from depthmask.contract.model_info import ModelInfo
from depthmask.environment import fingerprint
from depthmask.errors import ConfigError, OutputError
from depthmask.runtime.backends import backend_name_for, create_backend
from depthmask.runtime.backends.base import Backend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.latency import summarize
from depthmask.runtime.pipeline import Pipeline, PipelineOptions, PipelineReport
from depthmask.runtime.records import Result
from depthmask.runtime.regions import RegionPlan, read_region_file
from depthmask.runtime.signals import deferred, interruptible, received
from depthmask.runtime.sinks.audit import AuditLogSink, write_json_atomic
from depthmask.runtime.sinks.base import Sink
from depthmask.runtime.sinks.files import FrameFilesSink
from depthmask.runtime.sinks.guard import GuardedSink
from depthmask.runtime.sinks.samples import SamplesSink
from depthmask.runtime.sinks.video import OverlayVideoSink
from depthmask.runtime.temporal import TEMPORAL_COLUMNS
from depthmask.sources import open_sources

if TYPE_CHECKING:
    from depthmask.runtime.auto import Choice

log = logging.getLogger("depthmask.runtime")
ASPECT_TOLERANCE = 0.10  # frames whose aspect differs from the model's by more are warned about
MAX_RUN_FOLDERS = 9999


def run(
    cfg: RunConfig,
    on_result: Callable[[Result], None] | None = None,
    on_start: Callable[[int | None], None] | None = None,
    *,
    backend: Backend | None = None,
    handle_signals: bool = True,
) -> dict[str, Any]:
    """Stream every source through the model; returns the summary (also written to `summary.json`).

    Outputs go to a new folder (`cfg.out`, or `out2`, `out3`, … when it holds an earlier run, unless
    `cfg.exist_ok`); the summary's `out` names it. `on_start(frames)` is told, once, before the first
    frame, how many frames the run will read (None when a source's length is unknown); `on_result`
    gets each frame's result as its record is written.
    The model is validated and the output folder checked before the first frame. SIGINT and SIGTERM stop
    the run with every output finalised (exit status 130 / 143 in the summary); a second one exits at
    once. An optional output that fails (a full disk, an encoder error) is set aside and recorded; only
    a failing audit log ends the run early.

    `backend`: one already loaded (a fleet worker's, kept across drives), used as it is and left open;
    None loads `cfg.model` and closes it at the end. `handle_signals=False` leaves SIGINT and SIGTERM to
    the process's owner (a Ray worker, whose driver stops it).
    """
    guard = interruptible() if handle_signals else contextlib.nullcontext()
    with guard, contextlib.ExitStack() as calm:
        # From the first frame to the summary a signal is noted, never raised (see runtime.signals).
        return _run_deferring(cfg, on_result, on_start, calm, backend)


def _run_deferring(
    cfg: RunConfig,
    on_result: Callable[[Result], None] | None,
    on_start: Callable[[int | None], None] | None,
    calm: contextlib.ExitStack,
    loaded: Backend | None,
) -> dict[str, Any]:
    sources = open_sources(list(cfg.sources))
    out = prepare_output_folder(cfg.out, cfg.exist_ok)
    chosen = None
    if loaded is None:
        backend, chosen = backend_for(cfg)
    else:
        backend = loaded
    opened: list[Any] = []
    sinks: list[Any] = []
    pipeline: Pipeline | None = None
    try:
        for s in sources:
            s.open()
            opened.append(s)
        if loaded is None:
            backend.load()
        info = backend.info
        plan = region_plan(cfg, info)
        backend_description = backend.describe()  # while loaded: providers, device, threads in use
        ids = [s.source_id for s in sources]
        policies = [cfg.policy or s.default_policy for s in sources]
        temporal = TEMPORAL_COLUMNS if "mask" in info.outputs else ()  # from the masks, on the host
        audit = AuditLogSink(out / "audit.jsonl", (*info.stats_columns, *temporal), info.curve_keeps)
        audit.open()  # the record of the run: if it cannot be written, nothing runs
        sinks.append(audit)
        optional: list[tuple[str, Sink]] = []
        if cfg.show:
            from depthmask.runtime.sinks.window import WindowSink

            optional.append(("window", WindowSink()))
        expected = expected_frames(sources, cfg.max_frames)
        if "samples" in cfg.save:
            optional.append(("samples", SamplesSink(out, expected)))
        if "video" in cfg.save:
            fps = {s.source_id: float(s.describe().get("fps") or 0.0) for s in sources}
            optional.append(("video", OverlayVideoSink(out, ids, fps, cfg.depth_range)))
        files = {k for k in ("depth", "depth_masked", "mask") if k in cfg.save and k in info.outputs}
        if files:
            optional.append(("files", FrameFilesSink(out, files, ids)))
        for label, sink in optional:
            guarded = GuardedSink(sink, label)
            guarded.open()
            sinks.insert(len(sinks) - 1, guarded)  # the audit log is written last, after the files
        log.info(
            "effective config: backend=%s batch=%d policy=%s fit=%s model=%s",
            backend.name, cfg.batch, policies, cfg.fit, cfg.model,
        )  # fmt: skip
        pictures = cfg.show or bool({"video", "samples"} & cfg.save)
        options = PipelineOptions(
            cfg.batch, cfg.max_wait_ms, cfg.buffer, cfg.realtime, cfg.fit, max_frames=cfg.max_frames,
            display_width=cfg.overlay_width if pictures else None, jump_iou=cfg.jump_iou, regions=plan,
        )  # fmt: skip
        t0 = time.time()
        pipeline = Pipeline(sources, policies, backend, sinks, options, on_result)
        calm.enter_context(deferred())
        if on_start is not None:
            on_start(expected)
        report = pipeline.run()
    finally:
        calm.enter_context(deferred())  # closing (a video's index, the log) is never cut by a signal
        # A source whose reader is still blocked in it (a stalled stream) is not released under it.
        stuck = {id(sources[i]) for i in pipeline.stuck} if pipeline is not None else set()
        owned = [backend] if loaded is None else []  # a backend handed in stays open for its owner
        close_error = _close_all([*sinks, *(s for s in opened if id(s) not in stuck), *owned])
    if report.error is None and close_error is not None:
        report.error = close_error
    if received() is not None and not report.interrupted:  # a signal noted while outputs were closing
        report.interrupted, report.signal = True, received()
    described = [s.describe() for s in sources]
    for d, s, n in zip(described, sources, report.read, strict=True):
        d["frames_read"] = n
        d["end"] = report.end_notes.get(s.source_id) or d.get("end")
    logged = audit.summary()
    summary = {
        **logged,
        "out": str(out),
        "source_sizes": {sid: list(hw) for sid, hw in report.source_sizes.items()},  # (h, w) decoded
        "warnings": [
            *aspect_warnings(
                report.source_sizes, (info.height, info.width), cfg.fit, info.max_regions is not None
            ),
            *mask_warnings(logged["flags"], audit.counts["ok"], cfg.sources),
        ],
        "exit_status": _exit_status(audit.counts, report),
        "interrupted": report.interrupted,
        "signal": signal.Signals(report.signal).name if report.signal else None,
        "error": None if report.error is None else f"{type(report.error).__name__}: {report.error}",
        "started": t0,
        "wall_s": round(report.wall_s, 3),
        "throughput_fps": round(audit.counts["ok"] / report.wall_s, 3) if report.wall_s > 0 else None,
        "batches": report.batches,
        "compute_ms": {
            "per_batch": summarize(report.infer_ms),
            "per_frame": summarize(ms / n for ms, n in zip(report.infer_ms, report.batch_sizes, strict=True)),
        },
        "sink_ms_per_frame": summarize(report.sink_ms),
        "policies": dict(zip([s.source_id for s in sources], policies, strict=True)),
        "sources": described,
        "backend": backend_description,
        "backend_auto": chosen.to_dict() if chosen is not None else None,
        "model": info.metadata,
        "outputs": [sink.describe() for sink in sinks],
        "failed_outputs": {s.name: s.failed for s in sinks if isinstance(s, GuardedSink) and s.failed},
        "config": cfg.to_dict(),
        "environment": fingerprint(),
    }
    try:
        write_json_atomic(out / "summary.json", summary)
    except OSError as exc:  # a full disk: the records already in audit.jsonl are the run's account
        lost = OutputError(
            f"could not write {out / 'summary.json'} ({exc.strerror or exc}); audit.jsonl keeps the "
            f"{audit.lines} records written before. Free space and re-run, or pass another --out"
        )
        if report.error is None:
            raise lost from None
        log.error("%s", lost)
    if report.error is not None:  # outputs and summary are written; now the user sees the error
        raise report.error
    return summary


def prepare_output_folder(out: Path, exist_ok: bool = True) -> Path:
    """The folder this run writes to, created and proven writable before any model or frame is touched:
    `out` itself when it is new or empty (or `exist_ok`), else the first free `out2`, `out3`, … (as
    Ultralytics numbers its runs), so a re-run never mixes its outputs with an earlier run's."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is an existing file; name a folder (it is created if missing)")
    try:
        folder = out if exist_ok else _new_folder(out)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(
            f"--out {out} cannot be written ({exc.strerror or exc}); name a folder you can write to"
        ) from None
    return folder


def _new_folder(out: Path) -> Path:
    """`out`, or `out2`, `out3`, … : the first that does not exist or is an empty folder, claimed by
    mkdir so two runs started at once never share one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, MAX_RUN_FOLDERS + 1):
        folder = out if n == 1 else out.with_name(f"{out.name}{n}")
        if folder.is_dir() and not any(folder.iterdir()):
            return folder
        try:
            folder.mkdir()
            return folder
        except FileExistsError:  # an earlier run's folder (or a file of that name): the next number
            continue
    raise OutputError(
        f"--out {out}: {out.name}2 … {out.name}{MAX_RUN_FOLDERS} all hold earlier runs; name another folder "
        "or add --exist-ok to write into it"
    )


def expected_frames(sources: Iterable[Any], max_frames: int | None) -> int | None:
    """How many frames the run will read: each source's length (capped by `max_frames`), summed; None
    when a source does not know its length and no cap is given (a camera, a stream)."""
    total = 0
    for source in sources:
        n = source.describe().get("frames")
        if not n:
            if max_frames is None:
                return None
            n = max_frames
        total += min(int(n), max_frames) if max_frames is not None else int(n)
    return total


def region_plan(cfg: RunConfig, info: ModelInfo) -> RegionPlan | None:
    """The boxes to audit (`--roi`, `--roi-file`), checked against the model: boxes need a region graph."""
    if not cfg.roi and cfg.roi_file is None:
        return None
    if info.max_regions is None:
        raise ConfigError(
            f"--roi/--roi-file: {cfg.model} takes no region maps; export it with `depthmask export "
            "--regions N` (N: the most boxes a frame), or run without boxes"
        )
    region_file = read_region_file(cfg.roi_file) if cfg.roi_file is not None else None
    return RegionPlan(cfg.roi, region_file)


def aspect_warnings(
    sizes: dict[str, tuple[int, int]], model: tuple[int, int], fit: str, regions: bool = False
) -> list[dict[str, str]]:
    """One warning per source whose aspect differs from the model input's by more than 10 %. Under
    letterbox a model without region maps counts the bars in its statistics, and the warning says so."""
    out = []
    mh, mw = model
    for sid, (h, w) in sizes.items():
        ratio = (w / h) / (mw / mh)
        if abs(ratio - 1) > ASPECT_TOLERANCE:
            how = {
                "resize": "stretched to it (add --fit letterbox or --fit crop to keep shapes)",
                "crop": "centre-cropped to it (the overlay shows what the model saw)",
                "letterbox": "letterboxed into it (grey bars the model saw, cut away in the overlay"
                + (
                    ", left out of every statistic)"
                    if regions
                    else "; the statistics include them: export the model with --regions 0 to leave them out)"
                ),
            }[fit]
            out.append({
                "kind": "aspect",
                "message": f"{sid}: frames are {w}×{h} (aspect {w / h:.2f}) but the model takes {mw}×{mh} "
                f"(aspect {mw / mh:.2f}); --fit {fit}: {how}",
            })  # fmt: skip
    return out


def mask_warnings(flags: dict[str, int], ok: int, sources: Iterable[str]) -> list[dict[str, str]]:
    """A warning when G kept almost nothing or almost everything on some frames: what it means, what to do."""
    if not ok:
        return []
    data = next(iter(sources), "FOOTAGE")
    texts = {
        "mask_empty": (
            f"G kept < {MASK_EMPTY_KEEP:.0%} of the pixels: far_attention is undefined there (null) and the "
            "mask says nothing about where N looks"
        ),
        "mask_full": (
            f"G kept > {MASK_FULL_KEEP:.0%} of the pixels: the mask is not sparse, so it does not single out "
            "what N uses"
        ),
    }
    out = []
    for kind, text in texts.items():
        n = flags.get(kind, 0)
        if n:
            out.append({
                "kind": kind,
                "message": f"{n} of {ok} frames ({n / ok:.0%}): {text}. This G was probably not trained "
                "for this footage: `depthmask train mask --depth-checkpoint N.safetensors --data "
                f"{data}` trains one that is",
            })  # fmt: skip
    return out


def backend_for(cfg: RunConfig) -> tuple[Backend, Choice | None]:
    """The (unloaded) backend the run's settings name, and with `--backend auto` what was chosen."""
    name = cfg.backend or backend_name_for(cfg.model)
    if name != "auto":
        return create_backend(name, cfg.model, **backend_options(name, cfg)), None
    chosen = auto_backend(cfg)
    options = {**chosen.options, **({"threads": cfg.threads} if cfg.threads else {})}
    return create_backend(chosen.backend, Path(chosen.model or cfg.model), **options), chosen


def auto_backend(cfg: RunConfig) -> Choice:
    """`--backend auto`: the probed (or cached) fastest path within the fidelity gate; settings that
    would pin the path it chooses are refused."""
    from depthmask.runtime.auto import choose_backend

    pinned = {"--precision": cfg.precision, "--device": cfg.device, "--depth-net": cfg.depth_net}
    for option, value in pinned.items():
        if value is not None:
            raise ConfigError(
                f"{option} {value}: --backend auto chooses the backend and precision itself; drop {option} "
                "or name a backend (--backend onnxruntime, openvino, tensorrt or torch)"
            )
    return choose_backend(cfg.model, cfg.batch, cfg.threads)


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
