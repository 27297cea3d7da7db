"""May an engine built elsewhere run here? Engines are tied to the TensorRT version and the GPU model
that built them; the sidecar records both, and this is the one place that compares them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depthmask.errors import ContractError


def check_engine_compatible(
    meta: Mapping[str, Any], engine: str | Path, *, tensorrt_version: str, gpu: str
) -> None:
    """Refuse an engine whose sidecar says another TensorRT version or GPU built it."""
    built_with, built_for = meta.get("tensorrt_version"), meta.get("gpu")
    if built_with != tensorrt_version:
        raise ContractError(
            f"{engine} was built with TensorRT {built_with}; this is TensorRT {tensorrt_version}. "
            "Engines are tied to the TensorRT version: rebuild it here with "
            "`depthmask export --format engine`."
        )
    if built_for != gpu:
        raise ContractError(
            f"{engine} was built for GPU {built_for!r}; this GPU is {gpu!r}. Engines are tied to the GPU "
            "model: rebuild it on this machine with `depthmask export --format engine`."
        )
