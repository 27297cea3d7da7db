"""ONNX Runtime backend: CPU, or CUDA / TensorRT execution providers when onnxruntime-gpu has them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.metadata import check_io, from_props
from depthmask.contract.model_info import ModelInfo
from depthmask.errors import ContractError, SourceError
from depthmask.runtime.backends.base import BackendBase

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def read_onnx_info(path: str | Path) -> ModelInfo:
    """The metadata of an .onnx file, through ONNX Runtime alone (no onnx package needed)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # metadata only: no fusions
    return _info(_session(path, options, ["CPUExecutionProvider"]), path)


def _session(path: str | Path, options: Any, providers: list[Any]) -> Any:
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"model {str(path)!r} does not exist; export one with `depthmask export`")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its own exception types for unreadable/invalid models
        raise ContractError(f"{path} could not be loaded by ONNX Runtime: {exc}") from None


def _info(session: Any, path: str | Path) -> ModelInfo:
    """The metadata, checked against the graph's real input (name, uint8, [batch, H, W, 3]) and outputs,
    so frames of the wrong size are refused by name here rather than failing inside ONNX Runtime."""
    meta = from_props(dict(session.get_modelmeta().custom_metadata_map))
    info = ModelInfo.from_metadata(meta, path, engine=False)
    inputs = [
        (i.name, i.type.removeprefix("tensor(").removesuffix(")"), list(i.shape))
        for i in session.get_inputs()
    ]
    check_io(meta, path, inputs=inputs, outputs=[o.name for o in session.get_outputs()])
    return info


class OnnxRuntimeBackend(BackendBase):
    """An InferenceSession over the fused audit graph."""

    name = "onnxruntime"

    def __init__(
        self,
        model: str | Path,
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
        inter_op_threads: int = 1,
        trt_cache_dir: str | Path | None = None,
    ) -> None:
        self.model = Path(model)
        self.requested = providers
        self.threads = threads
        self.inter_op_threads = inter_op_threads
        self.trt_cache_dir = trt_cache_dir
        self.session: Any = None

    def _providers(self) -> list[Any]:
        import onnxruntime as ort

        available = ort.get_available_providers()
        wanted = [PROVIDER_ALIASES.get(p, p) for p in (self.requested or ["tensorrt", "cuda", "cpu"])]
        if self.requested:
            missing = [p for p in wanted if p not in available]
            if missing:
                raise ContractError(
                    f"ONNX Runtime here has no {', '.join(missing)} (available: {', '.join(available)}); "
                    "for GPUs install onnxruntime-gpu in place of onnxruntime: pip install 'depthmask[gpu]'"
                )
        chosen: list[Any] = []
        for p in wanted:
            if p not in available:
                continue
            if p == "TensorrtExecutionProvider":
                cache = str(self.trt_cache_dir or (self.model.parent / f"{self.model.stem}.trt-cache"))
                chosen.append((p, {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache}))
            else:
                chosen.append(p)
        return chosen or ["CPUExecutionProvider"]

    def load(self) -> None:
        """Open the session with tuned options (all graph optimisations, thread counts, memory arena)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = _session(self.model, options, self._providers())
        self.info = _info(self.session, self.model)

    def infer(self, frames: np.ndarray, regions: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Run one batch (and its region maps); outputs are float32 arrays by name."""
        if self.session is None:
            self.load()
        self.info.check_frames(frames)
        self.check_regions(frames, regions)
        batch, n = self.padded(np.ascontiguousarray(frames))
        outs = self.session.run(None, self.info.feeds(batch, regions))
        names = [o.name for o in self.session.get_outputs()]
        return {name: np.asarray(v)[:n] for name, v in zip(names, outs, strict=True)}

    def close(self) -> None:
        """Drop the session."""
        self.session = None

    def describe(self) -> dict[str, Any]:
        """Backend, providers actually used, threads and the model's mode/size."""
        import onnxruntime as ort

        providers = self.session.get_providers() if self.session is not None else []
        return {
            "backend": self.name,
            "onnxruntime": ort.__version__,
            "providers": providers,
            "threads": self.threads or os.cpu_count(),
            "model": str(self.model),
            "precision": getattr(self, "info", None) and self.info.metadata.get("precision"),
        }
