"""Ctrl-C held back while outputs are finalised: the first interrupt stops the run, a second one must
not cut a video's trailer or the summary in half."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger("depthmask.runtime")


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Inside the block SIGINT is noted and logged instead of raising KeyboardInterrupt (main thread
    only: signal handlers cannot be set from others, where SIGINT never lands anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # a handler installed outside Python: leave it alone
        yield
        return

    def note(_signum: int, _frame: object) -> None:
        log.warning("Ctrl-C: finishing the outputs first (video trailer, audit log, summary)")

    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
