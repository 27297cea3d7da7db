"""TensorRT backend: a serialized engine plus its JSON sidecar, run with `execute_async_v3` (TensorRT 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.compat import check_engine_compatible
from depthmask.contract.model_info import ModelInfo
from depthmask.contract.sidecar import read_sidecar
from depthmask.contract.spec import REGIONS_NAME
from depthmask.errors import ContractError, MissingDependencyError, SourceError, module_available
from depthmask.runtime.backends.base import BackendBase


def read_engine_info(engine: Path) -> ModelInfo:
    """The engine's metadata from its sidecar, validated (ContractError names what is missing or wrong)."""
    return ModelInfo.from_metadata(read_sidecar(engine), engine, engine=True)


def plan_batches(n: int, profile_min: int, profile_max: int) -> list[tuple[int, int, int]]:
    """How `n` frames run through an engine whose profile takes profile_min..profile_max frames:
    `(start, stop, padded_size)` per execution — chunks of at most `profile_max`, each padded up to
    `profile_min` when shorter (the padding is zeros, its outputs are dropped)."""
    if not 1 <= profile_min <= profile_max:
        raise ContractError(f"the engine's batch profile {profile_min}..{profile_max} is not 1 ≤ min ≤ max")
    plan = []
    for start in range(0, n, profile_max):
        stop = min(start + profile_max, n)
        plan.append((start, stop, max(stop - start, profile_min)))
    return plan


def _checked(ok: object, what: str) -> None:
    """TensorRT 10 reports a refused call by returning False; turn that into a ContractError."""
    if ok is False or ok is None:
        raise ContractError(f"TensorRT refused {what}")


def set_input_shape_checked(
    context: Any, name: str, shape: tuple[int, ...], profile: tuple[tuple[int, ...], ...]
) -> None:
    """`context.set_input_shape`, checked: a refusal names the tensor, the shape and the profile."""
    lo, opt, hi = (tuple(int(d) for d in s) for s in profile)
    shape = tuple(int(d) for d in shape)
    _checked(
        context.set_input_shape(name, shape),
        f"input shape {shape} for {name!r}; the engine's profile is min {lo}, opt {opt}, max {hi}",
    )


def set_tensor_address_checked(context: Any, name: str, address: int) -> None:
    """`context.set_tensor_address`, checked (a refusal names the tensor)."""
    _checked(context.set_tensor_address(name, address), f"the device address {address:#x} for {name!r}")


def padded(frames: np.ndarray, size: int) -> np.ndarray:
    """`frames` with zero frames appended up to `size` (unchanged when it has that many already)."""
    if frames.shape[0] >= size:
        return frames
    pad = np.zeros((size - frames.shape[0], *frames.shape[1:]), dtype=frames.dtype)
    return np.concatenate([frames, pad])


class TensorRTBackend(BackendBase):
    """Deserialises the engine, allocates buffers for the profile's largest batch, runs on one CUDA stream.

    Batches above the profile's maximum run in chunks; a batch below its minimum is padded with zero
    frames and the outputs sliced back (`plan_batches`). Every shape and address TensorRT is given is
    checked."""

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
            compute_capability=self._ask_device("compute_capability"),
            uuid=self._ask_device("device_uuid"),
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
        if self.inputs != list(self.info.spec.inputs):
            raise ContractError(
                f"{self.model}: expected inputs {list(self.info.spec.inputs)}, the engine has {self.inputs}"
            )
        self.input_name = self.inputs[0]
        self.profiles = {
            name: tuple(tuple(int(d) for d in s) for s in self.engine.get_tensor_profile_shape(name, 0))
            for name in self.inputs
        }
        self.profile = self.profiles[self.input_name]
        self.min_batch, self.max_batch = self.profile[0][0], self.profile[2][0]
        self.max_maps = self.profiles[REGIONS_NAME][2][1] if REGIONS_NAME in self.profiles else 1
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.device_ptr: dict[str, int] = {}
        self.host: dict[str, np.ndarray] = {}
        self._set_shapes(self.max_batch, self.max_maps)  # the largest buffers any execution needs
        for n in names:
            shape = tuple(int(d) for d in self.context.get_tensor_shape(n))
            self.host[n] = self.mem.pinned(shape, self.dtypes[n])
            self.device_ptr[n] = self.mem.alloc(self.host[n].nbytes)
            set_tensor_address_checked(self.context, n, self.device_ptr[n])

    def _ask_device(self, what: str) -> str | None:
        """The memory layer's `what(device)` (compute_capability, device_uuid), None where it has none."""
        query = getattr(self.mem, what, None)
        return None if query is None else query(self.device)

    def _set_shapes(self, batch: int, maps: int = 1) -> None:
        """Every input's shape for an execution at `batch` frames (and `maps` region maps each)."""
        h, w = self.info.height, self.info.width
        shapes = {self.input_name: (batch, h, w, 3), REGIONS_NAME: (batch, maps, h, w)}
        for name in self.inputs:
            set_input_shape_checked(self.context, name, shapes[name], self.profiles[name])

    def infer(self, frames: np.ndarray, regions: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Copy in, execute, copy out, per `plan_batches` (chunks above the profile's maximum, zero
        padding up to its minimum, outputs sliced back to the frames given). A region engine takes at
        most the profile's maximum of maps a frame (ContractError beyond it)."""
        self.info.check_frames(frames)
        self.check_regions(frames, regions)
        feeds = self.info.feeds(frames, regions)
        maps = feeds[REGIONS_NAME].shape[1] if REGIONS_NAME in feeds else 1
        if maps > self.max_maps:
            raise ContractError(
                f"{self.model} was built for at most {self.max_maps} region maps a frame (the frame and "
                f"{self.max_maps - 1} boxes), got {maps}; rebuild it with `depthmask export --regions "
                f"{maps - 1}`"
            )
        parts = [
            self._run({k: v[start:stop] for k, v in feeds.items()}, size)
            for start, stop, size in plan_batches(frames.shape[0], self.min_batch, self.max_batch)
        ]
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _run(self, feeds: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
        """One execution at batch `size` ≥ the frames given; the padding's outputs are dropped."""
        frames = feeds[self.input_name]
        n = frames.shape[0]
        self._set_shapes(size, feeds[REGIONS_NAME].shape[1] if REGIONS_NAME in feeds else 1)
        for name, value in feeds.items():
            staged = self.host[name].reshape(-1)[: size * int(np.prod(value.shape[1:]))]
            staged = staged.reshape(size, *value.shape[1:])
            np.copyto(staged, padded(value, size))
            self.mem.to_device(self.device_ptr[name], staged)
        self.execute()
        out = {}
        for name in self.outputs:
            shape = tuple(int(d) for d in self.context.get_tensor_shape(name))
            host = self.host[name].reshape(-1)[: int(np.prod(shape))].reshape(shape)
            self.mem.to_host(host, self.device_ptr[name])
            out[name] = host
        self.mem.synchronize()
        return {k: v[:n].astype(np.float32, copy=True) for k, v in out.items()}

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
            "min_batch": getattr(self, "min_batch", None),
            "max_batch": getattr(self, "max_batch", None),
        }
