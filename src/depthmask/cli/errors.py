"""How the CLI shows a `DepthmaskError`: one line on stderr, exit status 1, no traceback."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from depthmask.contract import exits
from depthmask.errors import DepthmaskError

F = TypeVar("F", bound=Callable[..., Any])
stderr = Console(stderr=True)


def user_errors(fn: F) -> F:
    """Decorate a command: DepthmaskError → 'error: …' and exit 1 (DEPTHMASK_DEBUG=1 keeps the traceback);
    an interrupt → exit 130 (SIGINT) or 143 (SIGTERM)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DepthmaskError as exc:
            if os.environ.get("DEPTHMASK_DEBUG") == "1":
                raise
            stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(exits.USER_ERROR) from None
        except KeyboardInterrupt as exc:  # before any output existed (runs finalise theirs themselves)
            signum = getattr(exc, "signum", signal.SIGINT)
            stderr.print(f"interrupted ({signal.Signals(signum).name})", highlight=False)
            raise typer.Exit(exits.interrupted(signum)) from None

    return wrapper  # type: ignore[return-value]
