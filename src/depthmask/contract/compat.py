"""May an engine built elsewhere run here? Engines are tied to the TensorRT version and to the GPU that
built them; the sidecar records both, and this is the one place that compares them.

The GPU is matched by compute capability first (a TensorRT engine does not run on another compute
capability unless it was built hardware-compatible), then by name (another GPU model of the same
capability is refused unless the sidecar records a hardware-compatibility level). When both sides know
the GPU's UUID and it is the same, it is the very device that built the engine. A sidecar without a
compute capability (older engines) is compared by name alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depthmask.errors import ContractError

REBUILD = "rebuild it on this machine with `depthmask export --format engine`"
# Hardware-compatibility levels under which an engine runs on every GPU of compute capability ≥ 8.0.
AMPERE_PLUS = {"ampere_plus", "hardwarecompatibilitylevel.ampere_plus"}


def _capability(value: Any) -> tuple[int, int] | None:
    """The capability as (major, minor) from "9.0", 9.0 or (9, 0); None when absent or unreadable."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        try:
            return int(value[0]), int(value[1])
        except (TypeError, ValueError):
            return None
    major, _, minor = str(value).partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return None


def _uuid(value: Any) -> str:
    """A GPU UUID compared without case or nvidia-smi's "GPU-" prefix (torch and CUDA omit it)."""
    return str(value).strip().lower().removeprefix("gpu-")


def _hardware_level(meta: Mapping[str, Any]) -> str | None:
    level = meta.get("hardware_compatibility_level")
    if level is None or str(level).lower().rsplit(".", 1)[-1] == "none":
        return None
    return str(level).lower()


def check_engine_compatible(
    meta: Mapping[str, Any],
    engine: str | Path,
    *,
    tensorrt_version: str,
    gpu: str,
    compute_capability: str | None = None,
    uuid: str | None = None,
) -> None:
    """Refuse an engine whose sidecar says another TensorRT version, or a GPU it cannot run on, built it.

    `gpu`, `compute_capability` ("9.0") and `uuid` describe this machine's device; the last two may be
    unknown (None), and are then not compared.
    """
    built_with, built_for = meta.get("tensorrt_version"), meta.get("gpu")
    if built_with != tensorrt_version:
        raise ContractError(
            f"{engine} was built with TensorRT {built_with}; this is TensorRT {tensorrt_version}. "
            "Engines are tied to the TensorRT version: rebuild it here with "
            "`depthmask export --format engine`."
        )
    built_uuid = meta.get("gpu_uuid")
    if uuid and built_uuid and _uuid(built_uuid) == _uuid(uuid):
        return  # the device that built it
    built_cc, here_cc = _capability(meta.get("gpu_compute_capability")), _capability(compute_capability)
    level = _hardware_level(meta)
    if built_cc is None or here_cc is None:
        if built_for != gpu:  # an older sidecar, or a device that cannot say: by name, as before
            raise ContractError(
                f"{engine} was built for GPU {built_for!r}; this GPU is {gpu!r}. Engines are tied to the "
                f"GPU model: {REBUILD}."
            )
        return
    built = f"{built_for!r} (compute capability {built_cc[0]}.{built_cc[1]})"
    here = f"{gpu!r} (compute capability {here_cc[0]}.{here_cc[1]})"
    if built_cc != here_cc:
        if level in AMPERE_PLUS and built_cc >= (8, 0) and here_cc >= (8, 0):
            return
        raise ContractError(
            f"{engine} was built for GPU {built}; this GPU is {here}. TensorRT engines do not run on "
            f"another compute capability unless built hardware-compatible: {REBUILD}."
        )
    if built_for != gpu and level is None:
        raise ContractError(
            f"{engine} was built for GPU {built}; this GPU is {here}. The compute capability matches but "
            f"the GPU model differs and the engine was not built hardware-compatible: {REBUILD}."
        )
