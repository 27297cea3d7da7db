"""What the commands show while they work: the frame bar of `run` and `demo`, a spinner per export step.

Both suit the console: rich displays on a terminal, plain lines in a log or a pipe (`depthmask.progress`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from depthmask.progress import PLAIN_INTERVAL_S, Meter, redraws


class FrameProgress:
    """Frames counted by outcome (ok, dropped, failed): total, percent, frames/s and ETA once the total is
    known, count and frames/s before. Use as a context manager; `begin` and `count` are the run core's
    `on_start` and `on_result`."""

    def __init__(
        self,
        console: Console,
        description: str = "run",
        total: int | None = None,
        *,
        interval_s: float = PLAIN_INTERVAL_S,
        get_time: Callable[[], float] | None = None,
    ) -> None:
        self.counts = {"ok": 0, "dropped": 0, "failed": 0}
        self.meter = Meter(
            console, description, unit="frames", total=total,
            detail="dropped {task.fields[dropped]} · failed {task.fields[failed]}",
            interval_s=interval_s, get_time=get_time, rate=0.0, dropped=0, failed=0,
        )  # fmt: skip

    def __enter__(self) -> FrameProgress:
        self.meter.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.meter.stop()

    def begin(self, total: int | None) -> None:
        """Frames start now: `total` of them (None: a source of unknown length)."""
        self.meter.begin(total)

    def count(self, status: str) -> None:
        """One frame's result: "ok", "dropped", or anything else (a failure)."""
        key = status if status in ("ok", "dropped") else "failed"
        self.counts[key] += 1
        elapsed = self.meter.task.elapsed or 1e-9
        # frames/s counts inferred frames only: a live source's dropped frames are not throughput
        self.meter.update(
            advance=1, rate=self.counts["ok"] / elapsed, dropped=self.counts["dropped"],
            failed=self.counts["failed"],
        )  # fmt: skip

    def discard(self) -> None:
        """Leave no bar or last line behind (the run failed before any frame)."""
        self.meter.discard()


@contextmanager
def step_spinner(
    console: Console, name: str, *, get_time: Callable[[], float] = time.perf_counter
) -> Iterator[None]:
    """A long step: a spinner with its elapsed time on a terminal, a "name …" line elsewhere; then
    "  name: 12.3 s" (or "  name: stopped after 12.3 s") either way."""
    live = redraws(console)
    spinner = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=True, disable=not live,
    )  # fmt: skip
    spinner.add_task(f"  {name} …", total=None)
    if not live:
        console.print(f"  {name} …", markup=False, highlight=False, soft_wrap=True)
    t0 = get_time()
    try:
        with spinner:
            yield
    except BaseException:
        console.print(f"  {name}: stopped after {get_time() - t0:.1f} s", markup=False, highlight=False)
        raise
    console.print(f"  {name}: {get_time() - t0:.1f} s", markup=False, highlight=False)
