"""Reduced-precision variants of an exported fp32 ONNX graph: fp16, and int8 for ONNX Runtime's CPU.

Both keep what needs float32 in float32, found structurally from the graph (`fp32_island`): the mask's
sigmoid and every node that only feeds the `stats` output (counts over ~70k pixels and the far-pixel
threshold's bisection are not representable in fp16). The uint8 input and the float32 outputs stay as
they are, so the runtime sees the same interface whatever the precision.

fp16 uses ONNX Runtime's float16 converter (`onnxruntime.transformers.float16`, the same code as
onnxconverter-common's, already installed with onnxruntime) with a node block list: no extra dependency,
and it inserts the casts at the block boundaries itself.
int8 is ONNX Runtime static quantization: QDQ format, per-channel symmetric int8 weights, uint8
activations calibrated on frames like the deployment footage.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.metadata import graph_spec_of, onnx_metadata, set_onnx_metadata
from depthmask.contract.spec import CURVE_NAME, REGION_STATS_NAME, GraphSpec
from depthmask.errors import ConfigError
from depthmask.export.frames import batches

log = logging.getLogger(__name__)

FP32_OPS = ("Sigmoid",)  # kept in fp32 wherever they are
INT8_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")  # quantized; everything else stays float
CALIBRATION_BATCH = 4


def fp32_island(model: Any) -> set[str]:
    """Names of nodes that must run in fp32: FP32_OPS, and nodes whose results reach only the
    statistics (`stats`, a region graph's `region_stats`, a curve graph's `curve`).

    The statistics are computed from the other outputs; the nodes between them (no path to mask/depth)
    form the statistics' subgraph.
    """
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}

    def ancestors(names: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = [producer[n] for n in names if n in producer]
        while stack:
            node = stack.pop()
            if node.name in seen:
                continue
            seen.add(node.name)
            stack.extend(producer[i] for i in node.input if i in producer)
        return seen

    outputs = [o.name for o in graph.output]
    statistics = ("stats", REGION_STATS_NAME, CURVE_NAME)
    stats_only = ancestors([o for o in outputs if o in statistics]) - ancestors(
        [o for o in outputs if o not in statistics]
    )
    _require_names(model)
    return stats_only | {n.name for n in graph.node if n.op_type in FP32_OPS}


def edge_convs(model: Any) -> set[str]:
    """Convolutions kept in float under int8: those reading the image (a path from the input reaches
    them without crossing another convolution) and the one-channel heads (depth, mask logits) — the
    usual first/last-layer exception of post-training quantization."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    weights = {t.name: t for t in graph.initializer}
    inputs = {i.name for i in graph.input}
    edge = set()
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        w = weights.get(node.input[1])
        if w is not None and w.dims and w.dims[0] == 1:
            edge.add(node.name)
            continue
        stack, seen = [node.input[0]], set()
        while stack:
            name = stack.pop()
            if name in inputs:
                edge.add(node.name)
                break
            up = producer.get(name)
            if up is None or up.name in seen or up.op_type == "Conv":
                continue
            seen.add(up.name)
            stack.extend(up.input)
    return edge


def _require_names(model: Any) -> None:
    """Give unnamed nodes unique names (block lists and TensorRT layer matching go by name)."""
    used = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def load_named(path: str | Path) -> Any:
    """The ONNX model at `path` with every node named (the names block lists and fallbacks go by)."""
    import onnx

    model = onnx.load(str(path))
    _require_names(model)
    return model


def _finish(
    model: Any, source_meta: dict[str, Any], precision: str, dst: Path, src: str | Path, **extra: Any
) -> Path:
    import onnx

    from depthmask.export.onnx import save_onnx

    meta = {**source_meta, "precision": precision, **extra}
    set_onnx_metadata(model, meta, artefact=dst, source=src)
    onnx.checker.check_model(model, full_check=False)
    return save_onnx(model, dst)


def fp16_from_onnx(src: str | Path, dst: str | Path, keep_fp32: Iterable[str] = ()) -> Path:
    """The fp16 variant of an fp32 export: float16 weights and activations, fp32 island (and the
    `keep_fp32` nodes) and fp32 I/O."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = load_named(src)
    meta = onnx_metadata(model)
    if meta.get("precision") != "fp32":
        raise ConfigError(f"{src} has precision {meta.get('precision')!r}; convert the fp32 export instead")
    island = fp32_island(model) | set(keep_fp32)
    # keep_io_types: the outputs stay float32 (the uint8 input is not a float and is never touched).
    half = convert_float_to_float16(
        model,
        keep_io_types=True,
        node_block_list=sorted(island),
        op_block_list=[*DEFAULT_OP_BLOCK_LIST, *FP32_OPS],
        disable_shape_infer=False,
    )
    _toposort(half)  # the converter appends its casts at the end of the node list
    return _finish(half, meta, "fp16", Path(dst), src, fp32_nodes=len(island))


def fp16_candidates(model: Any) -> list[str]:
    """The nodes fp16 converts in `model` (as `load_named` reads it), in the graph's order (what a
    fallback chooses among): every node outside the fp32 island that is not an op kept in fp32 anyway."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST

    island = fp32_island(model)
    blocked = {*DEFAULT_OP_BLOCK_LIST, *FP32_OPS}
    return [n.name for n in model.graph.node if n.name not in island and n.op_type not in blocked]


def _toposort(model: Any) -> None:
    """Reorder the graph's nodes so every input is produced before use (ONNX requires it)."""
    graph = model.graph
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"the graph has a cycle or a missing input at {rest[0].name!r}")
        pending = rest
    copies = [type(n)() for n in ordered]
    for copy, node in zip(copies, ordered, strict=True):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


class FrameReader:
    """ONNX Runtime's CalibrationDataReader over uint8 frame batches (`get_next` → feed dict or None),
    with the length and `set_range` its strided calibration reads the batches through."""

    def __init__(
        self,
        frames: Iterable[np.ndarray],
        spec: GraphSpec,
        batch: int = CALIBRATION_BATCH,
        *,
        fixed: bool = False,
    ) -> None:
        self.spec = spec  # its inputs: a region graph is calibrated on whole frames (one map each)
        self.batch, self.fixed = batch, fixed
        self._all = list(batches(frames, batch))
        self._batches: Iterator[np.ndarray] = iter(self._all)
        self.count = 0

    def __len__(self) -> int:
        return len(self._all)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Read batches [start_index, end_index) next (ONNX Runtime's strided calibration)."""
        self._batches = iter(self._all[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next batch, or None when the frames are used up (a fixed-batch model's last one is padded
        by repeating its last frame, as the runtime does)."""
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.count += batch.shape[0]
        if self.fixed and batch.shape[0] < self.batch:
            batch = np.concatenate([batch, np.repeat(batch[-1:], self.batch - batch.shape[0], axis=0)])
        return self.spec.feeds(batch)


def unshare_weights(model: Any) -> Any:
    """Give every quantizable node its own copy of each initializer it shares with another one (in place).

    The quantizer rounds a shared initializer once and feeds the int8 copy to every consumer, so a node
    kept in float (`nodes_to_exclude`) would still read int8 weights: the exporter deduplicates equal
    constants, e.g. the interpolation matrices of two up-projections of the same sizes.
    """
    import onnx

    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    seen: set[str] = set()
    for node in graph.node:
        if node.op_type not in INT8_OPS:
            continue
        for k, name in enumerate(node.input):
            if name not in initializers:
                continue
            if name in seen:
                copy = onnx.TensorProto()
                copy.CopyFrom(initializers[name])
                copy.name = f"{name}__{node.name}"
                graph.initializer.append(copy)
                node.input[k] = copy.name
            seen.add(name)
    return model


class Int8Recipe:
    """An fp32 export prepared once for static quantization, then quantized as often as asked: per
    calibration method (each calibrates once on the frames; its ranges are cached), with any extra
    nodes kept in float (`keep_fp32`). `export --fallback auto` tries many variants through one recipe.

    Conv/MatMul weights are int8 per output channel, their activations uint8 with calibrated ranges
    (`symmetric`: int8 activations with symmetric ranges, the only form TensorRT builds); the fp32
    island, the convolutions reading the image and the one-channel heads (`edge_convs`), and every
    other op stay float (ONNX Runtime fuses the QDQ pairs into integer kernels on the CPU).
    """

    def __init__(
        self,
        src: str | Path,
        calibration: Iterable[np.ndarray],
        workdir: Path,
        *,
        calibration_source: str | None = None,
        batch: int = CALIBRATION_BATCH,
        symmetric: bool = False,
    ) -> None:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        from depthmask.export.onnx import PROTOBUF_LIMIT, save_onnx

        self.src, self.workdir, self.symmetric = src, Path(workdir), symmetric
        self.calibration_source = calibration_source
        self.frames = list(calibration)  # every method calibrates on the same frames
        if not self.frames:
            raise ConfigError(f"calibration source {calibration_source!r} gave no frames")
        model = load_named(src)
        self.meta = onnx_metadata(model)
        if self.meta.get("precision") != "fp32":
            raise ConfigError(
                f"{src} has precision {self.meta.get('precision')!r}; quantize the fp32 export instead"
            )
        fixed = model.graph.input[0].type.tensor_type.shape.dim[0].dim_value  # 0: a symbolic batch
        self.batch, self.fixed = fixed or batch, bool(fixed)
        self.spec = graph_spec_of(self.meta)
        self.big = model.ByteSize() > PROTOBUF_LIMIT  # such models travel as files with external data
        named, self.prepared_path = self.workdir / "named.onnx", self.workdir / "pre.onnx"
        save_onnx(model, named)
        # Shape inference and graph clean-up first, as ORT recommends before quantization; the island is
        # found on the result, whose node names the quantizer sees.
        quant_pre_process(
            str(named),
            str(self.prepared_path),
            skip_symbolic_shape=True,
            save_as_external_data=self.big,
            all_tensors_to_one_file=True,
        )
        self.prepared = unshare_weights(load_named(self.prepared_path))
        save_onnx(self.prepared, self.prepared_path)
        self.always_float = fp32_island(self.prepared) | edge_convs(self.prepared)

    def quantizable(self) -> list[str]:
        """The nodes int8 may quantize, in the graph's order (what a fallback chooses among)."""
        return [
            n.name
            for n in self.prepared.graph.node
            if n.op_type in INT8_OPS and n.name not in self.always_float
        ]

    def quantize(
        self,
        dst: str | Path,
        *,
        method: str = "minmax",
        keep_fp32: Iterable[str] = (),
    ) -> Path:
        """The int8 artefact with `method`'s ranges and `keep_fp32` left in float; its metadata says so."""
        import inspect

        import onnx
        from onnxruntime.quantization import CalibrationDataReader, quantize_static

        methods = _calibrate_methods()
        if method not in methods:
            raise ConfigError(f"unknown calibration method {method!r}; choose one of {', '.join(methods)}")
        inner = FrameReader(self.frames, self.spec, self.batch, fixed=self.fixed)

        class Reader(CalibrationDataReader):  # ORT checks the base class
            def get_next(self) -> dict[str, np.ndarray] | None:
                return inner.get_next()

            def __len__(self) -> int:
                return len(inner)

            def set_range(self, start_index: int, end_index: int) -> None:
                inner.set_range(start_index, end_index)

        keep = sorted(self.always_float | set(keep_fp32))
        cache = self.workdir / f"ranges-{method}.json"
        cached = "calibration_cache_path" in inspect.signature(quantize_static).parameters  # ORT ≥ 1.23
        out = self.workdir / "int8.onnx"
        # ORT's calibrators print their progress: the export shows its own.
        with contextlib.redirect_stdout(io.StringIO()):
            self._quantize_static(out, Reader(), methods[method], keep, cache if cached else None)
        quantized = onnx.load(str(out))
        calibration = {"source": self.calibration_source, "frames": len(self.frames), "method": method}
        return _finish(quantized, self.meta, "int8", Path(dst), self.src, calibration=calibration)

    def _quantize_static(
        self, out: Path, reader: Any, method: Any, keep: list[str], cache: Path | None
    ) -> None:
        """ONNX Runtime's static quantization of the prepared model (ranges from `cache` when it holds
        them: each method calibrates once)."""
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

        quantize_static(
            str(self.prepared_path),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8 if self.symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(INT8_OPS),
            nodes_to_exclude=keep,
            calibrate_method=method,
            # One batch per pass: the histogram calibrators (percentile, entropy) hold every tensor of
            # every batch they read until the pass ends (24 GiB were not enough for 16 frames of
            # resnet50 + G at 228×304); their histograms accumulate over passes.
            extra_options={
                "ActivationSymmetric": self.symmetric,
                "WeightSymmetric": True,
                "CalibStridedMinMax": 1,
            },
            use_external_data_format=self.big,
            **({"calibration_cache_path": str(cache)} if cache is not None else {}),
        )


def _calibrate_methods() -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }


def int8_from_onnx(
    src: str | Path,
    dst: str | Path,
    calibration: Iterable[np.ndarray],
    *,
    calibration_source: str | None = None,
    batch: int = CALIBRATION_BATCH,
    symmetric: bool = False,
    method: str = "minmax",
    keep_fp32: Iterable[str] = (),
) -> Path:
    """The int8 (QDQ) variant of an fp32 export, calibrated on `calibration` (uint8 H×W×3 frames) with
    `method`, `keep_fp32` nodes left in float (see `Int8Recipe`)."""
    with tempfile.TemporaryDirectory(prefix="depthmask-int8-") as tmp:
        recipe = Int8Recipe(
            src,
            calibration,
            Path(tmp),
            calibration_source=calibration_source,
            batch=batch,
            symmetric=symmetric,
        )
        return recipe.quantize(dst, method=method, keep_fp32=keep_fp32)
