"""SIGINT and SIGTERM end a run the same way: the first stops it and every output is finalised (records
for the frames still in flight, audit.jsonl, summary.json, a playable video); a second exits at once.

Why a second signal exits at once instead of waiting: the user asked twice. Nothing already written is
lost by it, because audit.jsonl is written a whole line at a time and flushed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator

from depthmask.contract.exits import interrupted

log = logging.getLogger("depthmask.runtime")
HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by the first SIGINT or SIGTERM of a run (a KeyboardInterrupt, so code
    that already stops cleanly on Ctrl-C stops on SIGTERM too)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class _Guard:
    """The process's signal state during a run (signals are process-wide, so one guard at a time)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.finalising = 0

    def handler(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            sys.stderr.write(f"\n{name} again: exiting now; audit.jsonl keeps every line written so far\n")
            sys.stderr.flush()
            os._exit(interrupted(signum))
        self.signum = int(signum)
        if self.finalising:
            log.warning("%s: finishing the outputs first (send it again to exit at once)", name)
            return
        raise Interrupted(signum)


_active: _Guard | None = None


@contextlib.contextmanager
def interruptible() -> Iterator[_Guard | None]:
    """Inside the block SIGINT and SIGTERM raise `Interrupted` once; a second one exits at once.

    Main thread only (Python runs signal handlers there); elsewhere, and where a handler was installed
    outside Python, the block runs with the signals as they are and yields None.
    """
    global _active
    if threading.current_thread() is not threading.main_thread() or _active is not None:
        yield _active
        return
    previous = {s: signal.getsignal(s) for s in HANDLED}
    if any(p is None for p in previous.values()):
        yield None
        return
    guard = _Guard()
    _active = guard
    for s in HANDLED:
        signal.signal(s, guard.handler)
    try:
        yield guard
    finally:
        for s, p in previous.items():
            signal.signal(s, p)
        _active = None


@contextlib.contextmanager
def finalising() -> Iterator[None]:
    """Inside the block a first signal is noted, not raised: outputs being closed are not cut in half."""
    guard = _active
    if guard is None:
        yield
        return
    guard.finalising += 1
    try:
        yield
    finally:
        guard.finalising -= 1


def received() -> int | None:
    """The signal that stopped the active run, if any."""
    return _active.signum if _active is not None else None
