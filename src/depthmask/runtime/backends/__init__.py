"""Backends by name: `create_backend("onnxruntime", "model.onnx")`; `backend_name_for("x.engine")`.

`torch` runs the PyTorch graph rebuilt from a file's metadata; it is never picked by suffix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from depthmask.errors import ConfigError, closest
from depthmask.runtime.backends.base import Backend


def _onnxruntime(model: Path, **kw: Any) -> Backend:
    from depthmask.runtime.backends.onnxruntime import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, **kw)


def _tensorrt(model: Path, **kw: Any) -> Backend:
    from depthmask.runtime.backends.tensorrt import TensorRTBackend

    return TensorRTBackend(model, **kw)


def _torch(model: Path, **kw: Any) -> Backend:
    # Imported only when chosen: the runtime never imports torch otherwise.
    from depthmask.runtime.backends.torch import TorchBackend

    return TorchBackend(model, **kw)


def _openvino(model: Path, **kw: Any) -> Backend:
    from depthmask.runtime.backends.openvino import OpenVinoBackend

    return OpenVinoBackend(model, **kw)


BACKENDS: dict[str, Callable[..., Backend]] = {
    "onnxruntime": _onnxruntime,
    "tensorrt": _tensorrt,
    "torch": _torch,
    "openvino": _openvino,
}
SUFFIX_BACKEND = {".onnx": "onnxruntime", ".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt"}


def register_backend(name: str, factory: Callable[..., Backend], *suffixes: str) -> None:
    """Add a backend (each backend module registers itself here)."""
    BACKENDS[name] = factory
    for s in suffixes:
        SUFFIX_BACKEND.setdefault(s, name)


def backend_name_for(model: str | Path) -> str:
    """The default backend for a model file, by its suffix."""
    suffix = Path(model).suffix.lower()
    if suffix not in SUFFIX_BACKEND:
        raise ConfigError(
            f"cannot tell which backend runs {model} (suffix {suffix!r}); "
            f"use .onnx or .engine files, or pass --backend ({', '.join(sorted(BACKENDS))})"
        )
    return SUFFIX_BACKEND[suffix]


def create_backend(name: str | None, model: str | Path, **options: Any) -> Backend:
    """A backend (not yet loaded) for `model`; `name` None picks it from the file's suffix."""
    name = name or backend_name_for(model)
    if name not in BACKENDS:
        raise ConfigError(
            f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}.{closest(name, BACKENDS)}"
        )
    return BACKENDS[name](Path(model), **options)


__all__ = ["BACKENDS", "Backend", "backend_name_for", "create_backend", "register_backend"]
