"""PyTorch backend: the fused `AuditGraph` itself (never a re-implementation), eager or compiled.

From an exported file it reads the metadata (an .onnx file's own, an engine's sidecar), rebuilds N and G
from the recorded checkpoints — hash-checked by `depthmask.nets.provenance.rebuild` — and fuses them with
the recorded mode, channel order and ε, exactly as `depthmask check` builds its reference. Benchmarks pass
a graph built on the fly instead (`graph=`). fp32, or bf16/fp16 through autocast; outputs come back as
float32 either way.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.model_info import ModelInfo
from depthmask.errors import ConfigError, MissingDependencyError, SourceError, module_available
from depthmask.runtime.backends.base import BackendBase

log = logging.getLogger("depthmask.runtime")

PRECISIONS = ("fp32", "bf16", "fp16")
INSTALL_HINT = 'pip install "depthmask[train]"'


def cpu_bf16_supported() -> bool:
    """True when oneDNN runs bf16 natively on this CPU (AVX-512 BF16 or AMX); else bf16 is emulated."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


class TorchBackend(BackendBase):
    """The AuditGraph on CPU or CUDA, under `torch.inference_mode()`, channels-last."""

    name = "torch"

    def __init__(
        self,
        model: str | Path | None,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        compile: bool = False,
        threads: int | None = None,
        graph: Any = None,
        checkpoint_n: str | Path | None = None,
        checkpoint_g: str | Path | None = None,
        depth_net: str | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        if not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
            raise ConfigError(f"--device {device!r}: the torch backend runs on 'cpu', 'cuda' or 'cuda:N'")
        if precision == "fp16" and device == "cpu":
            raise ConfigError(
                "--precision fp16 runs on CUDA only (CPU autocast has no fast fp16 path); "
                "use --precision bf16 on the CPU, or --device cuda"
            )
        if model is None and graph is None:
            raise ConfigError("the torch backend needs a model file or a graph")
        self.model = Path(model) if model is not None else None
        self.device = device
        self.precision = precision
        self.compile = compile
        self.threads = threads
        self.checkpoints = (checkpoint_n, checkpoint_g)
        # A `module:factory` N is imported only when the user names it (the metadata's name is not enough).
        self.depth_net = depth_net
        self._given = graph
        self.graph: Any = None
        self.module: Any = None  # the graph, or its torch.compile wrapper
        self._compiled_batch = 0  # largest batch the compiled graph has run (shorter ones are padded)

    # -- loading -------------------------------------------------------------------------------------
    def load(self) -> None:
        """Rebuild (or take) the graph, move it to the device in channels-last, compile if asked."""
        if not module_available("torch"):
            raise MissingDependencyError(
                f"the torch backend needs PyTorch, which is not installed: {INSTALL_HINT} "
                "(or use --backend onnxruntime)"
            )
        import torch

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(
                f"--device {self.device}: this PyTorch sees no CUDA GPU (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu"
            )
        if self.threads:
            torch.set_num_threads(self.threads)  # process-wide in PyTorch; asked for explicitly
        if self.precision == "bf16" and self.device == "cpu" and not cpu_bf16_supported():
            log.warning("this CPU has no native bf16 (AVX-512 BF16 / AMX): bf16 runs emulated and slowly")
        graph, info = (self._given.eval(), None) if self._given is not None else self._rebuild()
        # NHWC activations: oneDNN's and cuDNN's fast convolutions; the uint8 input is NHWC already.
        graph = graph.to(self.device).to(memory_format=torch.channels_last)
        self.info = info or info_from_graph(graph, str(self.model or "<graph>"), self.precision)
        self.graph = graph
        # The first call compiles for its batch size (minutes on a CPU); a larger batch recompiles
        # once with a dynamic batch axis, smaller ones are padded (see `infer`).
        self.module = torch.compile(graph) if self.compile else graph
        self._compiled_batch = 0

    def _rebuild(self) -> tuple[Any, ModelInfo]:
        from depthmask.contract.metadata import read_metadata
        from depthmask.nets.rebuild import graph_from_metadata

        if self.model is None or not self.model.is_file():
            raise SourceError(f"model {str(self.model)!r} does not exist; export one with `depthmask export`")
        meta = read_metadata(self.model)
        info = ModelInfo.from_metadata(meta, self.model)
        n, g = self.checkpoints
        graph = graph_from_metadata(
            meta,
            checkpoint_n=Path(n) if n is not None else None,
            checkpoint_g=Path(g) if g is not None else None,
            beside=self.model.parent,
            depth_net=self.depth_net,
            artefact=self.model,
        )
        return graph, info

    # -- inference -----------------------------------------------------------------------------------
    def infer(self, frames: np.ndarray, regions: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Run one batch (any size: the graph's batch axis is free) and its region maps; float32
        outputs by name."""
        if self.module is None:
            self.load()
        self.info.check_frames(frames)
        self.check_regions(frames, regions)
        import torch

        n = frames.shape[0]
        if self.compile and n < self._compiled_batch:
            # A compiled graph is specialised to its batch size: a short batch (a stream's last) is
            # padded with its last frame rather than paying minutes for a second compilation.
            frames = np.concatenate([frames, np.repeat(frames[-1:], self._compiled_batch - n, axis=0)])
        self._compiled_batch = max(self._compiled_batch, n)
        inputs = [
            torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)
            for a in self.info.feeds(frames, regions).values()
        ]
        with torch.inference_mode(), self._autocast():
            outputs = self.module(*inputs)
        return {
            name: t[:n].float().cpu().numpy()
            for name, t in zip(self.graph.spec.outputs, outputs, strict=True)
        }

    def _autocast(self) -> Any:
        import torch

        if self.precision == "fp32":
            return contextlib.nullcontext()
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        return torch.autocast(
            device_type, dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16
        )

    def close(self) -> None:
        """Drop the graph (a graph passed in stays the caller's); safe to call twice."""
        on_cuda = self.graph is not None and self.device.startswith("cuda")
        self.module = None
        self.graph = None
        if on_cuda:
            import torch

            torch.cuda.empty_cache()

    def describe(self) -> dict[str, Any]:
        """torch version, device, compute precision, compile, threads and the model's own precision."""
        import torch

        info = getattr(self, "info", None)
        out: dict[str, Any] = {
            "backend": self.name,
            "torch": torch.__version__,
            "device": self.device,
            "precision": self.precision,
            "model_precision": info.metadata.get("precision") if info else None,
            "compile": self.compile,
            "channels_last": True,
            "threads": torch.get_num_threads(),
            "model": str(self.model) if self.model is not None else None,
        }
        if self.device.startswith("cuda") and torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(torch.device(self.device))
        elif self.precision == "bf16":
            out["bf16_native"] = cpu_bf16_supported()
        return out


def info_from_graph(graph: Any, label: str, precision: str = "fp32") -> ModelInfo:
    """The ModelInfo of a graph built in memory: the metadata an export would record, minus the file's
    own fields (opset, exporter). One batch-1 pass measures N's output size and counts the GFLOP."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from depthmask.contract.metadata import MAX_REGIONS, build_metadata
    from depthmask.nets.provenance import provenance_of

    if graph.input_size is None:
        raise ConfigError(
            "the graph has no input_size (H, W); build it with AuditGraph(..., input_size=(H, W))"
        )
    height, width = graph.input_size
    probe = torch.zeros(1, height, width, 3, dtype=torch.uint8, device=next(graph.parameters()).device)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        shapes = {n: tuple(t.shape) for n, t in graph.named(probe).items()}
    prov = graph.provenance or {
        "depth_net": provenance_of(graph.depth_net).to_dict() if graph.depth_net is not None else None,
        "mask_net": provenance_of(graph.mask_net).to_dict(),
    }
    depth = shapes.get("depth", shapes.get("depth_masked", (1, 1, 1, 1)))
    meta = build_metadata(
        mode=graph.mode,
        height=height,
        width=width,
        channel_order=graph.channel_order,
        batch=None,
        depth_size=(int(depth[2]), int(depth[3])),
        depth_net=prov["depth_net"],
        mask_net=prov["mask_net"],
        epsilon=graph.epsilon,
        far_fraction=graph.far_fraction,
        opset=0,
        precision=precision,
        gflop_per_frame=counter.get_total_flops() / 1e9,
        exporter="none",
        max_regions=MAX_REGIONS if graph.regions else None,  # a graph in memory takes any number
        curve_keeps=graph.spec.curve_keeps,
    )
    for key in ("opset", "exporter", "created", "export_config"):  # a file's own fields: there is no file
        del meta[key]
    return ModelInfo.from_metadata(meta, label, artefact=False)
