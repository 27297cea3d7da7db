"""`artefacts_from_config`: the core of `depthmask export`, chaining the steps one handler per format.

checkpoint → fused graph → fp32 ONNX (always first) → [fp16 | int8 ONNX] and/or [TensorRT engine]
→ parity of every artefact against the PyTorch graph (`cfg.check`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.errors import ConfigError, MissingDependencyError, module_available
from depthmask.export.config import ExportConfig
from depthmask.export.parity import ParityResult
from depthmask.nets.graph import AuditGraph

log = logging.getLogger(__name__)

CHECK_SOURCE = "synthetic:seed=5"  # parity frames when no calibration footage is given


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote, how long each step took, and the parity of each artefact."""

    config: ExportConfig
    artefacts: tuple[Path, ...]
    metadata: dict[str, Any]
    seconds: dict[str, float]
    parity: tuple[ParityResult, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """True when every parity check passed (or none ran)."""
        return all(p.passed for p in self.parity)


def calibration_frames(cfg: ExportConfig, height: int, width: int) -> list[np.ndarray]:
    """The configured calibration frames at the model's size and channel order (spread over the source
    as `split_frames` spreads them, so `--fallback auto` searched on the frames an engine is built on)."""
    if cfg.calibration is None:
        raise ConfigError("int8 needs calibration frames: pass --calibration SOURCE")
    return held_out_frames(cfg, height, width, 0)[0]


def held_out_frames(
    cfg: ExportConfig, height: int, width: int, check: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """(the int8 calibration frames, [] otherwise; `check` frames of the same source that are not among
    them): the one split every export step uses (`split_frames`), so no gate is measured on frames the
    ranges were fitted to."""
    from depthmask.export.frames import split_frames

    used = cfg.calibration_frames if cfg.precision == "int8" else 0
    return split_frames(
        cfg.calibration or CHECK_SOURCE, height, width, used, check, channel_order=cfg.channel_order
    )


def fallback_frames(cfg: ExportConfig, height: int, width: int) -> tuple[list[np.ndarray] | None, np.ndarray]:
    """(calibration frames or None for fp16, the frames `--fallback auto` measures on)."""
    from depthmask.export.fallback import CHECK_FRAMES

    calibration, check = held_out_frames(cfg, height, width, max(cfg.check_frames, CHECK_FRAMES))
    return (calibration if cfg.precision == "int8" else None), check


def _fallback(cfg: ExportConfig, graph: AuditGraph, fp32: Path, out: Path, symmetric: bool) -> Path:
    """The reduced artefact with `--fallback auto` (the layers that break the gate kept in fp32)."""
    from depthmask.contract.fidelity import FidelityGate
    from depthmask.export.fallback import with_fallback

    calibration, check = fallback_frames(cfg, *graph.input_size)
    path, report = with_fallback(
        cfg.precision, fp32, out, calibration=calibration, check=check,
        gate=FidelityGate(cfg.max_abs_rel, cfg.min_iou), calibration_source=cfg.calibration,
        symmetric=symmetric, backend=cfg.fallback_backend,
    )  # fmt: skip
    if not report.passed:
        log.warning(
            "--fallback auto: even with every block in fp32 the %s artefact misses the gate (%s); "
            "it is written as it is", cfg.precision, report.after,
        )  # fmt: skip
    return path


def _onnx_variant(cfg: ExportConfig, graph: AuditGraph, fp32: Path) -> Path:
    """The ONNX artefact at `cfg.precision` (the fp32 file itself, or its fp16/int8 variant)."""
    from depthmask.export.onnx import default_output
    from depthmask.export.precision import fp16_from_onnx, int8_from_onnx

    if cfg.precision == "fp32":
        return fp32
    out = default_output(cfg, graph, "onnx")
    if cfg.fallback == "auto":
        return _fallback(cfg, graph, fp32, out, symmetric=False)
    if cfg.precision == "fp16":
        return fp16_from_onnx(fp32, out)
    frames = calibration_frames(cfg, *graph.input_size)
    return int8_from_onnx(
        fp32, out, frames, calibration_source=cfg.calibration, method=cfg.calibration_method
    )


def _engine(cfg: ExportConfig, graph: AuditGraph, fp32: Path) -> Path:
    """A TensorRT engine built from the fp32 ONNX file at `cfg.precision`; under `--fallback auto` the
    layers the search keeps in fp32 (on TensorRT's symmetric int8 form) are pinned to fp32 there."""
    from depthmask.contract.metadata import read_onnx_metadata
    from depthmask.export.onnx import default_output
    from depthmask.export.tensorrt import engine_from_onnx

    keep: list[str] = []
    method = cfg.calibration_method
    if cfg.fallback == "auto" and cfg.precision != "fp32":
        with tempfile.TemporaryDirectory(prefix="depthmask-trt-fallback-") as tmp:
            searched = _fallback(cfg, graph, fp32, Path(tmp) / "searched.onnx", symmetric=True)
            found = read_onnx_metadata(searched).get("fallback") or {}
        keep, method = list(found.get("kept_fp32") or []), found.get("method") or method
    frames = calibration_frames(cfg, *graph.input_size) if cfg.precision == "int8" else None
    return engine_from_onnx(
        fp32, cfg, default_output(cfg, graph, "engine"), calibration=frames, keep_fp32=keep, method=method
    )


Handler = Callable[[ExportConfig, AuditGraph, Path], Path]
HANDLERS: dict[str, tuple[tuple[str, Handler], ...]] = {
    "onnx": (("onnx", _onnx_variant),),
    "engine": (("engine", _engine),),
    "both": (("onnx", _onnx_variant), ("engine", _engine)),
}


def parity_of(graph: AuditGraph, artefact: Path, cfg: ExportConfig, frames: np.ndarray) -> ParityResult:
    """Parity of one artefact against the PyTorch graph on `frames` (`held_out_frames`' check frames)."""
    from depthmask.contract.metadata import read_metadata
    from depthmask.export.parity import artefact_parity

    meta = read_metadata(artefact)
    return artefact_parity(graph, artefact, meta, frames, batch=cfg.batch or 4)


# Called with a step's name, wraps the step: how it is shown is the caller's (export prints nothing).
StepProgress = Callable[[str], AbstractContextManager[Any]]


def artefacts_from_config(cfg: ExportConfig, step_progress: StepProgress | None = None) -> ExportResult:
    """Export as configured; each step ("load networks", "onnx fp32", "check m.onnx", ...) runs inside
    `step_progress(name)` when given: the caller's display (the CLI's spinner) sees it start and end."""
    from depthmask.contract.metadata import read_metadata
    from depthmask.export.onnx import default_output, graph_from_config, onnx_from_graph

    seconds: dict[str, float] = {}
    if cfg.format in ("engine", "both"):
        from depthmask.export.tensorrt import import_tensorrt

        import_tensorrt()  # fail before minutes of export when TensorRT is missing
    if cfg.fallback == "auto" and cfg.fallback_backend == "openvino" and not module_available("openvino"):
        from depthmask.runtime.backends.openvino import INSTALL_HINT

        raise MissingDependencyError(
            f"--fallback-backend openvino runs the fallback's trials on OpenVINO, which is not installed: "
            f"{INSTALL_HINT} (or search on ONNX Runtime: --fallback-backend onnxruntime)"
        )

    def step(name: str, fn: Callable[[], Any]) -> Any:
        with (step_progress or nullcontext)(name):
            t0 = time.perf_counter()
            value = fn()
            seconds[name] = round(time.perf_counter() - t0, 3)
        return value

    graph = step("load networks", lambda: graph_from_config(cfg))
    keep_fp32 = cfg.format in ("onnx", "both") and cfg.precision == "fp32"
    with tempfile.TemporaryDirectory(prefix="depthmask-export-") as tmp:
        # The fp32 ONNX is every other artefact's source; it is kept only when it is itself asked for.
        fp32_path = default_output(cfg, graph, "onnx") if keep_fp32 else Path(tmp) / "fp32.onnx"
        fp32 = step("onnx fp32", lambda: onnx_from_graph(graph, fp32_path, cfg))
        artefacts = [
            fp32  # the fp32 ONNX artefact is already written
            if (label, cfg.precision) == ("onnx", "fp32")
            else step(f"{label} {cfg.precision}", lambda h=h: h(cfg, graph, fp32))
            for label, h in HANDLERS[cfg.format]
        ]
        parity = ()
        if cfg.check:
            # Read once for every artefact; for int8, frames the calibration did not see.
            frames = held_out_frames(cfg, *graph.input_size, cfg.check_frames)[1]
            parity = tuple(
                step(f"check {a.name}", lambda a=a: parity_of(graph, a, cfg, frames)) for a in artefacts
            )
    return ExportResult(
        config=cfg,
        artefacts=tuple(artefacts),
        metadata=read_metadata(artefacts[0]),
        seconds=seconds,
        parity=parity,
    )
