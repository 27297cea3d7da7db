"""A small registry: networks looked up by name (timm-style `create_model` / `list_models`)."""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from depthmask.errors import ConfigError, ModelNotFoundError, closest

Role = Literal["depth", "mask"]


class SettingsError(ConfigError):
    """Keyword settings that a registered network's factory does not take, or cannot be built with."""


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one network before building it."""

    name: str
    role: Role
    family: str
    input_size: tuple[int, int]  # nominal (H, W)
    factory: Callable[..., nn.Module]
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, role: Role, family: str, input_size: tuple[int, int], description: str = ""
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a factory `fn(**overrides) -> nn.Module` under `name`."""

    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = description or (fn.__doc__ or "").strip().splitlines()[0]
        _REGISTRY[name] = ModelEntry(name, role, family, input_size, fn, doc)
        return fn

    return decorate


def model_entry(name: str) -> ModelEntry:
    """The registry entry for `name`; ModelNotFoundError names the closest registered one."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(
            f"no network named {name!r}; registered: {', '.join(sorted(_REGISTRY))}."
            + closest(name, _REGISTRY)
        ) from None


def list_models(pattern: str = "*", role: Role | None = None) -> list[str]:
    """Registered names matching a shell-style pattern, optionally only depth nets or mask nets."""
    return sorted(
        n for n, e in _REGISTRY.items() if fnmatch.fnmatch(n, pattern) and (role is None or e.role == role)
    )


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build the registered network `name`; keyword overrides go to its factory.

    The built module carries `depthmask_name` and `depthmask_kwargs` so a checkpoint can rebuild it.
    """
    entry = model_entry(name)
    params = inspect.signature(entry.factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in overrides if k not in params]
        if unknown:
            takes = ", ".join(params) or "no settings"
            raise SettingsError(
                f"network {name!r} does not take these settings: {', '.join(map(repr, unknown))} (it "
                f"takes: {takes}).{closest(unknown[0], params)}"
            )
    try:
        model = entry.factory(**overrides)
    except (TypeError, ValueError, RuntimeError) as exc:
        if not overrides:
            raise  # nothing the user set: a bug in the factory keeps its traceback
        raise SettingsError(f"network {name!r} cannot be built with {overrides}: {exc}") from None
    model.depthmask_name = name
    model.depthmask_kwargs = {k: v for k, v in overrides.items() if k != "pretrained"}
    return model
