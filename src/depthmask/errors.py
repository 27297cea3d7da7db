"""One error model: `DepthmaskError` and its subclasses are the user's to act on.

The CLI prints them without a traceback and exits with status 1 (set DEPTHMASK_DEBUG=1 to see the
traceback). Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any


class DepthmaskError(Exception):
    """An error the user can act on: the message says what was asked, what is there and the fix."""


class ConfigError(DepthmaskError):
    """A setting has a value that cannot work."""


class ModelNotFoundError(DepthmaskError):
    """A network name that no registry entry or import path resolves."""


class CheckpointError(DepthmaskError):
    """A weights file that is missing, unreadable or does not fit the network."""


class ContractError(DepthmaskError):
    """A network or artefact whose inputs or outputs differ from what depthmask expects."""


class SourceError(DepthmaskError):
    """A frame source that cannot be opened: a missing file, an empty folder, an unknown stream."""


class OutputError(DepthmaskError):
    """An output file or folder that cannot be written."""


class MissingDependencyError(DepthmaskError):
    """An optional library (torch, TensorRT, ...) that the chosen path needs is not installed."""


def closest(value: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' hint naming the closest valid choice, or '' when none is close."""
    match = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlevel = 100, 100, 4


def shown(value: Any, limit: int = 120) -> str:
    """A value as an error message shows it: a bounded repr (a huge or deeply nested value read from a
    file is shown in part, never walked whole), cut to `limit` characters."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def module_available(module: str) -> bool:
    """True when `module` can be imported, without importing it (heavy optional libraries stay lazy)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, extra: str, purpose: str) -> None:
    """Raise MissingDependencyError unless `module` can be imported; say which extra installs it."""
    if not module_available(module):
        raise MissingDependencyError(
            f"{purpose} needs the Python package {module!r}, which is not installed. "
            f"Install it with: pip install 'depthmask[{extra}]'"
        )
