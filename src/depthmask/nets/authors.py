"""The authors' released checkpoints (`model_resnet`, `model_densenet`, `model_senet`, `mask_*`).

They are raw state dicts saved from `nn.DataParallel` under PyTorch 0.3.1: keys start with `module.`,
DenseNet layers use the old dotted names (`norm.1`, `conv.2`), and BatchNorm has no
`num_batches_tracked`. Loaded with `weights_only=True`: nothing is unpickled but tensors.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from depthmask.errors import CheckpointError

_PREFIX = "module."
_DENSE_OLD = re.compile(r"(denselayer\d+)\.(norm|relu|conv)\.([12])\.")
_DENSE_NEW = re.compile(r"(denselayer\d+)\.(norm|relu|conv)([12])\.")
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save since PyTorch 1.6
_PICKLE_MAGIC = b"\x80"  # the legacy format (the authors' PyTorch 0.3.1 files): a pickle, protocol ≥ 2


def load_tensor_file(path: str | Path, what: str = "checkpoint") -> Any:
    """`torch.load(path, weights_only=True)` with every refusal one CheckpointError line naming the file.

    `what` names the file in messages ("checkpoint", "training state"). A pickle that holds Python objects
    besides tensors is refused, never loaded with weights_only=False: unpickling objects can run code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {str(path)!r} does not exist")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None
    if not head:
        raise CheckpointError(f"{what} {path} is empty (0 bytes); copy or download it again")
    if not head.startswith((_ZIP_MAGIC, _PICKLE_MAGIC)):
        raise CheckpointError(
            f"{what} {path} is neither a PyTorch file (torch.save) nor a .safetensors file (it starts with "
            f"bytes {head!r}); depthmask reads its own .safetensors checkpoints and the authors' released "
            "files"
        )
    if head.startswith(_ZIP_MAGIC) and not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{what} {path} is truncated or damaged: its zip archive (PyTorch's format) is incomplete; copy "
            "or download it again"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = _GLOBAL.search(str(exc))
        if found or "Unsupported global" in str(exc):
            obj = f" (a pickled {found.group(1)})" if found else ""
            raise CheckpointError(
                f"{what} {path} holds Python objects besides tensors{obj}, so depthmask will not load it: "
                "it reads a file only when it loads without unpickling code. Save a state dict of tensors "
                "instead (torch.save(model.state_dict(), …)) or a .safetensors file"
            ) from None
        raise CheckpointError(
            f"{what} {path} is damaged or was not written by torch.save: its pickle data cannot be read as "
            "tensors; copy or download it again"
        ) from None
    except Exception as exc:  # torch raises EOFError, RuntimeError, IndexError, … for a cut or damaged file
        reason = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
        raise CheckpointError(
            f"{what} {path} is truncated or damaged ({reason}); copy or download it again"
        ) from None


def read_authors_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a released file into current key names (prefix stripped, DenseNet names remapped)."""
    obj = load_tensor_file(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(
            f"{path} holds a {type(obj).__name__}, not a state dict of named tensors; depthmask reads the "
            "authors' released files, state dicts and its own .safetensors checkpoints"
        )
    return from_authors_layout(obj)


def from_authors_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DataParallel's `module.` and rename DenseNet's `norm.1` style keys to `norm1`."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix(_PREFIX)
        out[_DENSE_OLD.sub(r"\1.\2\3.", key)] = value
    return out


def to_authors_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse: what the authors' code would have saved (for interoperability and tests)."""
    return {
        _PREFIX + _DENSE_NEW.sub(r"\1.\2.\3.", k): v
        for k, v in state.items()
        if not k.endswith("num_batches_tracked")
    }


def detect_network(state: dict[str, torch.Tensor]) -> str:
    """Which registered network a released state dict (current key names) belongs to."""
    keys = state.keys()
    if "E.base.0.0.weight" in keys and "D.up3.conv1.weight" in keys and "D.up4.conv1.weight" not in keys:
        return "mask_drn_d_22"
    if any(k.startswith("E.features.denseblock") for k in keys):
        return "hu2019_densenet161"
    if "E.base.0.conv1.weight" in keys:
        return "hu2019_senet154"
    if "E.layer1.0.conv3.weight" in keys and "MFF.up1.conv1.weight" in keys:
        return "hu2019_resnet50"
    sample = ", ".join(list(keys)[:5])
    raise CheckpointError(
        f"could not tell which network these weights belong to (first keys: {sample}); "
        "name it with --depth-net or --mask-net"
    )
