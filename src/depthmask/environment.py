"""The environment fingerprint every result file carries (contracts §5): CPU, GPU, library versions."""

from __future__ import annotations

import functools
import os
import platform
import re
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


# Variables that make a library dispatch below what the CPU has, and what each holds back: a figure
# measured with one set is that lower ISA's, and the fingerprint says so. ONNX Runtime's MLAS has no
# such switch.
ISA_CAPS = {
    "ONEDNN_MAX_CPU_ISA": "oneDNN: PyTorch's and OpenVINO's convolutions",
    "DNNL_MAX_CPU_ISA": "oneDNN: PyTorch's and OpenVINO's convolutions",
    "ATEN_CPU_CAPABILITY": "PyTorch's own kernels",
    "MKL_ENABLE_INSTRUCTIONS": "MKL",
    "OPENBLAS_CORETYPE": "OpenBLAS: NumPy's matrix products, no measured path",
    "OV_CPU_MAX_ISA": "OpenVINO's own kernels",
}

# The caps that hold back a runtime backend's convolutions, and the backends they cannot: ONNX Runtime's
# CPU kernels (MLAS) read the CPU's flags themselves. Under such a cap, those backends run at the full
# machine's speed, not the capped one's.
CONVOLUTION_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
UNCAPPED_BACKENDS = ("onnxruntime",)


def caps_ignored_by(backend: str, caps: dict[str, str] | None = None) -> dict[str, str]:
    """The convolution caps set here (`caps`: the fingerprint's `isa_caps`, default this process's
    environment) that `backend`'s CPU kernels ignore; {} when none is set or it honours them."""
    if backend not in UNCAPPED_BACKENDS:
        return {}
    return {
        name: value
        for name, value in (isa_caps() if caps is None else caps).items()
        if name in CONVOLUTION_CAPS
    }


def capped_suffix(caps: dict[str, str]) -> str:
    """'_avx2_capped' for a fingerprint's `isa_caps` that cap the convolutions at AVX2, '' for none: what
    a result file's name adds so a capped run never overwrites the machine's own."""
    values = dict.fromkeys(v.lower() for k, v in caps.items() if k in CONVOLUTION_CAPS)
    return "".join(f"_{v}_capped" for v in values)


def isa_caps() -> dict[str, str]:
    """The `ISA_CAPS` variables set in this process's environment."""
    return {name: os.environ[name] for name in ISA_CAPS if os.environ.get(name)}


# (vendor, family) → microarchitecture by model range, from the vendors' published family/model
# numbers; /proc/cpuinfo names a VM's CPU only "AMD EPYC", which hides a Zen 4 from a Zen 5.
_MICROARCHITECTURES: dict[tuple[str, int], tuple[tuple[range, str], ...]] = {
    ("AuthenticAMD", 23): ((range(0x00, 0x30), "Zen / Zen+"), (range(0x30, 0x100), "Zen 2")),
    ("AuthenticAMD", 25): (
        (range(0x00, 0x10), "Zen 3"), (range(0x10, 0x20), "Zen 4"), (range(0x20, 0x60), "Zen 3"),
        (range(0x60, 0x80), "Zen 4"), (range(0xA0, 0xB0), "Zen 4"),
    ),
    ("AuthenticAMD", 26): ((range(0x00, 0x100), "Zen 5"),),
    ("GenuineIntel", 6): (
        (range(85, 86), "Skylake-SP / Cascade Lake"), (range(106, 107), "Ice Lake-SP"),
        (range(143, 144), "Sapphire Rapids"), (range(173, 174), "Granite Rapids"),
        (range(175, 176), "Sierra Forest"), (range(207, 208), "Emerald Rapids"),
    ),
}  # fmt: skip


def microarchitecture(vendor: str, family: int | None, model: int | None) -> str | None:
    """The CPU's microarchitecture by its vendor, family and model numbers; None when not in the table."""
    if family is None or model is None:
        return None
    ranges = _MICROARCHITECTURES.get((vendor, family), ())
    return next((name for span, name in ranges if model in span), None)


def slug(name: str) -> str:
    """'NVIDIA H200' → 'nvidia_h200', 'AMD EPYC, Zen 5' → 'amd_epyc_zen_5': a result file's name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def cpu_label(env: dict[str, Any] | None = None) -> str:
    """This CPU (or `env`'s) as results name it: its model name and microarchitecture, 'AMD EPYC, Zen 5'."""
    env = env or fingerprint()
    return ", ".join(str(v) for v in (env.get("cpu") or "cpu", env.get("microarchitecture")) if v)


def cpu_slug(env: dict[str, Any] | None = None) -> str:
    """`cpu_label` as a result file's name: 'amd_epyc_zen_5'."""
    return slug(cpu_label(env))


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict[str, Any]:
    """CPU model, identity (vendor, family, model, stepping, microarchitecture), flags and cores, GPU and
    driver when present, Python and library versions, and any ISA cap set in the environment
    (`ISA_CAPS`)."""
    cpu_model, flags, ident = _cpuinfo()
    return {
        "depthmask": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model,
        "cpu_id": ident,
        "microarchitecture": microarchitecture(ident["vendor"], ident["family"], ident["model"]),
        "cpu_flags": [f for f in _CPU_FLAGS if f in flags],
        "cores": os.cpu_count(),
        "cpu_mhz": _cpu_mhz(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "gpu": _gpus(),
        "libraries": {name: _version(name) for name in _LIBRARIES if _version(name)},
        "isa_caps": isa_caps(),
    }


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpuinfo() -> tuple[str, set[str], dict[str, Any]]:
    """(model name, flags, {vendor, family, model, stepping}) of the first CPU /proc/cpuinfo lists."""
    model, flags = platform.processor() or "unknown", set()
    ident: dict[str, Any] = {"vendor": "", "family": None, "model": None, "stepping": None}
    keys = {"vendor_id": "vendor", "cpu family": "family", "model": "model", "stepping": "stepping"}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key == "model name" and model in ("unknown", "", "x86_64"):
                    model = value
                elif key == "flags" and not flags:
                    flags = set(value.split())
                elif key in keys and ident[keys[key]] in ("", None):
                    ident[keys[key]] = (
                        value if key == "vendor_id" else int(value) if value.isdigit() else None
                    )
                elif not key and flags:  # the first CPU's block has ended
                    break
    except OSError:
        pass
    return model, flags, ident


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
