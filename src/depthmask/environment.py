"""The environment fingerprint every result file carries (contracts §5): CPU, GPU, library versions."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

from depthmask import __version__

_LIBRARIES = (
    "torch", "onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt", "opencv-python-headless", "numpy",
    "av",
)  # fmt: skip
_CPU_FLAGS = (
    "avx2", "fma", "avx512f", "avx_vnni", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
    "amx_int8", "amx_fp16",
)  # fmt: skip


# precision → the CPU flags of which any one gives native matrix kernels (else they are emulated)
NATIVE_KERNEL_FLAGS = {
    "bf16": ("avx512_bf16", "amx_bf16"),
    "fp16": ("avx512_fp16", "amx_fp16"),
    "int8": ("avx512_vnni", "avx_vnni", "amx_int8"),
}


def native_precision(precision: str, flags: set[str] | None = None) -> bool:
    """True when the CPU (its `flags`, default this machine's) multiplies `precision` natively; fp32 is
    always native."""
    wanted = NATIVE_KERNEL_FLAGS.get(precision)
    if wanted is None:
        return True
    have = set(fingerprint()["cpu_flags"]) if flags is None else flags
    return bool(have & set(wanted))


# Variables that make a library dispatch below what the CPU has (oneDNN — PyTorch's and OpenVINO's
# convolutions —, PyTorch's own kernels, MKL, OpenBLAS, OpenVINO's own kernels): a figure measured with
# one set is that lower ISA's, and the fingerprint says so. ONNX Runtime's MLAS has no such switch.
ISA_CAPS = (
    "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
    "OPENBLAS_CORETYPE", "OV_CPU_MAX_ISA",
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict[str, Any]:
    """CPU model, flags and cores, GPU and driver when present, Python and library versions, and any
    ISA cap set in the environment (`ISA_CAPS`)."""
    cpu_model, flags = _cpuinfo()
    return {
        "depthmask": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model,
        "cpu_flags": [f for f in _CPU_FLAGS if f in flags],
        "cores": os.cpu_count(),
        "cpu_mhz": _cpu_mhz(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "gpu": _gpus(),
        "libraries": {name: _version(name) for name in _LIBRARIES if _version(name)},
        "isa_caps": {name: os.environ[name] for name in ISA_CAPS if os.environ.get(name)},
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("unknown", "", "x86_64"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, flags


def _cpu_mhz() -> float | None:
    """The highest clock /proc/cpuinfo reports now (a VM's nominal clock; turbo may be higher)."""
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(line.split(":", 1)[1]) for line in f if line.startswith("cpu MHz")]
    except (OSError, ValueError):
        return None
    return max(mhz) if mhz else None


def _gpus() -> list[dict[str, str]]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return gpus
