"""Get a network with weights: by name or `module:factory`, from our checkpoints or the authors'."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from depthmask.errors import CheckpointError, ConfigError
from depthmask.train.authors import detect_network, read_authors_file
from depthmask.train.checkpoint import is_depthmask_checkpoint, read_config, read_weights, sha256_of
from depthmask.train.models import create_model, model_entry
from depthmask.train.models.byo import check_depth_contract, import_factory, is_factory_spec
from depthmask.train.models.registry import Role

DEFAULT_BYO_SIZE = (228, 304)


def build_network(spec: str, *, role: Role | None = None, kwargs: dict | None = None) -> nn.Module:
    """A network with random weights from a registry name or a `module:factory` spec.

    `role` ("depth" or "mask"), when given, refuses a network of the other kind.
    """
    if is_factory_spec(spec):
        if role == "mask":
            raise ConfigError(
                f"{spec!r}: only the depth net N can be brought as module:factory; G is mask_drn_*"
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
) -> nn.Module:
    """Build a network and load its weights, in eval mode.

    `spec` is a registry name or `module:factory`; it may be None when `checkpoint` is a depthmask
    checkpoint (which names its network). `checkpoint` may be ours (.safetensors), the authors'
    released file (auto-detected), or a plain state dict (torch or safetensors) for a `module:factory`
    net, which is checked for N's B×1×h×w output contract. The module carries `depthmask_sha256`
    (None for random weights) and `depthmask_checkpoint`.
    """
    kwargs: dict = {}
    state: dict[str, torch.Tensor] | None = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise CheckpointError(f"checkpoint {str(checkpoint)!r} does not exist")
        if is_depthmask_checkpoint(checkpoint):
            config = read_config(checkpoint)
            if spec is None:
                spec, kwargs = config["network"], config.get("kwargs", {})
            elif spec == config["network"]:
                kwargs = config.get("kwargs", {})
            state = read_weights(checkpoint)
        elif checkpoint.suffix == ".safetensors":
            state = read_weights(checkpoint)
        else:
            state = read_authors_file(checkpoint)
            if spec is None:
                spec = detect_network(state)
    if spec is None:
        raise ConfigError("no network named and no checkpoint to read one from; pass a network name")
    model = build_network(spec, role=role, kwargs=kwargs)
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
