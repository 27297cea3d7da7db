"""Get a network with weights: by name or `module:factory`, from our checkpoints or the authors'.

Nothing a file names is imported: a checkpoint's config may name only registered networks, unless it
names the very `module:factory` the caller passes as `trusted_factory` (the spec the user typed).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from depthmask.contract.hashing import sha256_of
from depthmask.errors import CheckpointError, ConfigError
from depthmask.nets.authors import detect_network, read_authors_file
from depthmask.nets.checkpoint import checkpoint_kind, read_config, read_weights
from depthmask.nets.models import create_model, model_entry
from depthmask.nets.models.byo import (
    check_depth_contract,
    import_factory,
    is_factory_spec,
    require_named_by_user,
)
from depthmask.nets.models.registry import Role, SettingsError

DEFAULT_BYO_SIZE = (228, 304)


def build_network(
    spec: str,
    *,
    role: Role | None = None,
    kwargs: dict | None = None,
    trusted_factory: str | None = None,
) -> nn.Module:
    """A network with random weights from a registry name or a `module:factory` spec.

    `role` ("depth" or "mask"), when given, refuses a network of the other kind. A `module:factory` spec
    is imported (its code runs) only when it equals `trusted_factory`: pass the spec the user named
    there, never one read from a file.
    """
    if is_factory_spec(spec):
        if role == "mask":
            raise ConfigError(
                f"{spec!r}: only the depth net N can be brought as module:factory; G is mask_drn_*"
            )
        if spec != trusted_factory:
            raise ConfigError(
                f"network {spec!r} is module:factory code that was not passed as trusted_factory; "
                f"depthmask imports code only when you name it yourself: pass --depth-net {spec} on the "
                f"command line, or trusted_factory={spec!r} from Python"
            )
        model = import_factory(spec)
        model.depthmask_name = spec
        model.depthmask_kwargs = {}
        return model
    entry = model_entry(spec)
    if role is not None and entry.role != role:
        want = "depth net N" if role == "depth" else "mask net G"
        raise ConfigError(f"{spec!r} is a {entry.role} network, but a {want} was asked for here")
    return create_model(spec, **(kwargs or {}))


def load_network(
    spec: str | None,
    checkpoint: str | Path | None = None,
    *,
    role: Role | None = None,
    input_size: tuple[int, int] | None = None,
    trusted_factory: str | None = None,
    option: str = "--depth-net",
) -> nn.Module:
    """Build a network and load its weights, in eval mode.

    `spec` is a registry name or `module:factory`; it may be None when `checkpoint` is a depthmask
    checkpoint (which names its network). `checkpoint` may be ours (.safetensors), the authors'
    released file (auto-detected), or a plain state dict (torch or safetensors) for a `module:factory`
    net, which is checked for N's B×1×h×w output contract. The module carries `depthmask_sha256`
    (None for random weights) and `depthmask_checkpoint`.

    A `module:factory` is imported only when it equals `trusted_factory`, the spec the user named
    themselves (the command line passes its `option`, named in the refusal; Python callers pass it on
    purpose). A checkpoint naming any other factory is refused with a CheckpointError naming the file.
    """
    kwargs: dict[str, Any] = {}
    state: dict[str, torch.Tensor] | None = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise CheckpointError(f"checkpoint {str(checkpoint)!r} does not exist")
        kind = checkpoint_kind(checkpoint)
        if kind == "depthmask":
            config = read_config(checkpoint)
            if spec is None:
                spec = config["network"]
                require_named_by_user(
                    spec, trusted_factory, named_by=f"checkpoint {checkpoint}", option=option
                )
            if spec == config["network"]:
                kwargs = dict(config.get("kwargs", {}))
            state = read_weights(checkpoint)
        elif kind == "safetensors":
            state = read_weights(checkpoint)
        else:
            state = read_authors_file(checkpoint)
            if spec is None:
                spec = detect_network(state)  # always a registered name
    if spec is None:
        raise ConfigError("no network named and no checkpoint to read one from; pass a network name")
    try:
        model = build_network(spec, role=role, kwargs=kwargs, trusted_factory=trusted_factory)
    except SettingsError as exc:
        if not kwargs:
            raise
        raise SettingsError(f"checkpoint {checkpoint}: its recorded kwargs do not fit: {exc}") from None
    if state is not None:
        _load_strict(model, state, spec, checkpoint)
    model.eval()
    model.depthmask_sha256 = sha256_of(checkpoint) if checkpoint is not None else None
    model.depthmask_checkpoint = str(checkpoint) if checkpoint is not None else None
    if is_factory_spec(spec):
        check_depth_contract(model, input_size or DEFAULT_BYO_SIZE, name=spec)
    return model


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], spec: str, path: Path | None) -> None:
    # Checkpoints saved before PyTorch 0.4 have no BatchNorm step counters; those alone may be absent.
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        hint = ""
        if not is_factory_spec(spec):
            with contextlib.suppress(CheckpointError):
                hint = f" These weights look like {detect_network(state)!r}."
        details = "; ".join(
            f"{label} ({len(keys)}): {', '.join(keys[:4])}{' …' if len(keys) > 4 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise CheckpointError(f"{path} does not fit network {spec!r}: {details}.{hint}")
    full = {**{k: v for k, v in expected.items() if k.endswith("num_batches_tracked")}, **state}
    model.load_state_dict(full, strict=True)
