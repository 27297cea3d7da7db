"""What a benchmark measures: one fused graph at one frame size, and the artefacts derived from it.

Built lazily, so a run asks only for what its rows need: the PyTorch `AuditGraph` (torch and authors rows,
the fidelity reference), the fp32 ONNX export (onnxruntime, openvino, tensorrt), its fp16 and int8 QDQ
variants, TensorRT engines. From `--model FILE` the ONNX file is the starting point and the graph is
rebuilt from its metadata; from `--backbone`/`--depth-net` the graph is built on the fly (random weights
settled to trained-like scales unless checkpoints are given) and exported into the work folder.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.bench.config import FIDELITY_SOURCE, BenchConfig
from depthmask.contract.model_info import ModelInfo
from depthmask.errors import ConfigError, DepthmaskError, MissingDependencyError, module_available

log = logging.getLogger("depthmask.bench")
DEFAULT_DEPTH_NET = "hu2019_resnet50"
DEFAULT_MASK_NET = "mask_drn_d_22"
REFERENCE_BATCH = 4  # the reference runs the fidelity frames in batches of this many
# What the result file keeps of int8's fallback report.
FALLBACK_FIELDS = ("gate", "method", "backend", "before", "after", "frames", "fp32_fps", "passed", "seconds")


class Subject:
    """The graph, its artefacts and the frames every row of one run uses."""

    def __init__(self, cfg: BenchConfig, workdir: Path, on_step: Any = None) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.on_step = on_step or (lambda _msg: None)
        self._graph: Any = None
        self._graph_error: str | None = None
        self._onnx: dict[str, Path] = {}
        self._engines: dict[str, Path] = {}
        self._metadata: dict[str, Any] | None = None
        self.fallback_report: dict[str, Any] | None = None  # what int8's --fallback auto kept, when run
        self._fallbacks: dict[Any, tuple[Path, dict[str, Any]]] = {}  # (gate, backend) → (artefact, report)
        self._frames: np.ndarray | None = None
        self._export_cfg: Any = None
        self._reference: dict[str, np.ndarray] | None = None
        self.reference_name: str | None = None
        self.sensitivity: dict[str, Any] | None = None
        self.weights = "checkpoints" if cfg.model is None and not cfg.random_weights else None
        if cfg.model is not None:
            self._onnx["fp32"] = cfg.model
            from depthmask.runtime.backends.onnxruntime import read_onnx_info

            info = read_onnx_info(cfg.model)
            self._metadata = info.metadata
            self.weights = "from the model's metadata"
            if info.metadata.get("precision") != "fp32":
                raise DepthmaskError(
                    f"--model {cfg.model} is {info.metadata.get('precision')}; pass the fp32 export: bench "
                    "derives the fp16 and int8 variants from it and compares each with fp32"
                )

    # -- sizes and names -------------------------------------------------------------------------------
    @property
    def size(self) -> tuple[int, int]:
        """The frames' (H, W)."""
        if self._metadata is not None:
            return int(self._metadata["input"]["height"]), int(self._metadata["input"]["width"])
        if self.cfg.size is not None:
            return self.cfg.size
        from depthmask.nets.models import model_entry

        return tuple(model_entry(self.depth_net_name).input_size)  # type: ignore[return-value]

    @property
    def depth_net_name(self) -> str:
        """N's registry name."""
        if self._metadata is not None:
            record = self._metadata.get("checkpoints", {}).get("depth_net") or {}
            return str(record.get("name") or self._metadata.get("depth_net") or "?")
        return self.cfg.depth_net or DEFAULT_DEPTH_NET

    @property
    def mask_net_name(self) -> str:
        """G's registry name."""
        if self._metadata is not None:
            record = self._metadata.get("checkpoints", {}).get("mask_net") or {}
            return str(record.get("name") or self._metadata.get("mask_net") or "?")
        return self.cfg.mask_net or DEFAULT_MASK_NET

    @property
    def mode(self) -> str:
        """The graph's mode."""
        return str(self._metadata["mode"]) if self._metadata is not None else self.cfg.mode

    # -- frames ----------------------------------------------------------------------------------------
    @property
    def frames(self) -> np.ndarray:
        """`fidelity_frames` synthetic driving frames at the size (timing tiles them to each batch)."""
        if self._frames is None:
            from depthmask.export.frames import collect, frames_from_source

            h, w = self.size
            order = self._metadata["input"].get("channel_order", "bgr") if self._metadata else "bgr"
            self._frames = collect(
                frames_from_source(FIDELITY_SOURCE, h, w, self.cfg.fidelity_frames, channel_order=order)
            )
        return self._frames

    def batch_of(self, batch: int) -> np.ndarray:
        """`batch` frames (the fidelity frames repeated as needed)."""
        reps = -(-batch // len(self.frames))
        return np.ascontiguousarray(np.concatenate([self.frames] * reps)[:batch])

    def calibration(self) -> list[np.ndarray]:
        """Frames for settling random weights and calibrating int8 (never the fidelity frames)."""
        from depthmask.export.frames import split_frames

        h, w = self.size
        return split_frames(self.cfg.calibration, h, w, self.cfg.calibration_frames, 0)[0]

    # -- the PyTorch graph -----------------------------------------------------------------------------
    def export_config(self) -> Any:
        """The ExportConfig the on-the-fly graph corresponds to (how its ONNX files are written)."""
        if self._export_cfg is None:
            from depthmask.export.config import ExportConfig

            h, w = self.size
            self._export_cfg = ExportConfig(
                depth_net=self.cfg.depth_net or DEFAULT_DEPTH_NET,
                mask_net=self.cfg.mask_net or DEFAULT_MASK_NET,
                checkpoint_n=self.cfg.checkpoint_n,
                checkpoint_g=self.cfg.checkpoint_g,
                mode=self.cfg.mode,
                height=h,
                width=w,
                random_weights=self.cfg.random_weights,
                seed=self.cfg.seed,
                check=False,
                calibration=self.cfg.calibration,
                calibration_frames=self.cfg.calibration_frames,
            )
        return self._export_cfg

    def graph_unavailable(self) -> str | None:
        """Why no PyTorch graph can be had here (None when it can)."""
        if not module_available("torch"):
            return "needs PyTorch, which is not installed: pip install 'depthmask[train]'"
        if self._graph is None and self._graph_error is None:
            try:
                self.graph  # noqa: B018 - building it is the test
            except DepthmaskError as exc:
                self._graph_error = str(exc)
        return self._graph_error

    @property
    def graph(self) -> Any:
        """The fp32 AuditGraph (built once; random weights are settled, see `depthmask.bench.weights`)."""
        if self._graph is not None:
            return self._graph
        if not module_available("torch"):
            raise MissingDependencyError("the PyTorch graph needs torch: pip install 'depthmask[train]'")
        if self.cfg.model is not None:
            from depthmask.nets.rebuild import graph_from_metadata

            self.on_step("rebuilding the PyTorch graph from the model's metadata")
            graph = graph_from_metadata(
                self._metadata,  # type: ignore[arg-type]
                checkpoint_n=self.cfg.checkpoint_n,
                checkpoint_g=self.cfg.checkpoint_g,
                beside=self.cfg.model.parent,
                artefact=self.cfg.model,
            )
        else:
            from depthmask.export.onnx import graph_from_config

            graph = graph_from_config(self.export_config())
            if self.cfg.random_weights and self.cfg.settle:
                self._settle(graph)
            self.weights = (
                "checkpoints"
                if not self.cfg.random_weights
                else "random, settled"
                if self.cfg.settle
                else "random (untrained, unsettled)"
            )
        if tuple(graph.input_size or ()) != tuple(self.size):
            raise ConfigError(f"the graph was built for {graph.input_size}, the bench asked for {self.size}")
        self._graph = graph
        return graph

    def _settle(self, graph: Any) -> None:
        from depthmask.bench.weights import settle
        from depthmask.export.frames import collect
        from depthmask.nets.provenance import provenance_of

        self.on_step(
            f"settling random weights on {self.cfg.calibration_frames} frames of {self.cfg.calibration}"
        )
        settle(graph, collect(self.calibration()))
        # Settling rewrote the weights in place, so their provenance changes with them: the seed alone
        # no longer rebuilds them.
        graph.provenance = {
            "depth_net": {
                **provenance_of(graph.depth_net).to_dict(),
                "random_seed": self.cfg.seed,
                "settled": True,
            }
            if graph.depth_net is not None
            else None,
            "mask_net": {
                **provenance_of(graph.mask_net).to_dict(),
                "random_seed": self.cfg.seed,
                "settled": True,
            },
        }

    # -- artefacts -------------------------------------------------------------------------------------
    def onnx(self, precision: str = "fp32") -> Path:
        """The ONNX file at `precision` (fp32: exported or given; fp16/int8: derived from it, once)."""
        if precision in self._onnx:
            return self._onnx[precision]
        if precision == "fp32":
            from depthmask.export.onnx import onnx_from_graph

            self.on_step("exporting the fused graph to ONNX (fp32)")
            path = self.workdir / f"{self._stem()}.onnx"
            self._onnx["fp32"] = onnx_from_graph(self.graph, path, self.export_config())
            self._metadata = None  # the file's metadata (opset, created, …) from now on, not the graph's
        elif precision == "fp16":
            from depthmask.export.precision import fp16_from_onnx

            self.on_step("converting the ONNX graph to fp16")
            fp32 = self.onnx("fp32")
            self._onnx["fp16"] = fp16_from_onnx(fp32, self.workdir / f"{self._stem()}-fp16.onnx")
        elif precision == "int8":
            from depthmask.export.precision import int8_from_onnx

            fp32 = self.onnx("fp32")
            self.on_step(f"quantizing to int8 (QDQ), calibrated on {self.cfg.calibration_frames} frames")
            self._onnx["int8"] = int8_from_onnx(
                fp32,
                self.workdir / f"{self._stem()}-int8.onnx",
                self.calibration(),
                calibration_source=self.cfg.calibration,
            )
        elif precision == "int8-fallback":
            self._onnx[precision] = self.int8_fallback()[0]
        else:
            raise DepthmaskError(f"no ONNX variant at {precision}: the exports are fp32, fp16 and int8")
        return self._onnx[precision]

    def int8_fallback(self, gate: Any = None, backend: str = "onnxruntime") -> tuple[Path, dict[str, Any]]:
        """int8 with `--fallback auto` against `gate` (default: the fast-path gate), its trials run on
        `backend`, once per gate and backend: calibrated on the calibration frames, its trials measured
        on `CHECK_FRAMES` others of that source and on the auto probe's frames (never the fidelity ones).
        Returns the artefact and the search's report."""
        from depthmask.contract.fidelity import FidelityGate
        from depthmask.export.fallback import CHECK_FRAMES, with_fallback
        from depthmask.export.frames import split_frames
        from depthmask.runtime.auto import PROBE_FRAMES

        gate = gate or FidelityGate()
        if (gate, backend) in self._fallbacks:
            return self._fallbacks[gate, backend]
        fp32 = self.onnx("fp32")
        count = self.cfg.calibration_frames
        self.on_step(
            f"int8 with --fallback auto ({gate.describe()}; calibrated on {count} frames, measured on "
            f"{CHECK_FRAMES} others and {PROBE_FRAMES} of --backend auto's probe, on {backend})"
        )
        h, w = self.size
        calibration, check = split_frames(self.cfg.calibration, h, w, count, CHECK_FRAMES)
        name = f"{self._stem()}-int8-fallback-{len(self._fallbacks)}.onnx"
        path, report = with_fallback(
            "int8", fp32, self.workdir / name, calibration=calibration, check=check, gate=gate,
            calibration_source=self.cfg.calibration, threads=self.cfg.threads, backend=backend,
        )  # fmt: skip
        self._fallbacks[gate, backend] = (path, report.to_dict())
        self.fallback_report = report.to_dict()
        return self._fallbacks[gate, backend]

    def engine(self, precision: str) -> Path:
        """A TensorRT engine at `precision` whose batch profile covers every benchmarked batch."""
        if precision not in self._engines:
            from depthmask.export.config import ExportConfig
            from depthmask.export.tensorrt import engine_from_onnx

            fp32 = self.onnx("fp32")
            batches = sorted(self.cfg.batches)
            export = self.export_config() if self.cfg.model is None else ExportConfig(random_weights=True)
            cfg = dataclasses.replace(
                export,
                precision=precision,
                batch_profile=(batches[0], batches[len(batches) // 2], batches[-1]),
                calibration=self.cfg.calibration,
            )
            self.on_step(f"building a TensorRT {precision} engine")
            frames = self.calibration() if precision == "int8" else None
            path = self.workdir / f"{self._stem()}-{precision}.engine"
            self._engines[precision] = engine_from_onnx(fp32, cfg, path, calibration=frames)
        return self._engines[precision]

    def _stem(self) -> str:
        if self.cfg.model is not None:
            return self.cfg.model.stem
        h, w = self.size
        return f"{self.depth_net_name.removeprefix('hu2019_')}-{self.mode}-{h}x{w}"

    # -- the fp32 reference ---------------------------------------------------------------------------
    def reference(self) -> dict[str, np.ndarray]:
        """The fp32 outputs on the fidelity frames: the PyTorch graph's, else ONNX Runtime's fp32 (then
        `reference_name` says so); with them, the reference's `sensitivity` to ±1 grey level of noise."""
        if self._reference is None:
            from depthmask.bench.fidelity import run_in_batches, sensitivity

            if self.graph_unavailable() is None:
                from depthmask.export.parity import torch_reference

                self.on_step("fp32 reference outputs (PyTorch graph)")
                runner: Any = torch_reference(self.graph)
                self.reference_name = "torch fp32 (AuditGraph)"
            else:
                from depthmask.runtime.backends import create_backend

                self.on_step("fp32 reference outputs (ONNX Runtime: the PyTorch graph is unavailable)")
                runner = create_backend("onnxruntime", self.onnx("fp32"), providers=["cpu"])
                runner.load()
                self.reference_name = "onnxruntime fp32"
            self._reference = run_in_batches(runner.infer, self.frames, REFERENCE_BATCH)
            self.sensitivity = sensitivity(
                runner.infer, self.frames, self._reference, batch=REFERENCE_BATCH, epsilon=self.info.epsilon
            )
        return self._reference

    def require_compatible(self, cfg: BenchConfig) -> None:
        """Refuse a config whose networks, size, weights or frames differ from this subject's."""
        fields = (
            "model", "depth_net", "mask_net", "checkpoint_n", "checkpoint_g", "height", "width", "mode",
            "settle", "calibration", "calibration_frames", "fidelity_frames", "seed",
        )  # fmt: skip
        differ = [f for f in fields if getattr(cfg, f) != getattr(self.cfg, f)]
        if differ:
            raise DepthmaskError(
                f"this Subject was built for other settings ({', '.join(differ)} differ); build a new one"
            )

    # -- what every row needs --------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """The model's metadata: the ONNX file's, else the graph's (one counted batch-1 pass)."""
        if self._metadata is None:
            if self._onnx:
                from depthmask.runtime.backends.onnxruntime import read_onnx_info

                self._metadata = read_onnx_info(self._onnx["fp32"]).metadata
            else:
                from depthmask.runtime.backends.torch import info_from_graph

                self._metadata = info_from_graph(self.graph, "<graph>").metadata
        return self._metadata

    @property
    def info(self) -> ModelInfo:
        """The model's declared input and outputs."""
        if "fp32" in self._onnx:
            return ModelInfo.from_metadata(self.metadata, self._onnx["fp32"], engine=False)
        return ModelInfo.from_metadata(self.metadata, "<graph>", artefact=False)

    @property
    def gflop_per_frame(self) -> float | None:
        """GFLOP of one frame through the fused graph, counted (conv and matmul, 2 per MAC)."""
        value = self.metadata.get("gflop_per_frame")
        return float(value) if value is not None else None

    def describe(self) -> dict[str, Any]:
        """Networks, size, mode, weights, GFLOP per frame, the artefacts by file name (they live in the
        bench's work folder) and what int8's `--fallback auto` kept (for the result file)."""
        h, w = self.size
        fallback = self.fallback_report
        return {
            "depth_net": self.depth_net_name,
            "mask_net": self.mask_net_name,
            "height": h,
            "width": w,
            "mode": self.mode,
            "weights": self.weights,
            "gflop_per_frame": self.gflop_per_frame,
            "model": str(self.cfg.model) if self.cfg.model is not None else None,
            "artefacts": {k: Path(v).name for k, v in {**self._onnx, **self._engines}.items()},
            "int8_fallback": None
            if fallback is None
            else {
                **{k: fallback[k] for k in FALLBACK_FIELDS},
                "kept_fp32": len(fallback["kept_fp32"]),
                "kept_fp32_nodes": fallback["kept_fp32"],
                "blocks": len(fallback["blocks"]),
            },
        }
