"""Model metadata (contracts §2): built at export, written into ONNX `metadata_props` (or an engine's
sidecar, `depthmask.contract.sidecar`), read back, and validated against the artefact and its frames.

Torch-free. ONNX values are strings: nested values are stored as JSON and decoded on reading. The one
validator, `validate_metadata`, is total: any value at all either passes or raises one ContractError that
names the file, each key, the value found and what was expected. `depthmask check`, `depthmask run` and
every backend refuse through it, so they refuse the same artefacts.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from depthmask import __version__
from depthmask.contract.constants import DEPTH_UNITS, IMAGENET_MEAN, IMAGENET_STD
from depthmask.contract.spec import (
    BATCH_AXIS,
    CHANNEL_ORDERS,
    CURVE_COLUMNS,
    CURVE_METHODS,
    INPUT_NAME,
    MODES,
    PRECISIONS,
    REGION_AXIS,
    REGIONS_NAME,
    check_keeps,
    graph_spec,
)
from depthmask.errors import ConfigError, ContractError, shown

FORMAT_VERSION = 1
MAX_SIDE = 16384  # no depth net takes a side longer than this; larger is a corrupt or hostile value
MAX_REGIONS = 256  # region maps per frame an export may plan for (each costs a frame-sized float map)
REQUIRED_KEYS = (
    "format_version",
    "depthmask_version",
    "mode",
    "depth_net",
    "mask_net",
    "input",
    "normalization",
    "outputs",
    "stats_columns",
    "depth_units",
    "epsilon",
    "lambda",
    "checkpoints",
    "opset",
    "precision",
    "gflop_per_frame",
    "created",
)
# What an in-memory graph has too (the torch backend on a graph built on the fly has no file fields).
GRAPH_KEYS = ("format_version", "mode", "input", "outputs", "stats_columns", "depth_units", "epsilon")
ENGINE_KEYS = ("tensorrt_version", "gpu", "batch_profile")


def build_metadata(
    *,
    mode: str,
    height: int,
    width: int,
    channel_order: str,
    batch: int | None,
    depth_size: tuple[int, int],
    depth_net: Mapping[str, Any] | None,
    mask_net: Mapping[str, Any],
    epsilon: float,
    far_fraction: float,
    opset: int,
    precision: str,
    gflop_per_frame: float,
    exporter: str,
    export_config: Mapping[str, Any] | None = None,
    max_regions: int | None = None,
    curve_keeps: tuple[float, ...] = (),
) -> dict[str, Any]:
    """The metadata dict of one exported graph. `depth_net`/`mask_net` are `Provenance.to_dict()`s;
    `max_regions` (maps per frame, the frame's own included) declares the `regions` input, `curve_keeps`
    the `curve` output."""
    spec = graph_spec(mode, regions=max_regions is not None, curve=tuple(curve_keeps))
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "depthmask_version": __version__,
        "mode": mode,
        "depth_net": depth_net["name"] if depth_net else None,
        "mask_net": mask_net["name"],
        "input": {
            "name": INPUT_NAME,
            "height": int(height),
            "width": int(width),
            "channel_order": channel_order,
            "dtype": "uint8",
            "layout": "NHWC",
            "batch": BATCH_AXIS if batch is None else int(batch),
        },
        "normalization": {
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "scale": 1 / 255,
            "space": "rgb",
        },
        "outputs": [
            {"name": name, "shape": shape, "dtype": "float32"}
            for name, shape in spec.output_shapes(height, width, depth_size, batch).items()
        ],
        "stats_columns": list(spec.stats_columns),
        "depth_units": DEPTH_UNITS,
        "epsilon": float(epsilon),
        "far_fraction": float(far_fraction),
        "lambda": mask_net.get("lambda"),
        "checkpoints": {"depth_net": dict(depth_net) if depth_net else None, "mask_net": dict(mask_net)},
        "opset": int(opset),
        "precision": precision,
        "gflop_per_frame": round(float(gflop_per_frame), 4),
        "exporter": exporter,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "export_config": dict(export_config) if export_config else None,
    }
    if max_regions is not None:
        meta["regions"] = region_input(max_regions)
        meta["region_columns"] = list(spec.region_columns)
    if spec.curve_keeps:
        meta["curve"] = {
            "keeps": list(spec.curve_keeps),
            "methods": list(CURVE_METHODS),
            "columns": list(CURVE_COLUMNS),
        }
    return meta


def region_input(max_regions: int) -> dict[str, Any]:
    """The metadata's declaration of the `regions` input (map 0: the frame's content; 1…: boxes)."""
    return {"name": REGIONS_NAME, "dtype": "float32", "layout": "NRHW", "max": int(max_regions)}


def has_regions(meta: Mapping[str, Any]) -> bool:
    """Whether (validated) metadata declares the `regions` input."""
    return isinstance(meta.get("regions"), Mapping)


def curve_keeps(meta: Mapping[str, Any]) -> tuple[float, ...]:
    """The kept shares of (validated) metadata's `curve` output; () when it has none."""
    curve = meta.get("curve")
    return tuple(float(k) for k in curve["keeps"]) if isinstance(curve, Mapping) else ()


def graph_spec_of(meta: Mapping[str, Any]) -> Any:
    """The GraphSpec (validated) metadata declares: mode, region input, curve output."""
    return graph_spec(meta["mode"], regions=has_regions(meta), curve=curve_keeps(meta))


# --- ONNX metadata_props -------------------------------------------------------------------------


def to_props(meta: Mapping[str, Any]) -> dict[str, str]:
    """Values as strings: plain strings stay as they are, everything else is JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def from_props(props: Mapping[str, str]) -> dict[str, Any]:
    """Inverse of `to_props`: JSON values decoded, other strings kept."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        try:
            out[key] = json.loads(value)
        except (json.JSONDecodeError, TypeError, ValueError, RecursionError):
            out[key] = value
    return out


EXPORT_CONFIG_PATHS = ("checkpoint_n", "checkpoint_g", "output", "calibration")


def portable_metadata(
    meta: Mapping[str, Any], artefact: str | Path, source: str | Path | None = None
) -> dict[str, Any]:
    """`meta` with every file path it records made relative to the artefact's folder, so no machine's
    absolute path travels with a model (the rebuild resolves them against the artefact's folder again).
    `source` is the artefact `meta` was read from (its relative paths start there); a value that is not
    an existing path (a source string such as `synthetic:`) is kept as it is."""
    folder = Path(artefact).resolve().parent
    origin = Path(source).resolve().parent if source is not None else None

    def relative(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = recorded_path(value, origin) if origin is not None else Path(value)
        try:
            if not path.exists():
                return value
        except (OSError, ValueError):  # a name too long, a NUL byte: not a file, kept as it is
            return value
        return Path(os.path.relpath(path.resolve(), folder)).as_posix()

    out = dict(meta)
    if isinstance(out.get("checkpoints"), Mapping):
        out["checkpoints"] = {
            role: {**record, "checkpoint": relative(record.get("checkpoint"))}
            if isinstance(record, Mapping)
            else record
            for role, record in out["checkpoints"].items()
        }
    if isinstance(out.get("export_config"), Mapping):
        config = dict(out["export_config"])
        for key in EXPORT_CONFIG_PATHS:
            if key in config:
                config[key] = relative(config[key])
        out["export_config"] = config
    return out


def recorded_path(value: str, artefact_folder: Path | None) -> Path:
    """A path read from metadata: relative ones are relative to the artefact's folder."""
    path = Path(value)
    return path if path.is_absolute() or artefact_folder is None else artefact_folder / path


def set_onnx_metadata(
    model: Any, meta: Mapping[str, Any], artefact: str | Path | None = None, source: str | Path | None = None
) -> None:
    """Replace `model.metadata_props` (an onnx.ModelProto) by `meta`; with `artefact` (where the model is
    written), its recorded paths are made relative to that file's folder (see `portable_metadata`)."""
    if artefact is not None:
        meta = portable_metadata(meta, artefact, source)
    del model.metadata_props[:]
    for key, value in to_props(meta).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def onnx_metadata(model: Any) -> dict[str, Any]:
    """The decoded metadata of an onnx.ModelProto."""
    return from_props({p.key: p.value for p in model.metadata_props})


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of an .onnx file (weights are not loaded), not yet validated."""
    return onnx_metadata(_load_onnx(Path(path)))


def _load_onnx(path: Path) -> Any:
    """The ModelProto without its weights' external data."""
    import onnx

    if not path.is_file():
        raise ContractError(f"model {str(path)!r} does not exist; export one with `depthmask export`")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for non-ONNX files
        raise ContractError(f"{path} is not an ONNX model ({exc})") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of an artefact by its suffix, validated: an .onnx file's own (and checked against the
    graph's inputs and outputs), an engine's from its sidecar."""
    from depthmask.contract.sidecar import read_sidecar

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        meta = read_sidecar(path)
        validate_metadata(meta, path)
        return meta
    import onnx

    model = _load_onnx(path)
    meta = onnx_metadata(model)
    validate_metadata(meta, path)

    def dims(value: Any) -> list[Any]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    def dtype(value: Any) -> str:
        try:
            return onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name
        except (KeyError, ValueError, TypeError):  # not a tensor, or an undefined element type
            return "undefined"

    initializers = {t.name for t in model.graph.initializer}  # listed as inputs by IR < 4 models
    inputs = [(i.name, dtype(i), dims(i)) for i in model.graph.input if i.name not in initializers]
    check_io(meta, path, inputs=inputs, outputs=[o.name for o in model.graph.output])
    return meta


# --- validation ----------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond float range (JSON allows any number of digits)
        return False


def _positive_side(v: Any) -> bool:
    return _is_int(v) and 0 < v <= MAX_SIDE


class _Problems:
    """Collects `key value (expected …)` phrases, so one error lists everything that differs."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def want(self, ok: bool, key: str, value: Any, expected: str) -> bool:
        if not ok:
            self.items.append(f"{key} = {shown(value)} (expected {expected})")
        return ok


def validate_metadata(
    meta: Any, source: str | Path, *, engine: bool | None = None, artefact: bool = True
) -> None:
    """Refuse metadata that is missing keys, has values of the wrong type or disagrees with itself.

    `engine` (default: by the file's suffix) also requires the TensorRT sidecar keys; `artefact=False`
    checks only what an in-memory graph has (no opset, checkpoints or creation time). The message names
    the file, and for each key the value found and what was expected.
    """
    if not isinstance(meta, Mapping):
        raise ContractError(
            f"{source}: depthmask metadata must be a JSON object, found {type(meta).__name__}; re-export it"
        )
    engine = Path(str(source)).suffix.lower() != ".onnx" if engine is None else engine
    required = (REQUIRED_KEYS if artefact else GRAPH_KEYS) + (ENGINE_KEYS if engine and artefact else ())
    missing = [k for k in required if k not in meta]
    if missing:
        raise ContractError(
            f"{source}: depthmask metadata is missing {', '.join(missing)}; was it exported by "
            "`depthmask export` (of this version)? Re-export it."
        )
    p = _Problems()
    if not p.want(
        _is_int(meta["format_version"]) and meta["format_version"] == FORMAT_VERSION,
        "format_version", meta["format_version"], f"{FORMAT_VERSION}, the format this depthmask reads",
    ):  # fmt: skip
        _raise(source, p)  # another format: the rest cannot be read by these rules
    mode = meta["mode"]
    if not p.want(isinstance(mode, str) and mode in MODES, "mode", mode, f"one of {', '.join(MODES)}"):
        _raise(source, p)
    regions = meta.get("regions")
    if not p.want(
        regions is None or (
            isinstance(regions, Mapping) and regions.get("name") == REGIONS_NAME
            and regions.get("dtype") == "float32" and regions.get("layout") == "NRHW"
            and _is_int(regions.get("max")) and 1 <= regions["max"] <= MAX_REGIONS and mode == "audit"
        ),
        "regions", regions,
        f"absent, null or {{name: {REGIONS_NAME!r}, dtype: 'float32', layout: 'NRHW', max: 1…{MAX_REGIONS}}} "
        "(mode audit only)",
    ):  # fmt: skip
        _raise(source, p)
    curve = meta.get("curve")
    keeps: tuple[float, ...] = ()
    if curve is not None:
        try:
            keeps = check_keeps(curve.get("keeps") if isinstance(curve, Mapping) else None)
        except ConfigError:
            keeps = ()
        if not p.want(
            bool(keeps) and mode == "audit" and curve.get("methods") == list(CURVE_METHODS)
            and curve.get("columns") == list(CURVE_COLUMNS),
            "curve", curve,
            f"absent, null or {{keeps: [shares in (0, 1], increasing], methods: {list(CURVE_METHODS)}, "
            f"columns: {list(CURVE_COLUMNS)}}} (mode audit only)",
        ):  # fmt: skip
            _raise(source, p)
    spec = graph_spec(mode, regions=regions is not None, curve=keeps)
    if spec.regions:
        p.want(
            meta.get("region_columns") == list(spec.region_columns),
            "region_columns", meta.get("region_columns"), f"{list(spec.region_columns)}, in this order",
        )  # fmt: skip
    inp = meta["input"]
    batch: Any = None
    size_ok = False
    if p.want(isinstance(inp, Mapping), "input", inp, "an object with name, height, width, …"):
        p.want(inp.get("name", INPUT_NAME) == INPUT_NAME, "input.name", inp.get("name"), repr(INPUT_NAME))
        p.want(inp.get("dtype") == "uint8", "input.dtype", inp.get("dtype"), "'uint8'")
        p.want(inp.get("layout", "NHWC") == "NHWC", "input.layout", inp.get("layout"), "'NHWC'")
        p.want(
            inp.get("channel_order") in CHANNEL_ORDERS,
            "input.channel_order", inp.get("channel_order"), f"one of {', '.join(CHANNEL_ORDERS)}",
        )  # fmt: skip
        size_ok = all(
            p.want(_positive_side(inp.get(k)), f"input.{k}", inp.get(k), f"an int in 1…{MAX_SIDE}")
            for k in ("height", "width")
        )
        batch = inp.get("batch", BATCH_AXIS)
        p.want(
            batch == BATCH_AXIS or (_is_int(batch) and batch >= 1),
            "input.batch", batch, f"{BATCH_AXIS!r} (dynamic) or a positive int",
        )  # fmt: skip
    columns = meta["stats_columns"]
    p.want(
        isinstance(columns, list) and columns == list(spec.stats_columns),
        "stats_columns", columns, f"{list(spec.stats_columns)} for mode {mode!r}, in this order",
    )  # fmt: skip
    _check_outputs(p, meta["outputs"], spec, inp if size_ok else None, batch)
    p.want(meta["depth_units"] == DEPTH_UNITS, "depth_units", meta["depth_units"], repr(DEPTH_UNITS))
    eps = meta["epsilon"]
    p.want(_is_number(eps) and 0 <= eps < 1, "epsilon", eps, "a number in [0, 1)")
    if "far_fraction" in meta:
        far = meta["far_fraction"]
        p.want(_is_number(far) and 0 < far <= 1, "far_fraction", far, "a number in (0, 1]")
    if artefact:
        _check_file_fields(p, meta, mode)
        if engine:
            _check_engine_fields(p, meta, batch)
    if p.items:
        _raise(source, p)


def _check_outputs(p: _Problems, outputs: Any, spec: Any, inp: Mapping[str, Any] | None, batch: Any) -> None:
    if not p.want(
        isinstance(outputs, list) and all(isinstance(o, Mapping) for o in outputs),
        "outputs", outputs, "a list of {name, shape, dtype} objects",
    ):  # fmt: skip
        return
    names = [o.get("name") for o in outputs]
    if not p.want(names == list(spec.outputs), "outputs[].name", names, f"{list(spec.outputs)}"):
        return
    depth_shape: list[Any] | None = None
    for o in outputs:
        name, shape = o["name"], o.get("shape")
        key = f"outputs.{name}.shape"
        p.want(o.get("dtype", "float32") == "float32", f"outputs.{name}.dtype", o.get("dtype"), "'float32'")
        if name == "stats":
            want = [batch, len(spec.stats_columns)]
            p.want(shape == want, key, shape, f"{want} (one column per stats_columns entry)")
            continue
        if name == "curve":
            want = [batch, len(CURVE_METHODS), len(spec.curve_keeps), len(CURVE_COLUMNS)]
            p.want(shape == want, key, shape, f"{want} (methods × kept shares × columns)")
            continue
        if name == "region_stats":
            want = [batch, REGION_AXIS, len(spec.region_columns)]
            p.want(shape == want, key, shape, f"{want} (one row per map, a column per region_columns entry)")
            continue
        if not p.want(
            isinstance(shape, list) and len(shape) == 4 and shape[0] == batch and shape[1] == 1,
            key, shape, f"[{batch!r}, 1, h, w]",
        ):  # fmt: skip
            continue
        if name == "mask" and inp is not None:
            want = [batch, 1, inp["height"], inp["width"]]
            p.want(shape == want, key, shape, f"{want}, the input's size")
        elif name in ("depth", "depth_masked") and p.want(
            all(_positive_side(d) for d in shape[2:]), key, shape, "positive h and w"
        ):
            if depth_shape is not None:
                p.want(shape == depth_shape, key, shape, f"{depth_shape}, the same as depth")
            depth_shape = shape


def _check_file_fields(p: _Problems, meta: Mapping[str, Any], mode: str) -> None:
    for key in ("depthmask_version", "created"):
        p.want(isinstance(meta[key], str), key, meta[key], "a string")
    p.want(
        isinstance(meta["mask_net"], str) and bool(meta["mask_net"]), "mask_net", meta["mask_net"], "a name"
    )
    needs_n = mode != "mask"
    p.want(
        (isinstance(meta["depth_net"], str) and bool(meta["depth_net"])) if needs_n else meta["depth_net"]
        is None or isinstance(meta["depth_net"], str),
        "depth_net", meta["depth_net"], "a name" if needs_n else "a name or null",
    )  # fmt: skip
    norm = meta["normalization"]
    if p.want(isinstance(norm, Mapping), "normalization", norm, "an object with mean and std"):
        for key, want in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
            value = norm.get(key)
            p.want(
                isinstance(value, list) and len(value) == 3 and all(_is_number(v) for v in value)
                and all(abs(v - w) < 1e-6 for v, w in zip(value, want, strict=True)),
                f"normalization.{key}", value, f"{list(want)} (ImageNet, RGB; the graph applies these)",
            )  # fmt: skip
    lam = meta["lambda"]
    p.want(lam is None or (_is_number(lam) and lam >= 0), "lambda", lam, "null or a number ≥ 0")
    ckpt = meta["checkpoints"]
    if p.want(isinstance(ckpt, Mapping), "checkpoints", ckpt, "an object with depth_net and mask_net"):
        for role in ("depth_net", "mask_net"):
            record = ckpt.get(role)
            optional = role == "depth_net" and mode == "mask"
            ok = (record is None and optional) or (
                isinstance(record, Mapping) and isinstance(record.get("name"), str)
                and all(isinstance(record.get(k), (str, type(None))) for k in ("checkpoint", "sha256"))
                and (record.get("random_seed") is None or _is_int(record.get("random_seed")))
            )  # fmt: skip
            p.want(ok, f"checkpoints.{role}", record, "a record with name, checkpoint, sha256, random_seed")
    opset = meta["opset"]
    p.want(_is_int(opset) and 7 <= opset <= 99, "opset", opset, "an ONNX opset number")
    prec = meta["precision"]
    p.want(prec in PRECISIONS, "precision", prec, f"one of {', '.join(PRECISIONS)}")
    gflop = meta["gflop_per_frame"]
    p.want(_is_number(gflop) and gflop >= 0, "gflop_per_frame", gflop, "a number ≥ 0")


def _check_engine_fields(p: _Problems, meta: Mapping[str, Any], batch: Any) -> None:
    for key in ("tensorrt_version", "gpu"):
        p.want(isinstance(meta[key], str) and bool(meta[key]), key, meta[key], "a non-empty string")
    prof = meta["batch_profile"]
    ok = isinstance(prof, Mapping) and all(_is_int(prof.get(k)) for k in ("min", "opt", "max"))
    ok = ok and 1 <= prof["min"] <= prof["opt"] <= prof["max"]
    p.want(ok, "batch_profile", prof, "{min, opt, max} with 1 ≤ min ≤ opt ≤ max")


def _raise(source: str | Path, p: _Problems) -> None:
    raise ContractError(f"{source}: depthmask metadata refused: {'; '.join(p.items)}. Re-export the model.")


def check_io(
    meta: Mapping[str, Any],
    source: str | Path,
    *,
    inputs: list[tuple[str, str, list[Any]]],
    outputs: list[str],
) -> None:
    """The graph's actual I/O against its (validated) metadata: a uint8 input [batch, H, W, 3] (and the
    float32 `regions` [batch, regions, H, W] where declared), the declared outputs. `inputs` lists (name,
    dtype, shape) as the graph declares them (dims as ints or symbolic strings)."""
    inp = meta["input"]
    spec = graph_spec_of(meta)
    batch = inp.get("batch", BATCH_AXIS)
    declared_inputs = spec.input_shapes(inp["height"], inp["width"], batch if _is_int(batch) else None)
    dtypes = {INPUT_NAME: "uint8", REGIONS_NAME: "float32"}
    if [i[0] for i in inputs] != list(declared_inputs):
        raise ContractError(
            f"{source}: expected inputs {list(declared_inputs)}; the graph has {[i[0] for i in inputs]}. "
            "The metadata belongs to another model: re-export it."
        )
    for (name, dtype, shape), want_shape in zip(inputs, declared_inputs.values(), strict=True):
        dtype = {"float": "float32"}.get(dtype, dtype)  # ONNX Runtime's name for it
        fixed = [d if isinstance(d, int) and d > 0 else "?" for d in shape]
        want = [d if isinstance(d, int) else "?" for d in want_shape]
        if dtype != dtypes[name] or fixed != want:
            raise ContractError(
                f"{source}: metadata declares input {name!r} {dtypes[name]} {want_shape}; the graph has "
                f"{name!r} {dtype} {shape}. The metadata belongs to another model: re-export it."
            )
    declared = [o["name"] for o in meta["outputs"]]
    if declared != list(outputs):
        raise ContractError(
            f"{source}: metadata lists outputs {declared} but the graph has {list(outputs)}; re-export it"
        )


def check_frames(meta: Mapping[str, Any], frames: np.ndarray, source: str | Path) -> None:
    """Refuse a frame batch the model cannot take, naming the expected and the actual batch."""
    inp = meta["input"]
    h, w = inp["height"], inp["width"]
    batch = inp.get("batch")
    ok = (
        isinstance(frames, np.ndarray)
        and frames.dtype == np.uint8
        and frames.ndim == 4
        and tuple(frames.shape[1:]) == (h, w, 3)
        and (not isinstance(batch, int) or frames.shape[0] <= batch)
    )
    if not ok:
        got = (
            f"{frames.dtype} {list(frames.shape)}"
            if isinstance(frames, np.ndarray)
            else type(frames).__name__
        )
        want_b = batch if isinstance(batch, int) else "batch"
        raise ContractError(
            f"{source} takes uint8 frames [{want_b}, {h}, {w}, 3] "
            f"({inp.get('channel_order', 'bgr').upper()}); "
            f"got {got}. Resize frames to {w}×{h} (width×height), or export the model at the frames' size."
        )
