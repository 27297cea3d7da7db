"""Model metadata (contracts §2): built at export, written into ONNX `metadata_props` or an engine's JSON
sidecar `<engine>.json`, read back, and validated against the artefact and the frames it is given.

Torch-free. ONNX values are strings: nested values are stored as JSON and decoded on reading.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from depthmask import __version__
from depthmask.errors import ContractError
from depthmask.export.spec import (
    BATCH_AXIS,
    CHANNEL_ORDERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INPUT_NAME,
    MODES,
    graph_spec,
)

FORMAT_VERSION = 1
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
) -> dict[str, Any]:
    """The metadata dict of one exported graph. `depth_net`/`mask_net` are `Provenance.to_dict()`s."""
    spec = graph_spec(mode)
    return {
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
        "depth_units": "m",
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


def engine_metadata(
    meta: Mapping[str, Any],
    *,
    tensorrt_version: str,
    gpu: str,
    batch_profile: tuple[int, int, int],
    precision: str,
    builder_flags: list[str],
) -> dict[str, Any]:
    """An engine's sidecar: the ONNX metadata it was built from plus TensorRT version, GPU and profile."""
    lo, opt, hi = batch_profile
    return {
        **meta,
        "precision": precision,
        "tensorrt_version": tensorrt_version,
        "gpu": gpu,
        "batch_profile": {"min": lo, "opt": opt, "max": hi},
        "builder_flags": builder_flags,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


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
        except (json.JSONDecodeError, TypeError):
            out[key] = value
    return out


def set_onnx_metadata(model: Any, meta: Mapping[str, Any]) -> None:
    """Replace `model.metadata_props` (an onnx.ModelProto) by `meta`."""
    del model.metadata_props[:]
    for key, value in to_props(meta).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def onnx_metadata(model: Any) -> dict[str, Any]:
    """The decoded metadata of an onnx.ModelProto."""
    return from_props({p.key: p.value for p in model.metadata_props})


def read_onnx_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of an .onnx file (weights are not loaded)."""
    return onnx_metadata(_load_onnx(Path(path)))


def _load_onnx(path: Path) -> Any:
    """The ModelProto without its weights' external data."""
    import onnx

    if not path.is_file():
        raise ContractError(f"model {str(path)!r} does not exist")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for non-ONNX files
        raise ContractError(f"{path} is not an ONNX model ({exc})") from None


# --- engine sidecars -----------------------------------------------------------------------------


def sidecar_path(engine: str | Path) -> Path:
    """`model.engine` → `model.engine.json` (the runtime reads the same name)."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def write_sidecar(engine: str | Path, meta: Mapping[str, Any]) -> Path:
    """Write the engine's metadata beside it; engine bytes stay standard for other TensorRT tools."""
    path = sidecar_path(engine)
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def read_sidecar(engine: str | Path) -> dict[str, Any]:
    """The engine's metadata; ContractError when the sidecar is missing or not JSON."""
    path = sidecar_path(engine)
    if not path.is_file():
        raise ContractError(
            f"{engine} has no metadata sidecar {path.name}; depthmask keeps an engine's metadata beside it. "
            "Copy the .json along with the engine, or rebuild it with `depthmask export --format engine`."
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path} is not valid JSON ({exc}); rebuild the engine") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Metadata of an artefact by its suffix, validated: an .onnx file's own (and checked against the
    graph's inputs and outputs), an engine's from its sidecar."""
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

    inputs = [
        (i.name, onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type).name, dims(i))
        for i in model.graph.input
    ]
    check_io(meta, path, inputs=inputs, outputs=[o.name for o in model.graph.output])
    return meta


# --- validation ----------------------------------------------------------------------------------


def validate_metadata(meta: Mapping[str, Any], source: str | Path, *, engine: bool | None = None) -> None:
    """Refuse metadata that is missing keys or disagrees with itself; the message names what differs."""
    engine = Path(source).suffix.lower() != ".onnx" if engine is None else engine
    required = REQUIRED_KEYS + (ENGINE_KEYS if engine else ())
    missing = [k for k in required if k not in meta]
    if missing:
        raise ContractError(
            f"{source}: depthmask metadata is missing {', '.join(missing)}; was it exported by "
            "`depthmask export` (of this version)? Re-export it."
        )
    if meta["format_version"] != FORMAT_VERSION:
        raise ContractError(
            f"{source}: metadata format_version {meta['format_version']!r}, this depthmask reads "
            f"{FORMAT_VERSION}; re-export with this version"
        )
    if meta["mode"] not in MODES:
        raise ContractError(f"{source}: mode {meta['mode']!r} is not one of {', '.join(MODES)}")
    spec = graph_spec(meta["mode"])
    inp = meta["input"]
    problems = []
    if inp.get("dtype") != "uint8":
        problems.append(f"input dtype {inp.get('dtype')!r} (expected 'uint8')")
    if inp.get("channel_order") not in CHANNEL_ORDERS:
        problems.append(f"channel_order {inp.get('channel_order')!r} (expected one of {CHANNEL_ORDERS})")
    for key in ("height", "width"):
        if not isinstance(inp.get(key), int) or inp[key] <= 0:
            problems.append(f"input {key} {inp.get(key)!r} (expected a positive int)")
    names = [o.get("name") for o in meta["outputs"]]
    if names != list(spec.outputs):
        problems.append(f"outputs {names} (mode {meta['mode']!r} has {list(spec.outputs)})")
    if list(meta["stats_columns"]) != list(spec.stats_columns):
        problems.append(
            f"stats_columns {meta['stats_columns']} (mode {meta['mode']!r}: {list(spec.stats_columns)})"
        )
    for out in meta["outputs"]:
        if out.get("name") == "stats" and out["shape"][1] != len(meta["stats_columns"]):
            problems.append(f"stats has {out['shape'][1]} columns but {len(meta['stats_columns'])} are named")
        if out.get("name") == "mask" and out["shape"][2:] != [inp.get("height"), inp.get("width")]:
            problems.append(
                f"mask shape {out['shape']} does not match the input {inp.get('height')}×{inp.get('width')}"
            )
    if meta["depth_units"] != "m":
        problems.append(f"depth_units {meta['depth_units']!r} (expected 'm')")
    if engine and isinstance(meta.get("batch_profile"), dict):
        p = meta["batch_profile"]
        if not 1 <= p.get("min", 0) <= p.get("opt", 0) <= p.get("max", 0):
            problems.append(f"batch_profile {p} (expected 1 ≤ min ≤ opt ≤ max)")
    if problems:
        raise ContractError(
            f"{source}: inconsistent depthmask metadata: {'; '.join(problems)}. Re-export it."
        )


def check_io(
    meta: Mapping[str, Any],
    source: str | Path,
    *,
    inputs: list[tuple[str, str, list[Any]]],
    outputs: list[str],
) -> None:
    """The graph's actual I/O against its metadata: one uint8 input [batch, H, W, 3], the declared outputs.

    `inputs` lists (name, dtype, shape) as the graph declares them (dims as ints or symbolic strings).
    """
    inp = meta["input"]
    want_shape = [inp["batch"], inp["height"], inp["width"], 3]
    if len(inputs) != 1:
        raise ContractError(
            f"{source}: expected one input {INPUT_NAME!r}; the graph has {[i[0] for i in inputs]}"
        )
    name, dtype, shape = inputs[0]
    fixed = [d if isinstance(d, int) else BATCH_AXIS for d in shape]
    want = [d if isinstance(d, int) else BATCH_AXIS for d in want_shape]
    if name != inp.get("name", INPUT_NAME) or dtype != "uint8" or fixed != want:
        raise ContractError(
            f"{source}: metadata declares input {inp.get('name', INPUT_NAME)!r} uint8 {want}; the graph has "
            f"{name!r} {dtype} {shape}. The metadata belongs to another model: re-export it."
        )
    declared = [o["name"] for o in meta["outputs"]]
    if sorted(declared) != sorted(outputs):
        raise ContractError(f"{source}: metadata lists outputs {declared} but the graph has {outputs}")


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
