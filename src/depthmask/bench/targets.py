"""Which (path, device, precision) combinations can run here, and opening each as a Backend.

`unavailable(...)` answers first, cheaply (no export, no model load): a missing library, no CUDA GPU, a
precision the path has no kernels for, a CPU without native bf16. Such combinations become
`unavailable: <why>` rows. `open_target(...)` then builds what the path needs from the Subject (the
graph, an ONNX variant, an engine) and returns an unloaded Backend.
"""

from __future__ import annotations

import functools
from typing import Any

from depthmask.bench.config import AUTHORS, AUTO, BenchConfig
from depthmask.bench.subject import Subject
from depthmask.errors import module_available

NO_GPU = "no CUDA GPU"
TORCH_MISSING = "needs PyTorch, which is not installed: pip install 'depthmask[train]'"


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when a CUDA GPU can be used (through torch when installed, else nvidia-smi's list)."""
    if module_available("torch"):
        import torch

        return bool(torch.cuda.is_available())
    from depthmask.environment import fingerprint

    return bool(fingerprint()["gpu"])


def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512_BF16 or AMX-BF16)."""
    from depthmask.environment import native_precision

    return native_precision("bf16")


def devices_for(path: str, devices: tuple[str, ...]) -> tuple[str, ...]:
    """The devices a path's rows run on: TensorRT only ever on CUDA, the others as configured."""
    return ("cuda",) if path == "tensorrt" else devices


def unavailable(path: str, device: str, precision: str) -> str | None:
    """Why `path` cannot run `precision` on `device` here, or None when it can be tried."""
    check = _CHECKS.get(path, _other)
    return check(device, precision)


def _authors(device: str, precision: str) -> str | None:
    if precision != "fp32":
        return "the authors' code runs fp32 only (it is the fp32 baseline)"
    if not module_available("torch"):
        return TORCH_MISSING
    return NO_GPU if device == "cuda" and not cuda_available() else None


def _torch(device: str, precision: str) -> str | None:
    if not module_available("torch"):
        return TORCH_MISSING
    if precision == "int8":
        return (
            "the torch backend has no int8 path (int8 runs the QDQ export: onnxruntime, openvino, tensorrt)"
        )
    if device == "cuda":
        return NO_GPU if not cuda_available() else None
    if precision == "fp16":
        return "PyTorch has no fast fp16 path on the CPU (autocast fp16 is CUDA-only here); use bf16"
    if precision == "bf16" and not cpu_has_bf16():
        return "this CPU has no native bf16 (AVX512_BF16 / AMX-BF16); bf16 would be emulated"
    return None


def _onnxruntime(device: str, precision: str) -> str | None:
    if precision == "bf16":
        return "ONNX Runtime has no bf16 path for this graph (bf16 runs through torch or openvino)"
    if device == "cuda":
        if not cuda_available():
            return NO_GPU
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return "onnxruntime here has no CUDAExecutionProvider: install onnxruntime-gpu in its place"
    return None


def _openvino(device: str, precision: str) -> str | None:
    if device != "cpu":
        return "OpenVINO runs on Intel devices (its GPU plugin is not for CUDA GPUs)"
    if not module_available("openvino"):
        return "OpenVINO is not installed: pip install 'depthmask[openvino]'"
    from depthmask.runtime.backends.openvino import CAPABILITIES, openvino_capabilities

    have = openvino_capabilities("CPU")
    if CAPABILITIES[precision] not in have:
        return f"OpenVINO's CPU plugin here has no {precision} ({', '.join(sorted(have))})"
    return None


def _tensorrt(device: str, precision: str) -> str | None:
    if precision == "bf16":
        return "the TensorRT engines are fp32, fp16 or int8 (the export builds no bf16 engine)"
    if not cuda_available():
        return NO_GPU
    if not module_available("tensorrt"):
        return "TensorRT is not installed: pip install 'depthmask[gpu]'"
    return None


def _auto(device: str, precision: str) -> str | None:
    if device != "cpu":
        return "auto probes the CPU paths; on a GPU name tensorrt or onnxruntime"
    if precision != "fp32":
        return "auto chooses its precision from the fp32 export itself: its row is listed under fp32"
    return None


def _other(device: str, precision: str) -> str | None:
    return None  # a third-party backend: tried on the fp32 export, failures reported as such


_CHECKS = {
    AUTHORS: _authors,
    AUTO: _auto,
    "torch": _torch,
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
    "tensorrt": _tensorrt,
}


def open_target(path: str, device: str, precision: str, subject: Subject, cfg: BenchConfig) -> Any:
    """An unloaded Backend running `subject` on `path` at `precision` on `device`."""
    from depthmask.runtime.backends import create_backend

    threads = cfg.threads
    if path == AUTHORS:
        from depthmask.bench.authors import AuthorsWay

        graph = subject.graph
        return AuthorsWay(graph.depth_net, graph.mask_net, subject.info, device=device)
    if path == "torch":
        return create_backend(
            "torch",
            subject.onnx("fp32") if cfg.model is not None else "<graph>",
            graph=subject.graph,
            device=device,
            precision=precision,
            compile=cfg.compile,
            threads=threads,
        )
    if path == AUTO:
        from depthmask.runtime.auto import choose_backend

        model = subject.onnx("fp32")
        # int8 takes part through its --fallback auto export (the fully quantized one misses the gate).
        fp32 = subject.metadata.get("precision") == "fp32"
        variants = {"int8": subject.onnx("int8-fallback")} if fp32 else None
        # Probed afresh for each bench (its cache lives in the bench's own folder), at the smallest batch.
        choice = choose_backend(
            model, batch=min(cfg.batches), threads=threads, cache=subject.workdir, variants=variants
        )
        extra = {"threads": threads} if threads else {}
        backend = create_backend(choice.backend, choice.model or model, **choice.options, **extra)
        backend.auto_choice = choice  # the row says what was chosen and why
        return backend
    if path == "onnxruntime":
        providers = ["cuda"] if device == "cuda" else ["cpu"]
        return create_backend("onnxruntime", subject.onnx(precision), providers=providers, threads=threads)
    if path == "openvino":
        model = subject.onnx("int8" if precision == "int8" else "fp32")
        return create_backend("openvino", model, precision=precision, threads=threads)
    if path == "tensorrt":
        return create_backend("tensorrt", subject.engine(precision))
    return create_backend(path, subject.onnx(precision))
