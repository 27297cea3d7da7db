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


def describe(path: str | Path) -> dict[str, Any]:
    """A flat description of a depthmask checkpoint, a safetensors state dict or an authors' released file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{str(path)!r} does not exist or is not a file")
    require("torch", "train", "reading a checkpoint")
    from depthmask.nets.checkpoint import checkpoint_kind

    base: dict[str, Any] = {"file": str(path), "size_mb": round(path.stat().st_size / 2**20, 2)}
    found = _describe_torch_file(path) if checkpoint_kind(path) == "torch" else _describe_safetensors(path)
    return {**base, **{k: v for k, v in found.items() if k not in base}}  # a config cannot hide the file


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
