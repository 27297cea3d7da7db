"""The training state behind `--resume`: everything besides the config that decides what comes next.

One file, `last.state.pt`, written with `torch.save` to a temporary name and renamed (atomic), holding the
trained network's weights, the optimiser, scheduler and GradScaler states, the step, the epoch, the number
of batches already consumed in that epoch, and the RNG states (python, numpy, torch CPU and CUDA) of every
process. It holds only tensors, numbers, strings, lists and dicts, so it is read back with
`torch.load(weights_only=True)`: resuming never unpickles arbitrary objects. The weights are in the same
file as the optimiser state, so the two can never come from different steps; the deployable weights are
written separately as `.safetensors` (see `depthmask.train.checkpoint`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthmask.errors import CheckpointError

STATE_FORMAT = "depthmask-train-state/1"
STATE_NAME = "last.state.pt"


def capture_rng() -> dict[str, Any]:
    """This process's RNG states as plain data (numpy's key as a tensor, so weights_only can load it)."""
    np_state = np.random.get_state(legacy=False)
    version, internal, gauss = random.getstate()
    return {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the RNG states captured by `capture_rng`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": n["bit_generator"],
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def state_path(resume: str | Path) -> Path:
    """The state file of a run: `resume` itself, or `resume/last.state.pt` when it is a run folder."""
    path = Path(resume)
    if path.is_dir():
        path = path / STATE_NAME
    if not path.is_file():
        raise CheckpointError(
            f"--resume {str(resume)!r}: no training state there (expected a run folder holding "
            f"{STATE_NAME}, or the file itself)"
        )
    return path


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a training state atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": STATE_FORMAT, **state}, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a training state written by `save_state` (weights_only: no arbitrary unpickling)."""
    path = state_path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a truncated or foreign file
        raise CheckpointError(f"could not read the training state {path}: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path} is not a depthmask training state ({STATE_FORMAT})")
    return state
