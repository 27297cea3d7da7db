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

import torch

from depthmask.errors import CheckpointError

_PREFIX = "module."
_DENSE_OLD = re.compile(r"(denselayer\d+)\.(norm|relu|conv)\.([12])\.")
_DENSE_NEW = re.compile(r"(denselayer\d+)\.(norm|relu|conv)([12])\.")


def read_authors_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a released file into current key names (prefix stripped, DenseNet names remapped)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(
            f"{path} is not a PyTorch state dict that loads without unpickling code ({exc}). "
            "depthmask reads the authors' released files and its own .safetensors checkpoints."
        ) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors")
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
