"""ONNX → TensorRT 10 engine (`engine_from_onnx`), the engine's JSON sidecar, and the compatibility check
that refuses an engine built by another TensorRT version or for another GPU.

Name-based I/O throughout (TensorRT 10 has no binding indices). The engine has one optimization profile
over the `frames` batch (min, opt, max); fp16 and int8 keep the graph's fp32 island (the mask's sigmoid
and the statistics, see `depthmask.export.precision.fp32_island`) in fp32 through precision constraints.
int8 uses implicit quantization with an entropy calibrator (IInt8EntropyCalibrator2) fed uint8 frames,
its cache kept beside the engine; a timing cache (also beside the engine unless configured) makes
rebuilds fast. A second path, `tensorrt_providers`, lets ONNX Runtime's TensorRT execution provider
build and cache engines itself.

TensorRT needs an NVIDIA GPU; on machines without it every entry point raises MissingDependencyError.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.metadata import read_onnx_metadata
from depthmask.contract.sidecar import engine_metadata, write_sidecar
from depthmask.errors import ContractError, MissingDependencyError, module_available
from depthmask.export.config import ExportConfig

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "TensorRT is not installed. Install it with: pip install 'depthmask[gpu]' (NVIDIA's tensorrt wheels "
    "need a CUDA GPU and driver), or export ONNX and run it with ONNX Runtime instead (--format onnx)"
)


def import_tensorrt() -> Any:
    """The tensorrt module (≥ 10), or MissingDependencyError saying how to install it."""
    if not module_available("tensorrt"):
        raise MissingDependencyError(INSTALL_HINT)
    try:
        import tensorrt as trt
    except Exception as exc:  # the stub wheel raises while trying to fetch the real one
        raise MissingDependencyError(f"{INSTALL_HINT} (import failed: {exc})") from None
    if int(trt.__version__.split(".")[0]) < 10:
        raise MissingDependencyError(
            f"TensorRT {trt.__version__} is too old; depthmask needs TensorRT ≥ 10: "
            "pip install 'depthmask[gpu]'"
        )
    return trt


def current_gpu(device: int = 0) -> str:
    """This machine's GPU name, as recorded in sidecars (the runtime compares the same string)."""
    from depthmask.runtime.backends.cuda_memory import cuda_memory

    mem = cuda_memory(device)
    try:
        return mem.device_name(device)
    finally:
        mem.free()


def _calibrator(trt: Any, batches: Iterable[np.ndarray], batch: int, input_name: str, cache: Path) -> Any:
    """An IInt8EntropyCalibrator2 that copies uint8 frame batches to the GPU, one per `get_batch`."""
    from depthmask.runtime.backends.cuda_memory import cuda_memory

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = iter(batches)
            self.mem = cuda_memory(0)
            self.device: int | None = None
            self.count = 0

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            frames = next(self.batches, None)
            if frames is None:
                return None
            if frames.shape[0] != batch:  # the calibration profile is fixed at `batch`; pad the tail
                frames = np.concatenate([frames, np.repeat(frames[-1:], batch - frames.shape[0], axis=0)])
            frames = np.ascontiguousarray(frames, dtype=np.uint8)
            if self.device is None:
                self.device = self.mem.alloc(frames.nbytes)
            self.mem.to_device(self.device, frames)
            self.mem.synchronize()
            self.count += frames.shape[0]
            return [self.device for _ in names]  # one input: `frames`

        def read_calibration_cache(self) -> bytes | None:
            if cache.is_file():
                log.info("int8: reusing calibration cache %s", cache)
                return cache.read_bytes()
            return None

        def write_calibration_cache(self, data: Any) -> None:
            cache.write_bytes(bytes(data))

        def free(self) -> None:
            self.mem.free()

    calibrator = EntropyCalibrator()
    calibrator.input_name = input_name
    return calibrator


def _constrain_fp32(trt: Any, network: Any, island: set[str], island_tensors: set[str]) -> int:
    """Pin the island's layers (by ONNX node name or output tensor name) to fp32; returns how many."""
    floats = (trt.float32, trt.float16)
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if layer.name not in island and not any(t.name in island_tensors for t in outputs):
            continue
        if not all(t.dtype in floats for t in outputs):
            continue  # comparisons, shapes and casts to bool/int carry no float precision to pin
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned += 1
    return pinned


def engine_from_onnx(
    onnx_path: str | Path,
    cfg: ExportConfig,
    engine_path: str | Path | None = None,
    *,
    calibration: Iterable[np.ndarray] | None = None,
) -> Path:
    """Build a TensorRT engine from an fp32 ONNX export at `cfg.precision`; write it and its sidecar.

    `calibration` (uint8 H×W×3 frames) is required for int8. Returns the engine's path.
    """
    import onnx

    from depthmask.export.frames import batches as to_batches
    from depthmask.export.precision import fp32_island

    trt = import_tensorrt()
    onnx_path = Path(onnx_path)
    engine_path = Path(engine_path) if engine_path is not None else onnx_path.with_suffix(".engine")
    meta = read_onnx_metadata(onnx_path)
    if meta.get("precision") != "fp32":
        raise ContractError(f"{onnx_path} is {meta.get('precision')}; build engines from the fp32 export")
    model = onnx.load(str(onnx_path), load_external_data=False)
    island = fp32_island(model)
    island_tensors = {o for n in model.graph.node if n.name in island for o in n.output}
    height, width = meta["input"]["height"], meta["input"]["width"]

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # from the file: external data is found beside it
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ContractError(f"TensorRT's ONNX parser rejected {onnx_path}: {errors}")
    if network.num_inputs != 1:
        names = [network.get_input(i).name for i in range(network.num_inputs)]
        raise ContractError(f"{onnx_path}: expected one input 'frames', TensorRT sees {names}")
    input_name = network.get_input(0).name

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg.workspace_gib * (1 << 30)))
    lo, opt, hi = cfg.profile
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, (lo, height, width, 3), (opt, height, width, 3), (hi, height, width, 3))
    config.add_optimization_profile(profile)

    flags = []
    if cfg.precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default; fp32 means fp32 (parity ≤ 1e-4)
    if cfg.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # int8 layers without an int8 kernel fall back to fp16
        flags.append("FP16")
    calibrator = None
    if cfg.precision == "int8":
        if calibration is None:
            raise ContractError("an int8 engine needs calibration frames (--calibration SOURCE)")
        config.set_flag(trt.BuilderFlag.INT8)
        flags.append("INT8")
        calib_batch = min(max(opt, 1), 8)
        calib_profile = builder.create_optimization_profile()
        shape = (calib_batch, height, width, 3)
        calib_profile.set_shape(input_name, shape, shape, shape)
        config.set_calibration_profile(calib_profile)
        cache = engine_path.with_name(engine_path.name + ".calib-cache")
        calibrator = _calibrator(trt, to_batches(calibration, calib_batch), calib_batch, input_name, cache)
        config.int8_calibrator = calibrator
    if flags:
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        flags.append("OBEY_PRECISION_CONSTRAINTS")
        pinned = _constrain_fp32(trt, network, island, island_tensors)
        log.info("pinned %d layers to fp32 (mask sigmoid and statistics)", pinned)

    timing_path = cfg.timing_cache or engine_path.with_name(engine_path.name + ".timing-cache")
    timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)

    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        raise ContractError(
            f"TensorRT could not build an engine from {onnx_path} (precision {cfg.precision}, batch "
            f"{lo}..{hi}); see the TensorRT log above. A smaller --batch-profile max or a larger "
            "--workspace may help."
        )
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(memoryview(serialized))  # standard engine bytes, nothing prepended
    timing_path.parent.mkdir(parents=True, exist_ok=True)
    timing_path.write_bytes(memoryview(config.get_timing_cache().serialize()))

    side = engine_metadata(
        meta,
        tensorrt_version=trt.__version__,
        gpu=current_gpu(),
        batch_profile=(lo, opt, hi),
        precision=cfg.precision,
        builder_flags=flags,
    )
    if calibrator is not None:
        side["calibration"] = {"source": cfg.calibration, "frames": calibrator.count, "method": "entropy2"}
    write_sidecar(engine_path, side, source=onnx_path)
    return engine_path


def tensorrt_providers(
    cache_dir: str | Path,
    *,
    fp16: bool = False,
    int8: bool = False,
    workspace_gib: float = 4.0,
    input_name: str = "frames",
    frame_shape: tuple[int, int] | None = None,
    batch_profile: tuple[int, int, int] | None = None,
) -> list[Any]:
    """Providers for an ONNX Runtime session that builds TensorRT engines itself and caches them in
    `cache_dir` (the second path to TensorRT, through onnxruntime-gpu); CUDA and CPU follow as fallbacks."""
    cache_dir = Path(cache_dir)
    options: dict[str, Any] = {
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache_dir),
        "trt_timing_cache_enable": True,
        "trt_timing_cache_path": str(cache_dir),
        "trt_fp16_enable": fp16,
        "trt_int8_enable": int8,
        "trt_max_workspace_size": int(workspace_gib * (1 << 30)),
    }
    if frame_shape is not None and batch_profile is not None:
        h, w = frame_shape
        lo, opt, hi = batch_profile
        options["trt_profile_min_shapes"] = f"{input_name}:{lo}x{h}x{w}x3"
        options["trt_profile_opt_shapes"] = f"{input_name}:{opt}x{h}x{w}x3"
        options["trt_profile_max_shapes"] = f"{input_name}:{hi}x{h}x{w}x3"
    return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider", "CPUExecutionProvider"]


def session_from_onnx(onnx_path: str | Path, providers: list[Any]) -> Any:
    """An ONNX Runtime session with `providers` (e.g. `tensorrt_providers(...)`)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "TensorrtExecutionProvider" in [p[0] if isinstance(p, tuple) else p for p in providers] and (
        "TensorrtExecutionProvider" not in available
    ):
        raise MissingDependencyError(
            "this ONNX Runtime has no TensorRT execution provider (it has "
            f"{', '.join(available)}): pip uninstall onnxruntime && pip install 'depthmask[gpu]'"
        )
    return ort.InferenceSession(str(onnx_path), providers=providers)
