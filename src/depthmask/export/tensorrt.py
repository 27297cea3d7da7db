"""ONNX → TensorRT 10 engine (`engine_from_onnx`), the engine's JSON sidecar, and the compatibility check
that refuses an engine built by another TensorRT version or for another GPU.

Name-based I/O throughout (TensorRT 10 has no binding indices). The engine has one optimization profile
over the `frames` batch (min, opt, max); fp16 and int8 keep the graph's fp32 island (the mask's sigmoid
and the statistics, see `depthmask.export.precision.fp32_island`) in fp32 through precision constraints.
int8 is explicit quantization (TensorRT 10's way; the implicit calibrator API is deprecated since 10.1):
the fp32 export is quantized to a QDQ ONNX graph on the calibration frames (`int8_from_onnx`, symmetric
int8 as TensorRT requires) and TensorRT builds that graph with INT8 and FP16 (the fallback precision)
enabled, no calibrator. A timing cache (beside the engine unless configured) is loaded when it exists and
written back after the build, so rebuilds are fast. The sidecar records the GPU's name, compute
capability and UUID (`depthmask.contract.compat` compares them). A second path, `tensorrt_providers`,
lets ONNX Runtime's TensorRT execution provider build and cache engines itself.

TensorRT needs an NVIDIA GPU; on machines without it every entry point raises MissingDependencyError.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.metadata import read_onnx_metadata
from depthmask.contract.sidecar import engine_metadata, write_sidecar
from depthmask.contract.spec import INPUT_NAME, REGIONS_NAME
from depthmask.errors import ConfigError, ContractError, MissingDependencyError, module_available
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


def profile_shapes(
    batch_profile: tuple[int, int, int], height: int, width: int
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The `frames` input's (min, opt, max) shapes of the engine's one optimization profile, from the
    user's (min, opt, max) batch; ConfigError unless 1 ≤ min ≤ opt ≤ max."""
    try:
        lo, opt, hi = (int(v) for v in batch_profile)
    except (TypeError, ValueError):
        raise ConfigError(
            f"--batch-profile takes MIN,OPT,MAX frames (e.g. 1,4,16), got {batch_profile!r}"
        ) from None
    if not 1 <= lo <= opt <= hi:
        raise ConfigError(f"--batch-profile needs 1 ≤ min ≤ opt ≤ max, got {lo},{opt},{hi}")
    return (lo, height, width, 3), (opt, height, width, 3), (hi, height, width, 3)


def input_profiles(
    batch_profile: tuple[int, int, int], height: int, width: int, max_regions: int | None = None
) -> dict[str, tuple[tuple[int, ...], ...]]:
    """(min, opt, max) shapes per input of the engine's optimization profile: `frames` by the batch
    profile, and for a region graph `regions` from 1 map to `max_regions` (at the same batches)."""
    frames = profile_shapes(batch_profile, height, width)
    profiles: dict[str, tuple[tuple[int, ...], ...]] = {INPUT_NAME: frames}
    if max_regions is not None:
        if isinstance(max_regions, bool) or not isinstance(max_regions, int) or max_regions < 1:
            raise ConfigError(f"an engine's region maps must be a positive number, got {max_regions!r}")
        maps = (1, max_regions, max_regions)
        profiles[REGIONS_NAME] = tuple(
            (shape[0], m, height, width) for shape, m in zip(frames, maps, strict=True)
        )
    return profiles


def device_record(device: int = 0) -> dict[str, str]:
    """The building GPU's compute capability ("9.0") and UUID for the sidecar, from torch (present at
    export); empty where torch sees no CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return {}
    major, minor = torch.cuda.get_device_capability(device)
    record = {"gpu_compute_capability": f"{major}.{minor}"}
    uuid = getattr(torch.cuda.get_device_properties(device), "uuid", None)
    if uuid is not None:
        record["gpu_uuid"] = str(uuid)
    return record


def check_qdq_for_tensorrt(model: Any, source: str | Path) -> int:
    """Refuse a QDQ graph TensorRT cannot build: its quantization must be symmetric int8 (zero points of
    type int8, all zero). Returns the number of QuantizeLinear/DequantizeLinear nodes."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    consts = {
        n.output[0]: a.t
        for n in model.graph.node
        if n.op_type == "Constant"
        for a in n.attribute
        if a.name == "value"
    }
    count, bad = 0, []
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        count += 1
        if len(node.input) < 3 or not node.input[2]:
            continue
        zp = inits.get(node.input[2]) or consts.get(node.input[2])
        if zp is None:
            continue
        values = numpy_helper.to_array(zp)
        if zp.data_type != onnx.TensorProto.INT8 or values.any():
            bad.append(f"{node.name} ({onnx.TensorProto.DataType.Name(zp.data_type).lower()} zero point)")
    if bad:
        raise ContractError(
            f"{source} is not symmetric int8 QDQ, which TensorRT needs: {', '.join(bad[:3])}"
            f"{' …' if len(bad) > 3 else ''}. Quantize the fp32 export with symmetric int8 activations "
            "(`int8_from_onnx(..., symmetric=True)`)."
        )
    if count == 0:
        raise ContractError(
            f"{source} has no QuantizeLinear/DequantizeLinear nodes; it is not an int8 export"
        )
    return count


def _qdq_from_onnx(
    onnx_path: Path,
    calibration: Iterable[np.ndarray],
    source: str | None,
    out_dir: Path,
    keep_fp32: Iterable[str] = (),
    method: str = "minmax",
) -> Path:
    """The calibrated QDQ (int8) variant of the fp32 export, quantized the way TensorRT needs."""
    from depthmask.export.precision import int8_from_onnx

    return int8_from_onnx(
        onnx_path, out_dir / "int8-qdq.onnx", calibration, calibration_source=source, symmetric=True,
        method=method, keep_fp32=keep_fp32,
    )  # fmt: skip


def _timing_cache(config: Any, path: Path) -> Any:
    """Load `path` into the builder config's timing cache (an empty cache when the file does not exist)."""
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is None or config.set_timing_cache(cache, ignore_mismatch=False) is False:
        raise ContractError(
            f"TensorRT refused the timing cache {path} (made by another TensorRT version or GPU?); delete "
            "it, or pass another --timing-cache"
        )
    if data:
        log.info("reusing the timing cache %s", path)
    return cache


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
    keep_fp32: Iterable[str] = (),
    method: str = "minmax",
) -> Path:
    """Build a TensorRT engine from an fp32 ONNX export at `cfg.precision`; write it and its sidecar.

    `calibration` (uint8 H×W×3 frames) is required for int8: the fp32 export is quantized to QDQ on them
    (ranges by `method`) and TensorRT builds the QDQ graph (explicit quantization). `keep_fp32` (ONNX
    node names, from `--fallback auto`) stay unquantized and are pinned to fp32 by layer precision
    constraints, as the fp32 island is. Returns the engine's path.
    """
    trt = import_tensorrt()
    onnx_path = Path(onnx_path)
    engine_path = Path(engine_path) if engine_path is not None else onnx_path.with_suffix(".engine")
    meta = read_onnx_metadata(onnx_path)
    if meta.get("precision") != "fp32":
        raise ContractError(f"{onnx_path} is {meta.get('precision')}; build engines from the fp32 export")
    regions = meta.get("regions")
    shapes = input_profiles(
        cfg.profile, meta["input"]["height"], meta["input"]["width"], regions["max"] if regions else None
    )
    keep = set(keep_fp32)
    if cfg.precision != "int8":
        return _build(trt, onnx_path, onnx_path, cfg, engine_path, meta, shapes, keep)
    if calibration is None:
        raise ContractError("an int8 engine needs calibration frames (--calibration SOURCE)")
    with tempfile.TemporaryDirectory(prefix="depthmask-trt-int8-") as tmp:
        qdq = _qdq_from_onnx(onnx_path, calibration, cfg.calibration, Path(tmp), keep, method)
        return _build(trt, onnx_path, qdq, cfg, engine_path, meta, shapes, keep)


def _build(
    trt: Any,
    onnx_path: Path,
    parse_path: Path,
    cfg: ExportConfig,
    engine_path: Path,
    meta: dict[str, Any],
    shapes: dict[str, tuple[tuple[int, ...], ...]],
    keep_fp32: set[str] = frozenset(),  # type: ignore[assignment]
) -> Path:
    """Parse `parse_path` (the fp32 export, or its QDQ variant for int8), build, write engine + sidecar;
    the fp32 island and `keep_fp32` are pinned to fp32."""
    import onnx

    from depthmask.export.precision import fp32_island

    model = onnx.load(str(parse_path), load_external_data=False)
    if cfg.precision == "int8":
        check_qdq_for_tensorrt(model, parse_path)
    island = fp32_island(model) | keep_fp32
    island_tensors = {o for n in model.graph.node if n.name in island for o in n.output}

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(parse_path)):  # from the file: external data is found beside it
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ContractError(f"TensorRT's ONNX parser rejected {parse_path}: {errors}")
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if names != list(shapes):
        raise ContractError(f"{onnx_path}: expected inputs {list(shapes)}, TensorRT sees {names}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(cfg.workspace_gib * (1 << 30)))
    profile = builder.create_optimization_profile()
    for name, (lo_shape, opt_shape, hi_shape) in shapes.items():
        profile.set_shape(name, lo_shape, opt_shape, hi_shape)
    config.add_optimization_profile(profile)

    flags = []
    if cfg.precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default; fp32 means fp32 (parity ≤ 1e-4)
    if cfg.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # int8: layers without an int8 kernel fall back to fp16
        flags.append("FP16")
    if cfg.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # explicit quantization: the QDQ nodes set the scales
        flags.append("INT8")
    if flags:
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        flags.append("OBEY_PRECISION_CONSTRAINTS")
        pinned = _constrain_fp32(trt, network, island, island_tensors)
        log.info(
            "pinned %d layers to fp32 (mask sigmoid, statistics, %d kept by --fallback)",
            pinned,
            len(keep_fp32),
        )

    timing_path = cfg.timing_cache or engine_path.with_name(engine_path.name + ".timing-cache")
    _timing_cache(config, timing_path)
    serialized = builder.build_serialized_network(network, config)
    lo, opt, hi = (s[0] for s in shapes[INPUT_NAME])
    if serialized is None:
        raise ContractError(
            f"TensorRT could not build an engine from {parse_path} (precision {cfg.precision}, batch "
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
    side.update(device_record(0))
    if cfg.precision == "int8":
        side["calibration"] = read_onnx_metadata(parse_path).get("calibration")  # source, frames, method
    if keep_fp32:
        side["fallback"] = {"kept_fp32": sorted(keep_fp32)}  # pinned by layer precision constraints
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
