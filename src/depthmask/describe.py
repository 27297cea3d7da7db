"""`depthmask info FILE`: what an artefact is and what it says about itself, without building it.

Nothing is built and nothing a file names is imported: a checkpoint naming `module:factory` code is
described, with a note that depthmask runs that code only when the user names it. A damaged or foreign
file is one CheckpointError naming it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from depthmask.errors import CheckpointError, require

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def describe(path: str | Path) -> dict[str, Any]:
    """A flat description of an exported model (.onnx, or an engine with its sidecar; no torch needed),
    a depthmask checkpoint, a safetensors state dict or an authors' released file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} does not exist or is not a file")
    base: dict[str, Any] = {"file": str(path), "size_mb": round(path.stat().st_size / 2**20, 2)}
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        found = _describe_onnx(path)
    elif suffix in ENGINE_SUFFIXES:
        found = _describe_engine(path)
    else:
        require("torch", "train", "reading a checkpoint")
        from depthmask.nets.checkpoint import checkpoint_kind

        found = (
            _describe_torch_file(path) if checkpoint_kind(path) == "torch" else _describe_safetensors(path)
        )
    return {**base, **{k: v for k, v in found.items() if k not in base}}  # a config cannot hide the file


def _describe_onnx(path: Path) -> dict[str, Any]:
    """Inputs and outputs as ONNX Runtime loads them, and the metadata the file carries (like
    `polygraphy inspect model`), torch-free."""
    import onnxruntime as ort

    from depthmask.contract.metadata import from_props

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's own exception types for files that are not ONNX
        raise CheckpointError(f"{path} could not be loaded by ONNX Runtime: {exc}") from None
    meta = from_props(dict(session.get_modelmeta().custom_metadata_map))
    out: dict[str, Any] = {
        "kind": "ONNX model",
        "inputs": "; ".join(f"{i.name} {i.type} {i.shape}" for i in session.get_inputs()),
        "outputs": "; ".join(f"{o.name} {o.type} {o.shape}" for o in session.get_outputs()),
    }
    return {**out, **_metadata_fields(meta, path, engine=False)}


def _describe_engine(path: Path) -> dict[str, Any]:
    """An engine is described from its sidecar: TensorRT is not needed (nor a GPU) to say what it is."""
    from depthmask.contract.sidecar import read_sidecar, sidecar_path

    meta = read_sidecar(path)
    out: dict[str, Any] = {"kind": "TensorRT engine", "sidecar": sidecar_path(path).name}
    for key in ("tensorrt_version", "gpu", "batch_profile", "builder_flags"):
        if key in meta:
            out[key] = meta[key]
    return {**out, **_metadata_fields(meta, path, engine=True)}


def _metadata_fields(meta: dict[str, Any], path: Path, *, engine: bool) -> dict[str, Any]:
    """The metadata's main fields, and whether the runtime would accept it (the one validator says)."""
    from depthmask.contract.metadata import validate_metadata
    from depthmask.errors import ContractError

    try:
        validate_metadata(meta, path, engine=engine)
        verdict = "valid: `depthmask run` and `check` accept it"
    except ContractError as exc:
        verdict = f"refused by the runtime: {exc}"
    inp = meta.get("input") if isinstance(meta.get("input"), dict) else {}
    fields: dict[str, Any] = {
        "metadata": verdict,
        "mode": meta.get("mode"),
        "precision": meta.get("precision"),
        "input size (H×W)": f"{inp.get('height')}×{inp.get('width')}" if inp else None,
        "channel order": inp.get("channel_order"),
        "depth net": meta.get("depth_net"),
        "mask net": meta.get("mask_net"),
        "lambda": meta.get("lambda"),
        "epsilon": meta.get("epsilon"),
        "stats columns": ", ".join(map(str, meta.get("stats_columns") or [])) or None,
        "opset": meta.get("opset"),
        "gflop per frame": meta.get("gflop_per_frame"),
        "exporter": meta.get("exporter"),
        "depthmask version": meta.get("depthmask_version"),
        "created": meta.get("created"),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _describe_safetensors(path: Path) -> dict[str, Any]:
    from depthmask.nets.checkpoint import read_config, read_header
    from depthmask.nets.models.byo import is_factory_spec

    header = read_header(path)  # shapes from the checked header: no tensor is read
    shapes = {k: v["shape"] for k, v in header.items() if k != "__metadata__"}
    params = sum(
        math.prod(s)
        for k, s in shapes.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    out: dict[str, Any] = {"kind": "safetensors weights", "tensors": len(shapes), "parameters": params}
    if "depthmask" in header.get("__metadata__", {}):
        config = read_config(path)
        out["kind"] = "depthmask checkpoint"
        out.update({k: v for k, v in config.items() if k not in out})  # what was counted stays as counted
        if is_factory_spec(config["network"]):
            out["network_note"] = (
                "module:factory code, not registered; depthmask imports it only when you name it yourself "
                f"(--depth-net {config['network']})"
            )
    return out


def _describe_torch_file(path: Path) -> dict[str, Any]:
    from depthmask.nets.authors import detect_network, read_authors_file

    state = read_authors_file(path)
    params = sum(
        v.numel()
        for k, v in state.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    try:
        network = detect_network(state)
    except CheckpointError:
        network = "unknown (name it with --depth-net / --mask-net)"
    return {
        "kind": "PyTorch state dict (authors' layout)",
        "network": network,
        "tensors": len(state),
        "parameters": params,
    }
