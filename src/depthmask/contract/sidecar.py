"""An engine's metadata lives in a JSON sidecar `<engine>.json` beside it (contracts §2): the engine's
bytes stay standard, so `trtexec` and other TensorRT tools still read the file."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depthmask.errors import ContractError

MAX_SIDECAR_BYTES = 1 << 22  # a sidecar is a few kB; a larger file is not one


def sidecar_path(engine: str | Path) -> Path:
    """`model.engine` → `model.engine.json`."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


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


def write_sidecar(engine: str | Path, meta: Mapping[str, Any], source: str | Path | None = None) -> Path:
    """Write the engine's metadata beside it, its recorded paths relative to the engine's folder
    (`source`: the ONNX file `meta` was read from)."""
    from depthmask.contract.metadata import portable_metadata

    path = sidecar_path(engine)
    path.write_text(json.dumps(portable_metadata(meta, engine, source), indent=2) + "\n")
    return path


def read_sidecar(engine: str | Path) -> dict[str, Any]:
    """The engine's metadata, not yet validated; ContractError when the sidecar is missing or not a JSON
    object."""
    path = sidecar_path(engine)
    if not path.is_file():
        raise ContractError(
            f"{engine} has no metadata sidecar {path.name}; depthmask keeps an engine's metadata beside it. "
            "Copy the .json along with the engine, or rebuild it with `depthmask export --format engine`."
        )
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            raise ContractError(f"{path} is {size} bytes, too large for a sidecar; rebuild the engine")
        data = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"{path} cannot be read ({exc.strerror or exc})") from None
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise ContractError(f"{path} is not valid JSON ({exc}); rebuild the engine") from None
    if not isinstance(meta, dict):
        raise ContractError(f"{path} holds a JSON {type(meta).__name__}, not an object; rebuild the engine")
    return meta
