"""`depthmask info FILE`: what an artefact is and what it says about itself, without building it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from depthmask.errors import CheckpointError, require


def describe(path: str | Path) -> dict[str, Any]:
    """A flat description of a depthmask checkpoint or an authors' released file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} does not exist or is not a file")
    with open(path, "rb") as f:
        head = f.read(16)
    base: dict[str, Any] = {"file": str(path), "size_mb": round(path.stat().st_size / 2**20, 2)}
    if _looks_like_safetensors(head):
        return {**base, **_describe_safetensors(path)}
    return {**base, **_describe_torch_file(path)}


def _looks_like_safetensors(head: bytes) -> bool:
    # safetensors: 8-byte little-endian header length, then a JSON object.
    return len(head) > 9 and head[8:9] == b"{"


def _describe_safetensors(path: Path) -> dict[str, Any]:
    require("safetensors", "train", "reading a .safetensors checkpoint")
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    params = sum(
        math.prod(s)
        for k, s in shapes.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    out: dict[str, Any] = {"kind": "safetensors weights", "tensors": len(shapes), "parameters": params}
    if "depthmask" in meta:
        config = json.loads(meta["depthmask"])
        out["kind"] = "depthmask checkpoint"
        out.update(config)
    return out


def _describe_torch_file(path: Path) -> dict[str, Any]:
    require("torch", "train", "reading a PyTorch checkpoint")
    from depthmask.train.authors import detect_network, read_authors_file

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
