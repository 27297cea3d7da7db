"""Our checkpoint format: safetensors weights with the network's JSON config in the file's header.

One file, loaded without unpickling: `config` says how to rebuild the network (registry name or
`module:factory`, overrides, role, input size) and carries provenance (λ, data, commit, metrics).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from depthmask import __version__
from depthmask.errors import CheckpointError

FORMAT = "depthmask-checkpoint/1"
_HEADER_KEY = "depthmask"


def is_depthmask_checkpoint(path: str | Path) -> bool:
    """True when `path` is a safetensors file written by `save_checkpoint`."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return _HEADER_KEY in (f.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return False


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file (weights identity recorded in exported metadata)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> str | None:
    """The commit of the working tree depthmask runs from, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def network_config(model: nn.Module, **extra: Any) -> dict[str, Any]:
    """The config stored beside a model's weights: how to rebuild it plus free-form provenance."""
    name = getattr(model, "depthmask_name", None)
    if name is None:
        raise CheckpointError(
            f"{type(model).__name__} was not built by depthmask.train.models.create_model or "
            "load_network, so its checkpoint could not be rebuilt; build it through them"
        )
    return {
        "format": FORMAT,
        "network": name,
        "kwargs": dict(getattr(model, "depthmask_kwargs", {})),
        "depthmask_version": __version__,
        "commit": git_commit(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def save_checkpoint(model: nn.Module, path: str | Path, **extra: Any) -> Path:
    """Write weights + config atomically (temp file, then rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = network_config(model, **extra)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(state, str(tmp), metadata={_HEADER_KEY: json.dumps(config, default=str)})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON config of a depthmask checkpoint, read from the header alone (no weights loaded)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a safetensors file ({exc})") from None
    if _HEADER_KEY not in meta:
        raise CheckpointError(
            f"{path} is a safetensors file without depthmask's config; was it written by depthmask? "
            "Plain state dicts can be loaded with --depth-net/--mask-net NAME plus this file."
        )
    return json.loads(meta[_HEADER_KEY])


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict stored in a safetensors file."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"could not read weights from {path}: {exc}") from None
