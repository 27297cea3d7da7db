"""Bring your own N: any `torch.nn.Module` named `package.module:factory` or `path/to/file.py:factory`.

Importing such a spec runs its code, so depthmask does it only for a spec the user named: on the command
line, or in Python as `trusted_factory=`. A spec read from a file (a checkpoint's config, an artefact's
metadata, a training state) may only name a registered network; `require_named_by_user` refuses the rest.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import torch
from torch import nn

from depthmask.errors import CheckpointError, ContractError, DepthmaskError, ModelNotFoundError


def is_factory_spec(spec: str) -> bool:
    """True for 'pkg.module:factory' or 'file.py:factory' (a registry name has no colon)."""
    return ":" in spec and not spec.startswith(("http:", "https:"))


def require_named_by_user(
    spec: str,
    trusted_factory: str | None,
    *,
    named_by: str,
    option: str = "--depth-net",
    error: type[DepthmaskError] = CheckpointError,
) -> None:
    """Refuse a module:factory `spec` unless it is the one the user named (`trusted_factory`).

    `named_by` says where the spec came from, as the subject of the message ("checkpoint n.safetensors",
    "m.onnx's metadata"); `option` is the option that names the network on the command in use.
    """
    if not is_factory_spec(spec) or spec == trusted_factory:
        return
    yours = f" (you named {trusted_factory!r})" if trusted_factory else ""
    raise error(
        f"{named_by} names the network {spec!r}, which is not registered{yours}; depthmask imports code "
        f"only when you name it yourself: pass {option} {spec} if you trust that code, or use a registered "
        "network (`depthmask info` lists them)"
    )


def import_factory(spec: str) -> nn.Module:
    """Import `module:factory` (or `file.py:factory`), call it with no arguments, return the module.

    This runs the user's code: call it only for a spec the user named (see `require_named_by_user`).
    """
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ModelNotFoundError(f"{spec!r} is not of the form 'package.module:factory' or 'file.py:factory'")
    try:
        if target.endswith(".py"):
            path = Path(target)
            if not path.is_file():
                raise ModelNotFoundError(f"{spec!r}: the file {str(path)!r} does not exist")
            mod_name = f"depthmask_user_{path.stem}"
            loader = importlib.util.spec_from_file_location(mod_name, path)
            assert loader is not None and loader.loader is not None
            module = importlib.util.module_from_spec(loader)
            sys.modules[mod_name] = module
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ImportError as exc:
        raise ModelNotFoundError(
            f"could not import {target!r} for {spec!r}: {exc}. Is the package installed or on PYTHONPATH?"
        ) from None
    factory = getattr(module, attr, None)
    if factory is None:
        public = [n for n in dir(module) if not n.startswith("_")]
        raise ModelNotFoundError(
            f"{target!r} has no attribute {attr!r}; it defines: {', '.join(public[:20])}"
        )
    model = factory() if callable(factory) and not isinstance(factory, nn.Module) else factory
    if not isinstance(model, nn.Module):
        raise ContractError(f"{spec!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def check_depth_contract(
    model: nn.Module, input_size: tuple[int, int], name: str = "depth net"
) -> tuple[int, int]:
    """Run N once on zeros and check it returns B×1×h×w depth; return (h, w).

    Catches a wrong contract up front, before training or export, with the shape that came back.
    """
    h, w = input_size
    batch = 2
    x = torch.zeros(batch, 3, h, w)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:  # a user's network may fail in any way; say where it failed.
        raise ContractError(
            f"{name} failed on an input of shape {tuple(x.shape)}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ContractError(
            f"{name} returned a {type(out).__name__}; depthmask expects one tensor of depth, "
            f"shape B×1×h×w (e.g. ({batch}, 1, {h // 2}, {w // 2}) for input {tuple(x.shape)})"
        )
    shape = tuple(out.shape)
    if out.dim() != 4 or shape[0] != batch or shape[1] != 1:
        raise ContractError(
            f"{name} returned shape {shape} for input {tuple(x.shape)}; depthmask expects B×1×h×w depth "
            f"in metres (batch {batch}, one channel), e.g. ({batch}, 1, {h // 2}, {w // 2})"
        )
    return shape[2], shape[3]
