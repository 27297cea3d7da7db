"""TensorRT backend: a serialized engine plus its JSON sidecar, run with `execute_async_v3` (TensorRT 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.compat import check_engine_compatible
from depthmask.contract.model_info import ModelInfo
from depthmask.contract.sidecar import read_sidecar
from depthmask.errors import ContractError, MissingDependencyError, SourceError, module_available
from depthmask.runtime.backends.base import BackendBase


def read_engine_info(engine: Path) -> ModelInfo:
    """The engine's metadata from its sidecar, validated (ContractError names what is missing or wrong)."""
    return ModelInfo.from_metadata(read_sidecar(engine), engine, engine=True)


class TensorRTBackend(BackendBase):
    """Deserialises the engine, allocates buffers for the profile's largest batch, runs on one CUDA stream."""

    name = "tensorrt"

    def __init__(self, model: str | Path, *, device: int = 0, **_: Any) -> None:
        self.model = Path(model)
        self.device = device
        self.engine: Any = None
        self.context: Any = None
        self.mem: Any = None

    def load(self) -> None:
        """Check the sidecar against this TensorRT and GPU, deserialise, and allocate I/O buffers."""
        if not module_available("tensorrt"):
            raise MissingDependencyError(
                "the tensorrt backend needs NVIDIA TensorRT ≥ 10 and a CUDA GPU: "
                "pip install 'depthmask[gpu]' (or use --backend onnxruntime)"
            )
        import tensorrt as trt

        from depthmask.runtime.backends.cuda_memory import cuda_memory

        if not self.model.is_file():
            raise SourceError(f"engine {str(self.model)!r} does not exist")
        self.info = read_engine_info(self.model)
        self.mem = cuda_memory(self.device)
        check_engine_compatible(
            self.info.metadata,
            self.model,
            tensorrt_version=trt.__version__,
            gpu=self.mem.device_name(self.device),
        )
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(self.model.read_bytes())
        if self.engine is None:
            raise ContractError(
                f"TensorRT could not deserialise {self.model} (corrupt, or from another version)"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(self.inputs) != 1:
            raise ContractError(f"{self.model}: expected one input 'frames', the engine has {self.inputs}")
        self.input_name = self.inputs[0]
        _, _, max_shape = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.max_batch = int(max_shape[0])
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.device_ptr: dict[str, int] = {}
        self.host: dict[str, np.ndarray] = {}
        for n in names:
            shape = self._shape_at(n, self.max_batch)
            self.host[n] = self.mem.pinned(shape, self.dtypes[n])
            self.device_ptr[n] = self.mem.alloc(self.host[n].nbytes)
            self.context.set_tensor_address(n, self.device_ptr[n])

    def _shape_at(self, name: str, batch: int) -> tuple[int, ...]:
        if name == self.input_name:
            return (batch, self.info.height, self.info.width, 3)
        self.context.set_input_shape(self.input_name, (batch, self.info.height, self.info.width, 3))
        return tuple(int(d) for d in self.context.get_tensor_shape(name))

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Copy in, execute, copy out; batches above the profile's maximum run in chunks."""
        self.info.check_frames(frames)
        if frames.shape[0] > self.max_batch:
            parts = [
                self.infer(frames[i : i + self.max_batch]) for i in range(0, frames.shape[0], self.max_batch)
            ]
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        n = frames.shape[0]
        self.context.set_input_shape(self.input_name, frames.shape)
        staged = self.host[self.input_name][:n]
        np.copyto(staged, frames)
        self.mem.to_device(self.device_ptr[self.input_name], staged)
        self.execute()
        out = {}
        for name in self.outputs:
            shape = tuple(int(d) for d in self.context.get_tensor_shape(name))
            host = self.host[name].reshape(-1)[: int(np.prod(shape))].reshape(shape)
            self.mem.to_host(host, self.device_ptr[name])
            out[name] = host
        self.mem.synchronize()
        return {k: v.astype(np.float32, copy=True) for k, v in out.items()}

    def execute(self) -> None:
        """Enqueue the engine on the stream (compute only: inputs are already on the device)."""
        if not self.context.execute_async_v3(self.mem.stream_handle):
            raise RuntimeError(f"TensorRT execution failed for {self.model}")

    def close(self) -> None:
        """Free buffers, context and engine."""
        self.context = None
        self.engine = None
        if self.mem is not None:
            self.mem.free()
            self.mem = None

    def describe(self) -> dict[str, Any]:
        """TensorRT version, GPU, precision and the batch profile."""
        import tensorrt as trt

        return {
            "backend": self.name,
            "tensorrt": trt.__version__,
            "memory": getattr(self.mem, "name", None),
            "model": str(self.model),
            "precision": self.info.metadata.get("precision"),
            "max_batch": getattr(self, "max_batch", None),
        }
