"""The `depthmask` command: one typer app that only mounts commands (each lives in its own module)."""

from __future__ import annotations

from depthmask.cli.app import app, main

__all__ = ["app", "main"]
