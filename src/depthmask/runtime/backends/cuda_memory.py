"""Device and pinned host buffers for the TensorRT backend through cuda-python (or pycuda where installed).

TensorRT's Python API takes raw device pointers; neither ONNX Runtime nor NumPy allocates CUDA memory,
so this thin layer over the CUDA runtime is written here, with one implementation per binding.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from depthmask.errors import MissingDependencyError, module_available


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python ≥ 12.6
    except ImportError:
        from cuda import cudart  # type: ignore[no-redef]  # older cuda-python
    return cudart


class CudaPythonMemory:
    """Streams, device allocations, pinned host memory and async copies through cuda-python."""

    name = "cuda-python"

    def __init__(self, device: int = 0) -> None:
        self.rt = _cudart()
        self._check(self.rt.cudaSetDevice(device), "cudaSetDevice")
        self.stream = self._check(self.rt.cudaStreamCreate(), "cudaStreamCreate")
        self._device: list[int] = []
        self._host: list[int] = []

    def _check(self, result: tuple[Any, ...], what: str) -> Any:
        err, *rest = result
        if int(err) != 0:
            _, name = self.rt.cudaGetErrorName(err)
            raise RuntimeError(f"{what} failed: {name.decode() if isinstance(name, bytes) else name}")
        return rest[0] if len(rest) == 1 else rest

    def device_name(self, device: int = 0) -> str:
        """The GPU's marketing name (recorded in and checked against engine sidecars)."""
        props = self._check(self.rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        name = props.name
        return (name.decode() if isinstance(name, bytes) else str(name)).rstrip("\x00")

    def compute_capability(self, device: int = 0) -> str:
        """The GPU's compute capability, e.g. "9.0" (checked against engine sidecars)."""
        props = self._check(self.rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        return f"{props.major}.{props.minor}"

    def device_uuid(self, device: int = 0) -> str:
        """The GPU's UUID as 8-4-4-4-12 hex (no "GPU-" prefix), as torch writes it."""
        props = self._check(self.rt.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
        h = bytes(props.uuid.bytes).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def alloc(self, nbytes: int) -> int:
        """Device memory; returns the pointer."""
        ptr = int(self._check(self.rt.cudaMalloc(max(nbytes, 1)), "cudaMalloc"))
        self._device.append(ptr)
        return ptr

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A NumPy array over page-locked host memory (async copies need it)."""
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        ptr = int(self._check(self.rt.cudaMallocHost(max(nbytes, 1)), "cudaMallocHost"))
        self._host.append(ptr)
        buf = (ctypes.c_byte * max(nbytes, 1)).from_address(ptr)
        return np.frombuffer(buf, dtype=dtype, count=int(np.prod(shape))).reshape(shape)

    def to_device(self, dst: int, src: np.ndarray) -> None:
        """Async host → device copy on the stream."""
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(
            self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, self.stream), "cudaMemcpyAsync"
        )

    def to_host(self, dst: np.ndarray, src: int) -> None:
        """Async device → host copy on the stream."""
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(
            self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, self.stream), "cudaMemcpyAsync"
        )

    @property
    def stream_handle(self) -> int:
        """The stream as the integer handle `execute_async_v3` takes."""
        return int(self.stream)

    def synchronize(self) -> None:
        """Wait for the stream."""
        self._check(self.rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    def free(self) -> None:
        """Release every allocation and the stream."""
        for ptr in self._device:
            self.rt.cudaFree(ptr)
        for ptr in self._host:
            self.rt.cudaFreeHost(ptr)
        self._device, self._host = [], []
        if self.stream is not None:
            self.rt.cudaStreamDestroy(self.stream)
            self.stream = None


class PyCudaMemory:
    """The same operations through pycuda, for machines that have it rather than cuda-python."""

    name = "pycuda"

    def __init__(self, device: int = 0) -> None:
        import pycuda.driver as cuda

        cuda.init()
        self.cuda = cuda
        self.ctx = cuda.Device(device).retain_primary_context()
        self.ctx.push()
        self.stream = cuda.Stream()
        self._keep: list[Any] = []

    def device_name(self, device: int = 0) -> str:
        """The GPU's name."""
        return str(self.cuda.Device(device).name())

    def compute_capability(self, device: int = 0) -> str:
        """The GPU's compute capability, e.g. "9.0"."""
        return "{}.{}".format(*self.cuda.Device(device).compute_capability())

    def alloc(self, nbytes: int) -> int:
        """Device memory; returns the pointer."""
        mem = self.cuda.mem_alloc(max(nbytes, 1))
        self._keep.append(mem)
        return int(mem)

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Page-locked host array."""
        arr = self.cuda.pagelocked_empty(shape, dtype)
        self._keep.append(arr)
        return arr

    def to_device(self, dst: int, src: np.ndarray) -> None:
        """Async host → device copy."""
        self.cuda.memcpy_htod_async(dst, src, self.stream)

    def to_host(self, dst: np.ndarray, src: int) -> None:
        """Async device → host copy."""
        self.cuda.memcpy_dtoh_async(dst, src, self.stream)

    @property
    def stream_handle(self) -> int:
        """The stream handle for `execute_async_v3`."""
        return int(self.stream.handle)

    def synchronize(self) -> None:
        """Wait for the stream."""
        self.stream.synchronize()

    def free(self) -> None:
        """Drop the allocations and pop the context."""
        self._keep.clear()
        if self.ctx is not None:
            self.ctx.pop()
            self.ctx = None


def cuda_memory(device: int = 0) -> CudaPythonMemory | PyCudaMemory:
    """cuda-python when installed, else pycuda; MissingDependencyError says how to get one."""
    if module_available("cuda.bindings") or module_available("cuda.cudart"):
        return CudaPythonMemory(device)
    if module_available("pycuda"):
        return PyCudaMemory(device)
    raise MissingDependencyError(
        "the TensorRT backend needs cuda-python (or pycuda) for device buffers: pip install 'depthmask[gpu]'"
    )
