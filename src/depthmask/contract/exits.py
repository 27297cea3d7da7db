"""Exit statuses of every command (contracts §6), documented in the README and each command's help."""

from __future__ import annotations

import signal

OK = 0
USER_ERROR = 1  # a DepthmaskError: its one-line message says what to fix
USAGE_ERROR = 2  # typer's: an unknown option, a missing argument
FRAMES_FAILED = 3  # finished, but some frames could not be decoded (each has its record) or drives failed
CHECK_FAILED = 4  # a parity or gate check failed
INTERRUPTED_SIGINT = 128 + signal.SIGINT  # 130: Ctrl-C, outputs finalised
INTERRUPTED_SIGTERM = 128 + signal.SIGTERM  # 143: SIGTERM, outputs finalised

HELP = (
    "Exit status: 0 ok; 1 user error (message on stderr); 2 usage error; 3 finished, some frames could "
    "not be decoded (fleet: or some drives failed); 4 a parity or gate check failed; 130/143 interrupted "
    "by SIGINT/SIGTERM, outputs finalised."
)


def interrupted(signum: int) -> int:
    """The exit status for a run stopped by signal `signum`."""
    return 128 + int(signum)
