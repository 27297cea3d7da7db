"""Our checkpoint format: safetensors weights with the network's JSON config in the file's header.

One file, loaded without unpickling: `config` says how to rebuild the network (registry name or
`module:factory`, overrides, role, input size) and carries provenance (λ, data, commit, metrics).
Files are untrusted input: the header is parsed and checked here before anything in it is used, and a
damaged or foreign file is one CheckpointError that names it, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from depthmask import __version__
from depthmask.errors import CheckpointError, shown

FORMAT = "depthmask-checkpoint/1"
_HEADER_KEY = "depthmask"
_MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own limit
_REMAKE = "re-create the file with depthmask (training, or `depthmask convert` from the original weights)"

CheckpointKind = Literal["depthmask", "safetensors", "torch"]


def checkpoint_kind(path: str | Path) -> CheckpointKind:
    """What a weights file is, judged by its bytes (and a .safetensors suffix), without loading it.

    "depthmask": our checkpoint; "safetensors": a plain safetensors state dict; "torch": anything else,
    left to the PyTorch loader (the authors' released files). A file that says it is safetensors but is
    damaged raises CheckpointError here.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {exc.strerror or exc}") from None
    # safetensors: an 8-byte little-endian header length, then a JSON object.
    if path.suffix.lower() != ".safetensors" and head[8:9] != b"{":
        return "torch"
    meta = read_header(path).get("__metadata__", {})
    return "depthmask" if _HEADER_KEY in meta else "safetensors"


def is_depthmask_checkpoint(path: str | Path) -> bool:
    """True when `path` is a readable safetensors file written by `save_checkpoint`."""
    try:
        return checkpoint_kind(path) == "depthmask"
    except CheckpointError:
        return False


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
            f"{type(model).__name__} was not built by depthmask.nets.models.create_model or "
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


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor entries and `__metadata__`), checked against the file.

    Parsed here rather than by the safetensors library so that every way a file can be damaged (too short,
    a header length past its end, bytes that are not UTF-8 or not JSON, tensors past the end) is one
    CheckpointError naming the file and what was found. No tensor data is read.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            prefix = f.read(8)
            length = int.from_bytes(prefix, "little")
            raw = f.read(length) if len(prefix) == 8 and length <= min(size - 8, _MAX_HEADER_BYTES) else b""
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: {exc.strerror or exc}") from None
    if len(prefix) < 8:
        raise CheckpointError(
            f"{path} is {size} bytes long, too short for a safetensors file (an 8-byte header length, then "
            "the header): it is truncated or not a checkpoint; copy or download it again"
        )
    if length > min(size - 8, _MAX_HEADER_BYTES):
        raise CheckpointError(
            f"{path}: its header length says {length:,} bytes, but only {size - 8:,} follow: the file is "
            "truncated or not a safetensors checkpoint; copy or download it again"
        )
    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise CheckpointError(
            f"{path}: its header nests JSON too deeply to be a safetensors header; it is damaged or not a "
            "safetensors checkpoint"
        ) from None
    except UnicodeDecodeError as exc:
        raise CheckpointError(
            f"{path}: its header is not UTF-8 text (bad byte at {exc.start}); it is damaged or not a "
            "safetensors checkpoint"
        ) from None
    except ValueError as exc:
        raise CheckpointError(
            f"{path}: its header is not JSON ({exc}); it is damaged or not a safetensors checkpoint"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(
            f"{path}: its header is a JSON {type(header).__name__}, expected an object of tensors; it is "
            "damaged or not a safetensors checkpoint"
        )
    _check_tensor_entries(path, header, data_bytes=size - 8 - length)
    return header


def _check_tensor_entries(path: Path, header: dict[str, Any], data_bytes: int) -> None:
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(
            f"{path}: header key '__metadata__' is {shown(meta, 80)}, expected an object of strings; "
            f"{_REMAKE}"
        )
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("dtype"), str)
            and isinstance(entry.get("shape"), list)
            and all(_is_int(d) and d >= 0 for d in entry["shape"])
            and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2
            and all(_is_int(o) for o in entry["data_offsets"])
        )
        if not ok:
            raise CheckpointError(
                f"{path}: header entry {name!r} is {shown(entry, 80)}, expected a tensor "
                "{dtype, shape, data_offsets}; the file is damaged or not a safetensors checkpoint"
            )
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= data_bytes:
            raise CheckpointError(
                f"{path}: tensor {name!r} lies at bytes {begin}..{end} of the data, but the file holds "
                f"{data_bytes:,} bytes of data: it is truncated; copy or download it again"
            )


def read_config(path: str | Path) -> dict[str, Any]:
    """The JSON config of a depthmask checkpoint, read from the header alone (no weights loaded).

    Returned only when it is a JSON object with `format` FORMAT, `network` a non-empty string, `kwargs`
    an object of JSON scalars and lists, `lambda` a finite number or null, and the other keys depthmask
    reads of the right type; anything else is a CheckpointError naming the file, the key and the value.
    """
    path = Path(path)
    meta = read_header(path).get("__metadata__", {})
    if _HEADER_KEY not in meta:
        raise CheckpointError(
            f"{path} is a safetensors file without depthmask's config; was it written by depthmask? "
            "Plain state dicts can be loaded with --depth-net/--mask-net NAME plus this file."
        )
    try:
        config = json.loads(meta[_HEADER_KEY])
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(
            f"{path}: the depthmask config in its header is not JSON ({exc}); {_REMAKE}"
        ) from None
    return check_config(config, path)


def check_config(config: Any, path: str | Path) -> dict[str, Any]:
    """`config` (decoded from `path`'s header) when every key depthmask reads has a usable value."""
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{path}: the depthmask config in its header is a JSON {type(config).__name__}, expected an "
            f"object; {_REMAKE}"
        )

    def want(ok: bool, key: str, expected: str) -> None:
        if not ok:
            found = shown(config[key], 80) if key in config else "missing"
            raise CheckpointError(
                f"{path}: in its header, config key {key!r} is {found}, expected {expected}; {_REMAKE}"
            )

    want(config.get("format") == FORMAT, "format", f"{FORMAT!r} (written by another program or version?)")
    network = config.get("network")
    want(isinstance(network, str) and bool(network.strip()), "network", "a network name (a non-empty string)")
    kwargs = config.get("kwargs", {})
    want(
        isinstance(kwargs, dict) and all(_json_plain(v) for v in kwargs.values()),
        "kwargs",
        "an object of settings whose values are numbers, strings, booleans, null or lists of them",
    )
    # A recorded `pretrained` would download ImageNet weights only to overwrite them with the file's own.
    want("pretrained" not in kwargs, "kwargs", "settings without 'pretrained' (the file holds the weights)")
    lam = config.get("lambda")
    want(lam is None or _is_finite(lam), "lambda", "a finite number or null")
    size = config.get("input_size")
    pair = isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size)
    want(
        size is None or pair,
        "input_size",
        "[height, width] in pixels, or null",
    )
    want(config.get("role") in (None, "depth", "mask"), "role", "'depth', 'mask' or null")
    depth_network = config.get("depth_network")
    want(
        depth_network is None or (isinstance(depth_network, str) and bool(depth_network)),
        "depth_network",
        "a network name or null",
    )
    for key in ("depth_checkpoint", "depth_sha256"):
        want(config.get(key) is None or isinstance(config.get(key), str), key, "a string or null")
    return config


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict stored in a safetensors file (its header checked first)."""
    read_header(path)
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"could not read weights from {path}: {' '.join(str(exc).split())}") from None


def _json_plain(value: Any, depth: int = 0) -> bool:
    """A JSON scalar, or a list of scalars and lists nested at most 8 deep (what a registered factory's
    settings may be)."""
    if isinstance(value, list):
        return depth < 8 and all(_json_plain(v, depth + 1) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _is_finite(value: Any) -> bool:
    """A number that is finite as a float (a JSON int of 400 digits is not)."""
    try:
        return _is_number(value) and math.isfinite(value)
    except OverflowError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
