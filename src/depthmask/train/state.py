"""The training state behind `--resume`: everything besides the config that decides what comes next.

One file, `last.state.pt`, written with `torch.save` to a temporary name and renamed (atomic), holding the
trained network's weights, the optimiser, scheduler and GradScaler states, the step, the epoch, the number
of batches already consumed in that epoch, and the RNG states (python, numpy, torch CPU and CUDA) of every
process. It holds only tensors, numbers, strings, lists and dicts, so it is read back with
`torch.load(weights_only=True)`: resuming never unpickles arbitrary objects. The weights are in the same
file as the optimiser state, so the two can never come from different steps; the deployable weights are
written separately as `.safetensors` (see `depthmask.nets.checkpoint`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from depthmask.errors import CheckpointError, ConfigError

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
    """Read a training state written by `save_state` (weights_only: no arbitrary unpickling).

    The state is checked before use: every entry resuming reads has its type, and its config is a valid
    training config. Its network names are only compared with the resumed run's (which the user named),
    never built, so a state cannot make depthmask import code.
    """
    from depthmask.nets.authors import load_tensor_file

    path = state_path(path)
    state = load_tensor_file(path, "training state")
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a depthmask training state (found {found!r}, expected format {STATE_FORMAT!r}); "
            f"pass the {STATE_NAME} of a depthmask training run"
        )
    for key, kinds in _STATE_ENTRIES.items():
        value = state.get(key)
        if not isinstance(value, kinds) or isinstance(value, bool):
            found = type(value).__name__ if key in state else "missing"
            expected = " or ".join(k.__name__ for k in kinds)
            raise CheckpointError(
                f"training state {path}: entry {key!r} is {found}, expected {expected}; the file is damaged "
                "or was not written by this version of depthmask (start the run again without --resume)"
            )
    _check_saved_config(path, state["config"])
    return state


# The entries resuming reads, with their types (see `depthmask.train.loop.TrainingLoop._restore`).
_STATE_ENTRIES: dict[str, tuple[type, ...]] = {
    "config": (dict,),
    "model": (dict,),
    "optimizer": (dict,),
    "scheduler": (dict,),
    "scaler": (dict,),
    "step": (int,),
    "epoch": (int,),
    "batch": (int,),
    "rng": (list,),
}


def _check_saved_config(path: Path, config: dict[str, Any]) -> None:
    from depthmask.train.config import config_from_dict

    try:
        config_from_dict(config)
    except ConfigError as exc:
        raise CheckpointError(f"training state {path}: its saved config is not valid: {exc}") from None
    except (TypeError, ValueError) as exc:  # a value of the wrong type for its field
        raise CheckpointError(
            f"training state {path}: its saved config has a value of the wrong type ({exc}); the file is "
            "damaged or was not written by this version of depthmask"
        ) from None
