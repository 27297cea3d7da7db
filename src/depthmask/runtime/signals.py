"""SIGINT and SIGTERM end a run the same way: the first stops it and every output is finalised (records
for the frames still in flight, audit.jsonl, summary.json, a playable video); a second exits at once.

Before the first frame (opening sources, loading a model) the first signal raises `Interrupted`: nothing
has been read, so nothing can be lost. Once frames flow (`deferred`), it only sets a flag and calls the
registered stop callbacks; the pipeline sees the flag between batches and gives every frame in flight
its record. Raising there instead could land between handing a frame on and forgetting it, giving it
two records or none.

Why a second signal exits at once instead of waiting: the user asked twice. Nothing already written is
lost by it, because audit.jsonl is written a whole line at a time, straight to the OS.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from depthmask.contract.exits import interrupted

log = logging.getLogger("depthmask.runtime")
HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by the first SIGINT or SIGTERM outside a `deferred` block (a
    KeyboardInterrupt, so code that already stops cleanly on Ctrl-C stops on SIGTERM too)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class _Guard:
    """The process's signal state during a run (signals are process-wide, so one guard at a time)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferred = 0
        self.on_signal: list[Callable[[], None]] = []

    def handler(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            sys.stderr.write(f"\n{name} again: exiting now; audit.jsonl keeps every line written so far\n")
            sys.stderr.flush()
            os._exit(interrupted(signum))
        self.signum = int(signum)
        if not self.deferred:
            raise Interrupted(signum)
        log.warning("%s: finishing the outputs first (send it again to exit at once)", name)
        for stop in list(self.on_signal):
            stop()


_active: _Guard | None = None


@contextlib.contextmanager
def interruptible() -> Iterator[_Guard | None]:
    """Inside the block SIGINT and SIGTERM are handled once (raised, or noted inside `deferred`); a
    second one exits at once.

    Main thread only (Python runs signal handlers there); elsewhere the block runs with the signals as
    they are and yields None. A signal that is ignored (a job started with SIGINT ignored, say) or
    handled outside Python is left alone.
    """
    global _active
    if threading.current_thread() is not threading.main_thread() or _active is not None:
        yield _active
        return
    # A signal ignored (SIG_IGN) or handled outside Python (None) stays as it is.
    previous = {s: p for s in HANDLED if (p := signal.getsignal(s)) not in (None, signal.SIG_IGN)}
    if not previous:
        yield None
        return
    guard = _Guard()
    _active = guard
    for s in previous:
        signal.signal(s, guard.handler)
    try:
        yield guard
    finally:
        for s, p in previous.items():
            signal.signal(s, p)
        _active = None


@contextlib.contextmanager
def deferred(on_signal: Callable[[], None] | None = None) -> Iterator[None]:
    """Inside the block a first signal is noted (see `received`) and `on_signal` is called, not raised:
    frames in flight and outputs being closed are not cut in half."""
    guard = _active
    if guard is None:
        yield
        return
    guard.deferred += 1
    if on_signal is not None:
        guard.on_signal.append(on_signal)
    try:
        yield
    finally:
        guard.deferred -= 1
        if on_signal is not None:
            guard.on_signal.remove(on_signal)


def reclaim() -> None:
    """Install the active guard's handler again, for a library that set its own while the guard was up
    (Ray's `init` sets a SIGTERM handler that exits at once, outputs unwritten)."""
    guard = _active
    if guard is None or threading.current_thread() is not threading.main_thread():
        return
    for s in HANDLED:
        signal.signal(s, guard.handler)


def received() -> int | None:
    """The signal that stopped the active run, if any."""
    return _active.signum if _active is not None else None
