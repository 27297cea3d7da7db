"""Checkpoint → fused graph → ONNX, as steps usable alone: `graph_from_config`, `onnx_from_graph`, and
`onnx_from_checkpoint` chaining them.

The graph is exported by the dynamo exporter with a symbolic batch (`dynamic_shapes`); if that fails or
gives a graph whose outputs differ from PyTorch at batch 1 and 2, the TorchScript exporter is tried. The
file then passes `onnx.checker` (full check, strict shape inference), is simplified by onnxslim when that
leaves the outputs unchanged, carries its metadata (contracts §2) and keeps weights as external data
beyond protobuf's 2 GB.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthmask.contract.metadata import build_metadata, set_onnx_metadata
from depthmask.contract.spec import BATCH_AXIS, REGION_AXIS, REGIONS_NAME
from depthmask.errors import ConfigError, ContractError
from depthmask.export.config import ExportConfig
from depthmask.nets.graph import AuditGraph

log = logging.getLogger(__name__)

PROTOBUF_LIMIT = 2**31 - 1  # bytes; larger models keep their weights in an external data file
PROBE_TOLERANCE = 1e-3  # exporter sanity probe (relative to the output's scale); parity is stricter
SLIM_TOLERANCE = 1e-5  # simplification must leave every output (relative to its scale) within this
DEFAULT_BYO_SIZE = (228, 304)
DEFAULT_REGION_BOXES = 8  # boxes a frame a region graph plans for when the config does not say


def input_size(cfg: ExportConfig, depth_name: str | None, mask_name: str) -> tuple[int, int]:
    """The frames' H×W: as configured, else the depth net's nominal size (G's in mode `mask`)."""
    if cfg.height is not None and cfg.width is not None:
        return cfg.height, cfg.width
    from depthmask.nets.models import model_entry
    from depthmask.nets.models.byo import is_factory_spec

    name = depth_name if depth_name is not None else mask_name
    if is_factory_spec(name):
        return DEFAULT_BYO_SIZE
    return tuple(model_entry(name).input_size)  # type: ignore[return-value]


def graph_from_config(cfg: ExportConfig) -> AuditGraph:
    """Load N and G as configured and fuse them; the graph carries `provenance` and `input_size`."""
    from depthmask.nets.provenance import load_weighted

    size = (cfg.height, cfg.width) if cfg.height is not None and cfg.width is not None else None
    depth_net, depth_prov = None, None
    if cfg.mode != "mask":
        depth_net, depth_prov = load_weighted(
            cfg.depth_net,
            cfg.checkpoint_n,
            role="depth",
            random_weights=cfg.random_weights,
            seed=cfg.seed,
            input_size=size,
            trusted_factory=cfg.depth_net,  # the user's --depth-net; a checkpoint may not name code
        )
    mask_net, mask_prov = load_weighted(
        cfg.mask_net, cfg.checkpoint_g, role="mask", random_weights=cfg.random_weights, seed=cfg.seed
    )
    graph = AuditGraph(
        depth_net,
        mask_net,
        mode=cfg.mode,
        channel_order=cfg.channel_order,
        epsilon=cfg.epsilon,
        far_fraction=cfg.far_fraction,
        input_size=input_size(cfg, depth_prov.name if depth_prov else None, mask_prov.name),
        regions=cfg.regions is not None,
        curve=cfg.curve,
        provenance={
            "depth_net": depth_prov.to_dict() if depth_prov else None,
            "mask_net": mask_prov.to_dict(),
        },
    )
    return graph


def gflop_per_frame(graph: AuditGraph, height: int, width: int) -> float:
    """GFLOP of one frame through the graph, counted by torch's FLOP counter (conv and matmul, 2 per MAC).

    Counted on the graph as exported: in `audit` mode that is G once and N twice. (Export counts the same
    way during its batch-1 probe instead of running the graph again.)
    """
    from torch.utils.flop_counter import FlopCounterMode

    frames = torch.zeros(1, height, width, 3, dtype=torch.uint8)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        graph(frames)
    return counter.get_total_flops() / 1e9


def _probe_frames(height: int, width: int, batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype=np.uint8)


def _probe_regions(height: int, width: int, batch: int, maps: int, seed: int = 0) -> np.ndarray:
    """Region maps for a probe: map 0 a letterboxed frame's content (a band of rows), then random boxes."""
    rng = np.random.default_rng(seed)
    regions = np.zeros((batch, maps, height, width), dtype=np.float32)
    regions[:, 0, height // 8 : height - height // 8] = 1.0
    for b in range(batch):
        for r in range(1, maps):
            y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
            regions[b, r, y0 : y0 + height // 3, x0 : x0 + width // 3] = 1.0
    return regions


def _inputs(spec: Any, frames: np.ndarray, regions: np.ndarray | None) -> tuple[torch.Tensor, ...]:
    """The graph's positional inputs as tensors."""
    if not spec.regions:
        return (torch.from_numpy(frames),)
    return torch.from_numpy(frames), torch.from_numpy(regions)


def _weight_bytes(graph: AuditGraph) -> int:
    return sum(t.numel() * t.element_size() for t in [*graph.parameters(), *graph.buffers()])


def _export_dynamo(
    graph: AuditGraph, inputs: tuple[torch.Tensor, ...], path: Path, opset: int, dynamic: bool
) -> None:
    spec = graph.spec
    batch = torch.export.Dim(BATCH_AXIS, min=1)
    shapes: Any = None
    if dynamic or spec.regions:
        shapes = {spec.input_name: {0: batch} if dynamic else None}
        if spec.regions:  # the number of maps is always free; the batch as the frames'
            maps = torch.export.Dim(REGION_AXIS, min=1)
            shapes[REGIONS_NAME] = {0: batch, 1: maps} if dynamic else {1: maps}
    torch.onnx.export(
        graph,
        inputs,
        str(path),
        dynamo=True,
        input_names=list(spec.inputs),
        output_names=list(spec.outputs),
        dynamic_shapes=shapes,
        opset_version=opset,
        external_data=_weight_bytes(graph) > PROTOBUF_LIMIT,
        verbose=False,
    )


def _export_torchscript(
    graph: AuditGraph, inputs: tuple[torch.Tensor, ...], path: Path, opset: int, dynamic: bool
) -> None:
    spec = graph.spec
    axes = spec.dynamic_axes
    if not dynamic:  # a fixed batch keeps only the number of maps free
        axes = {name: {k: v for k, v in dims.items() if k != 0} for name, dims in axes.items()}
        axes = {name: dims for name, dims in axes.items() if dims}
    torch.onnx.export(
        graph,
        inputs,
        str(path),
        dynamo=False,
        input_names=list(spec.inputs),
        output_names=list(spec.outputs),
        dynamic_axes=axes or None,
        opset_version=opset,
        do_constant_folding=True,
    )


EXPORTERS: dict[str, Callable[[AuditGraph, tuple[torch.Tensor, ...], Path, int, bool], None]] = {
    "dynamo": _export_dynamo,
    "torchscript": _export_torchscript,
}


class _Probe:
    """Random frames at batch 1 and 2 (or the fixed batch) and PyTorch's outputs on them, computed once:
    each candidate graph (per exporter, then simplified) is compared against the same numbers. Two
    batch sizes prove the batch axis is really symbolic; the batch-1 pass also counts the FLOPs. A
    region graph gets 1 map, then 3 (its number of maps is symbolic too)."""

    def __init__(self, graph: AuditGraph, height: int, width: int, batch: int | None) -> None:
        self.graph, self.height, self.width = graph, height, width
        sizes = (1, 2) if batch is None else (batch, batch) if graph.regions else (batch,)
        self.frames = [_probe_frames(height, width, b, seed=k + 1) for k, b in enumerate(sizes)]
        self.regions: list[np.ndarray | None] = [
            _probe_regions(height, width, b, maps=1 + 2 * k, seed=k) if graph.regions else None
            for k, b in enumerate(sizes)
        ]
        self._reference: list[list[np.ndarray]] | None = None
        self.gflop_per_frame = 0.0

    @property
    def reference(self) -> list[list[np.ndarray]]:
        """PyTorch's outputs on each probe batch."""
        if self._reference is None:
            from torch.utils.flop_counter import FlopCounterMode

            self._reference = []
            for frames, regions in zip(self.frames, self.regions, strict=True):
                counter = FlopCounterMode(display=False)
                with counter, torch.no_grad():
                    outputs = self.graph(*_inputs(self.graph.spec, frames, regions))
                self._reference.append([t.numpy() for t in outputs])
                if not self.gflop_per_frame:
                    self.gflop_per_frame = counter.get_total_flops() / 1e9 / len(frames)
        return self._reference

    @property
    def depth_size(self) -> tuple[int, int]:
        """N's output h×w (the mask's in mode `mask`), read off the reference outputs."""
        shapes = dict(zip(self.graph.spec.outputs, (o.shape for o in self.reference[0]), strict=True))
        shape = shapes.get("depth", shapes.get("depth_masked", shapes["mask"]))
        if len(shape) != 4 or shape[1] != 1:
            raise ContractError(f"N's output should be [batch, 1, h, w]; got {list(shape)}")
        return int(shape[2]), int(shape[3])

    def run(self, model: Any) -> list[list[np.ndarray]]:
        """ONNX Runtime's outputs of `model` on each probe batch (one session)."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        with tempfile.TemporaryDirectory(prefix="depthmask-probe-") as tmp:
            if model.ByteSize() > PROTOBUF_LIMIT:  # too big to pass as bytes: a file with external data
                source: Any = str(save_onnx(model, Path(tmp) / "probe.onnx"))
            else:
                source = model.SerializeToString()
            session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        spec = self.graph.spec
        return [session.run(None, spec.feeds(f, r)) for f, r in zip(self.frames, self.regions, strict=True)]


def _declare_io(model: Any, graph: AuditGraph, probe: _Probe, batch: int | None) -> None:
    """Write the I/O shapes from the spec (exporters sometimes leave odd symbolic names on outputs)."""
    import onnx

    height, width = probe.height, probe.width
    shapes = graph.spec.output_shapes(height, width, probe.depth_size, batch)
    declared = {**graph.spec.input_shapes(height, width, batch), **shapes}
    for value in [*model.graph.input, *model.graph.output]:
        dims = declared.get(value.name)
        if dims is None:
            raise ContractError(f"the exported graph has an unexpected input/output {value.name!r}")
        shape = value.type.tensor_type.shape
        del shape.dim[:]
        for d in dims:
            dim = shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            else:
                dim.dim_param = d
    del model.graph.value_info[:]  # stale intermediate shapes are recomputed by inference below
    onnx.checker.check_model(model, full_check=False)


def _check(model: Any) -> Any:
    """onnx.checker full check (strict shape inference); returns the shape-inferred model."""
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
        return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ContractError(f"the exported graph fails onnx.checker: {exc}") from None


def _max_rel_error(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> float:
    """Worst |got − want| / max(1, max |want|) over every output of every batch."""
    worst = 0.0
    for got_batch, want_batch in zip(got, want, strict=True):
        for g, w in zip(got_batch, want_batch, strict=True):
            if g.shape != w.shape:
                return float("inf")
            if w.size:
                scale = max(1.0, float(np.abs(w).max()))
                worst = max(worst, float(np.abs(g.astype(np.float64) - w).max()) / scale)
    return worst


def _export(graph: AuditGraph, cfg: ExportConfig, probe: _Probe, workdir: Path) -> tuple[Any, str, list]:
    """Try each exporter in turn; keep the first whose graph checks and matches PyTorch on the probe.
    Returns the model, the exporter's name and ONNX Runtime's outputs on the probe frames."""
    import onnx

    b = cfg.batch or 2  # 2 (and 2 maps): no 0/1 special case
    regions = _probe_regions(probe.height, probe.width, b, maps=2) if graph.regions else None
    example = _inputs(graph.spec, _probe_frames(probe.height, probe.width, b), regions)
    failures = []
    for name, export in EXPORTERS.items():
        path = workdir / f"{name}.onnx"
        try:
            # The exporters print progress and deprecation chatter; a failure is reported below instead.
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                export(graph, example, path, cfg.opset, cfg.batch is None)
            model = onnx.load(str(path))
            _declare_io(model, graph, probe, cfg.batch)
            model = _check(model)
            outputs = probe.run(model)
        except Exception as exc:  # any exporter failure means: try the next exporter
            first_line = str(exc).splitlines()[0][:300] if str(exc) else ""
            failures.append(f"{name}: {type(exc).__name__}: {first_line}")
            continue
        error = _max_rel_error(outputs, probe.reference)
        if error > PROBE_TOLERANCE:
            failures.append(f"{name}: outputs differ from PyTorch by {error:.3g} (relative)")
            continue
        return model, name, outputs
    raise ContractError("no exporter produced a correct ONNX graph:\n  " + "\n  ".join(failures))


def _simplify(model: Any, probe: _Probe, outputs: list, batch: int | None) -> Any:
    """onnxslim's simplification, kept only when the probe's outputs are unchanged."""
    import onnxslim

    try:
        slim = onnxslim.slim(model)
    except Exception as exc:  # a simplifier failure costs only the simplification
        log.warning("onnxslim could not simplify the graph (%s); keeping it as exported", exc)
        return model
    slim = _check(slim)
    if _max_rel_error(probe.run(slim), outputs) > SLIM_TOLERANCE:
        log.warning("onnxslim changed the outputs; keeping the graph as exported")
        return model
    _require_symbolic_batch(slim, batch)
    return slim


def _require_symbolic_batch(model: Any, batch: int | None) -> None:
    """Every input and output keeps dim 0 symbolic (dynamic) or equal to the fixed batch."""
    for value in [*model.graph.input, *model.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        ok = dim.dim_param == BATCH_AXIS if batch is None else dim.dim_value == batch
        if not ok:
            raise ContractError(
                f"the exported graph's {value.name!r} has batch dim {dim.dim_param or dim.dim_value}, "
                f"expected {BATCH_AXIS if batch is None else batch}"
            )


def _provenance(graph: AuditGraph) -> dict[str, Any]:
    """Provenance read off the networks themselves, for a graph not built by `graph_from_config`."""
    from depthmask.nets.provenance import provenance_of

    depth = provenance_of(graph.depth_net).to_dict() if graph.depth_net is not None else None
    return {"depth_net": depth, "mask_net": provenance_of(graph.mask_net).to_dict()}


def save_onnx(model: Any, path: Path) -> Path:
    """Write the model; weights go to `<name>.data` beside it when the file would pass protobuf's 2 GB."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    external = model.ByteSize() > PROTOBUF_LIMIT
    data = path.with_name(path.name + ".data")
    data.unlink(missing_ok=True)
    if external:  # saving moves the weights out of the proto in place: keep the caller's model whole
        whole, model = model, onnx.ModelProto()
        model.CopyFrom(whole)
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=external,
        all_tensors_to_one_file=True,
        location=data.name if external else None,
        size_threshold=1024,
    )
    return path


def onnx_from_graph(graph: AuditGraph, path: str | Path, cfg: ExportConfig) -> Path:
    """Export `graph` to `path` in fp32: dynamic batch unless `cfg.batch`, checked, simplified, with
    metadata."""
    path = Path(path)
    height, width = graph.input_size or (cfg.height, cfg.width)
    if height is None or width is None:
        raise ConfigError("the frames' size is unknown: set height and width in the export config")
    if cfg.regions is not None and not graph.regions:
        raise ConfigError("--regions: the graph was built without region maps; build it with regions=True")
    max_regions = (cfg.max_regions or DEFAULT_REGION_BOXES + 1) if graph.regions else None
    probe = _Probe(graph, height, width, cfg.batch)
    with tempfile.TemporaryDirectory(prefix="depthmask-export-") as tmp:
        model, exporter, outputs = _export(graph, cfg, probe, Path(tmp))
    if cfg.simplify:
        model = _simplify(model, probe, outputs, cfg.batch)
    _require_symbolic_batch(model, cfg.batch)
    provenance = graph.provenance or _provenance(graph)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    meta = build_metadata(
        mode=graph.mode,
        height=height,
        width=width,
        channel_order=graph.channel_order,
        batch=cfg.batch,
        depth_size=probe.depth_size,
        depth_net=provenance["depth_net"],
        mask_net=provenance["mask_net"],
        epsilon=graph.epsilon,
        far_fraction=graph.far_fraction,
        opset=opset,
        precision="fp32",
        gflop_per_frame=probe.gflop_per_frame,
        exporter=exporter,
        export_config=cfg.to_dict(),
        max_regions=max_regions,
        curve_keeps=graph.spec.curve_keeps,
    )
    set_onnx_metadata(model, meta, artefact=path)
    model.producer_name, model.doc_string = "depthmask", f"depthmask fused graph, mode {graph.mode}"
    return save_onnx(model, path)


def onnx_from_checkpoint(cfg: ExportConfig, path: str | Path | None = None) -> Path:
    """`graph_from_config` then `onnx_from_graph`: the fp32 ONNX file of the configured networks."""
    graph = graph_from_config(cfg)
    return onnx_from_graph(graph, path or default_output(cfg, graph, "onnx"), cfg)


def default_output(cfg: ExportConfig, graph: AuditGraph | None, suffix: str) -> Path:
    """`<depth net>-<mode>[-<precision>].<suffix>`, e.g. resnet50-audit.onnx (the configured output wins)."""
    if cfg.output is not None:
        return cfg.output.with_suffix(f".{suffix}")
    name = None
    if graph is not None and graph.provenance:
        record = graph.provenance["depth_net"] or graph.provenance["mask_net"]
        name = record["name"]
    name = (name or cfg.depth_net or "model").split(":")[-1].removeprefix("hu2019_")
    precision = "" if cfg.precision == "fp32" else f"-{cfg.precision}"
    return Path(f"{name}-{cfg.mode}{precision}.{suffix}")
