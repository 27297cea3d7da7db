"""OpenVINO backend: our fused ONNX graph on Intel CPUs, fp32, bf16 (AVX512_BF16 / AMX), fp16 or int8.

OpenVINO reads the .onnx file directly (no conversion step, no IR files). Precision is the CPU plugin's
inference precision hint: `fp32` pins f32 (on AMX CPUs the plugin's default is bf16, so it is always set
explicitly), `bf16`/`fp16` let it run convolutions and matrix products in that type; an int8 model is the
static QDQ export (`depthmask export --precision int8`), whose quantize/dequantize pairs OpenVINO turns
into integer kernels (VNNI, AMX-INT8) while every other op stays f32. The batch axis is dynamic in the
file; each batch size gets its own static compilation (static shapes are the CPU plugin's fast path),
made on first use. Metadata comes through ONNX Runtime, as for the onnxruntime backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.spec import REGIONS_NAME
from depthmask.errors import ConfigError, ContractError, MissingDependencyError, SourceError, module_available
from depthmask.runtime.backends.base import BackendBase

# Our precision names → the CPU plugin's inference precision hint.
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
# The CPU plugin's OPTIMIZATION_CAPABILITIES entry each precision needs.
CAPABILITIES = {"fp32": "FP32", "bf16": "BF16", "fp16": "FP16", "int8": "INT8"}
INSTALL_HINT = "pip install 'depthmask[openvino]'"


def openvino_capabilities(device: str = "CPU") -> set[str]:
    """The device's optimization capabilities (FP32, BF16, FP16, INT8, …); empty without OpenVINO."""
    if not module_available("openvino"):
        return set()
    import openvino as ov

    return set(ov.Core().get_property(device, "OPTIMIZATION_CAPABILITIES"))


class OpenVinoBackend(BackendBase):
    """An OpenVINO compiled model per batch size over the fused audit graph (.onnx)."""

    name = "openvino"

    def __init__(
        self,
        model: str | Path,
        *,
        precision: str | None = None,
        threads: int | None = None,
        device: str = "CPU",
        hint: str = "LATENCY",
    ) -> None:
        if precision is not None and precision not in PRECISION_HINTS:
            raise ConfigError(f"OpenVINO precision {precision!r} is not one of {', '.join(PRECISION_HINTS)}")
        if hint not in ("LATENCY", "THROUGHPUT"):
            raise ConfigError(f"OpenVINO performance hint must be LATENCY or THROUGHPUT, got {hint!r}")
        self.model = Path(model)
        self.requested = precision
        self.threads = threads
        self.device = device.upper()
        self.hint = hint
        self.core: Any = None
        self.network: Any = None
        self.compiled: dict[int, Any] = {}
        self.requests: dict[int, Any] = {}

    @property
    def precision(self) -> str:
        """The compute precision: as asked, else the model's own (int8 for a QDQ export, else fp32)."""
        if self.requested is not None:
            return self.requested
        info = getattr(self, "info", None)
        return "int8" if info is not None and info.metadata.get("precision") == "int8" else "fp32"

    def load(self) -> None:
        """Read the ONNX file and its metadata; compilation happens per batch size on first use."""
        if not self.model.is_file():
            raise SourceError(f"model {str(self.model)!r} does not exist; export one with `depthmask export`")
        if not module_available("openvino"):
            raise MissingDependencyError(
                f"the openvino backend needs OpenVINO, which is not installed: {INSTALL_HINT}"
            )
        import openvino as ov

        from depthmask.runtime.backends.onnxruntime import read_onnx_info

        self.info = read_onnx_info(self.model)
        model_precision = self.info.metadata.get("precision")
        if self.requested == "int8" and model_precision != "int8":
            raise ConfigError(
                f"{self.model} is {model_precision}; int8 runs the QDQ export (`depthmask export --precision "
                "int8 --calibration …`)"
            )
        if model_precision == "int8" and self.requested not in (None, "int8"):
            raise ConfigError(f"{self.model} is an int8 (QDQ) export; run it with precision int8")
        self.core = ov.Core()
        needed = CAPABILITIES[self.precision]
        have = set(self.core.get_property(self.device, "OPTIMIZATION_CAPABILITIES"))
        if needed not in have:
            raise ConfigError(
                f"OpenVINO's {self.device} plugin here cannot run {self.precision} (capabilities: "
                f"{', '.join(sorted(have))})"
            )
        try:
            self.network = self.core.read_model(str(self.model))
        except Exception as exc:  # OpenVINO raises its own exception types for unreadable models
            raise ContractError(f"{self.model} could not be read by OpenVINO: {exc}") from None
        self.input_names = [i.get_any_name() for i in self.network.inputs]
        self.output_names = [o.get_any_name() for o in self.network.outputs]

    def _config(self) -> dict[str, Any]:
        return {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[self.precision],
            "PERFORMANCE_HINT": self.hint,
            "INFERENCE_NUM_THREADS": self.threads or (os.cpu_count() or 1),
        }

    def _request(self, feeds: dict[str, np.ndarray]) -> tuple[Any, Any]:
        """The compiled model and request for this batch size (compiled once per size; the number of
        region maps stays dynamic, so it never recompiles for them)."""
        batch = next(iter(feeds.values())).shape[0]
        if batch not in self.requests:
            network = self.network.clone()
            shapes = {name: [batch, *a.shape[1:]] for name, a in feeds.items()}
            if REGIONS_NAME in shapes:
                shapes[REGIONS_NAME][1] = -1
            network.reshape(shapes)
            self.compiled[batch] = self.core.compile_model(network, self.device, self._config())
            self.requests[batch] = self.compiled[batch].create_infer_request()
        return self.compiled[batch], self.requests[batch]

    def infer(self, frames: np.ndarray, regions: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Run one batch (and its region maps); outputs are float32 arrays by name (copied: the request
        reuses its buffers)."""
        if self.network is None:
            self.load()
        self.info.check_frames(frames)
        self.check_regions(frames, regions)
        feeds = self.info.feeds(np.ascontiguousarray(frames), regions)
        if list(feeds) != self.input_names:
            raise ContractError(
                f"{self.model}: OpenVINO sees inputs {self.input_names}, expected {list(feeds)}"
            )
        compiled, request = self._request(feeds)
        request.infer(feeds)
        return {
            name: np.array(request.get_tensor(out).data, dtype=np.float32)
            for name, out in zip(self.output_names, compiled.outputs, strict=True)
        }

    def close(self) -> None:
        """Drop the compiled models and requests; safe to call twice."""
        self.requests.clear()
        self.compiled.clear()
        self.network = None

    def describe(self) -> dict[str, Any]:
        """Backend, OpenVINO version, device, precision hint, threads, performance hint and the model."""
        import openvino as ov

        info = getattr(self, "info", None)
        return {
            "backend": self.name,
            "openvino": ov.__version__,
            "device": self.device,
            "precision": self.precision,
            "inference_precision_hint": PRECISION_HINTS[self.precision],
            "performance_hint": self.hint,
            "threads": self.threads or os.cpu_count(),
            "compiled_batches": sorted(self.compiled),
            "model": str(self.model),
            "model_precision": info.metadata.get("precision") if info is not None else None,
        }
