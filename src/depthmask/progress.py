"""Progress that reads on any output: a rich bar on a terminal, a plain line every few seconds elsewhere.

A log file, a pipe or a CI console gets neither control codes nor silence: `Meter` prints
"run: 120/600 frames (20 %) · 14.2 frames/s · ETA 34 s · dropped 0 · failed 0" at most every
`interval_s` seconds, and a last line when it stops. It sits at the bottom layer (rich only, no torch)
so that `train` and `cli` share one copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

PLAIN_INTERVAL_S = 5.0  # how often a non-terminal output gets a progress line


def redraws(console: Console) -> bool:
    """True when `console` can redraw a bar in place: a terminal (not a dumb one) or Jupyter."""
    return (console.is_terminal and not console.is_dumb_terminal) or console.is_jupyter


def rate_of(task: Task) -> float | None:
    """Units per second: the task's `rate` field when its owner keeps one, else rich's speed estimate."""
    rate = task.fields.get("rate")
    return float(rate) if rate is not None else task.speed


class RateColumn(ProgressColumn):
    """'14.2 frames/s'; blank until a rate is known."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        """The rate of `task` in this column's unit."""
        rate = rate_of(task)
        return Text("" if rate is None else f"{rate:.1f} {self.unit}/s", style="progress.data.speed")


class EtaColumn(TimeRemainingColumn):
    """'ETA 0:00:34'; blank while the total is unknown."""

    def render(self, task: Task) -> Text:
        """rich's time remaining, labelled."""
        return Text("") if task.total is None else Text.assemble("ETA ", super().render(task))


def bar_columns(unit: str, detail: str = "") -> list[ProgressColumn]:
    """Description, bar, count/total, percent, rate, elapsed, ETA, then `detail` (a TextColumn format)."""
    columns: list[ProgressColumn] = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TaskProgressColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        EtaColumn(),
    ]
    if detail:
        columns.append(TextColumn(detail))
    return columns


def duration(seconds: float) -> str:
    """'34 s', '2 min 05 s', '1 h 02 min'."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def plain_line(task: Task, unit: str, detail: str = "", *, final: bool = False) -> str:
    """One line for a log: count/total (percent), rate, ETA (the elapsed time when final), then `detail`."""
    if task.total is None:  # an unknown length: count and rate only
        parts = [f"{task.completed:.0f} {unit}"]
    else:
        parts = [f"{task.completed:.0f}/{task.total:.0f} {unit} ({task.percentage:.0f} %)"]
    rate = rate_of(task)
    if rate is not None:
        parts.append(f"{rate:.1f} {unit}/s")
    if final:
        parts.append(f"elapsed {duration(task.elapsed or 0.0)}")
    elif task.total is not None and task.time_remaining is not None:
        parts.append(f"ETA {duration(task.time_remaining)}")
    if detail:
        parts.append(Text.from_markup(detail.format(task=task)).plain)
    return f"{task.description}: " + " · ".join(parts)


class Meter:
    """One counted task shown as it suits the console (use as a context manager).

    On a terminal (or Jupyter): a rich bar with count/total, percent, rate, elapsed time and ETA. On any
    other output: `plain_line` at most every `interval_s` seconds as updates come, and once when it
    stops. `detail` is a rich TextColumn format over the task's fields, e.g. "failed {task.fields[failed]}".
    """

    def __init__(
        self,
        console: Console,
        description: str,
        *,
        unit: str,
        total: float | None = None,
        completed: int = 0,
        detail: str = "",
        interval_s: float = PLAIN_INTERVAL_S,
        get_time: Callable[[], float] | None = None,
        **fields: Any,
    ) -> None:
        self.unit, self.detail, self.interval_s = unit, detail, interval_s
        self.live = redraws(console)
        self.progress = Progress(
            *bar_columns(unit, detail), console=console, disable=not self.live, get_time=get_time
        )
        self._task_id = self.progress.add_task(description, total=total, completed=completed, **fields)
        self._lock = threading.Lock()  # updates may come from a worker thread
        self._last_line = self.progress.get_time()
        self._discarded = False

    @property
    def task(self) -> Task:
        """The rich task: completed, total, elapsed, speed, fields."""
        return self.progress.tasks[0]

    def start(self) -> None:
        """Show the bar (on a terminal; elsewhere lines come with the updates)."""
        self.progress.start()

    def stop(self) -> None:
        """Leave the bar as it ends, or print the last line (unless discarded)."""
        self.progress.stop()
        if not self.live and not self._discarded:
            self._print(final=True)

    def __enter__(self) -> Meter:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def begin(self, total: float | None = None) -> None:
        """The counted work starts now (elapsed time and rate count from here), `total` units when known."""
        self.progress.reset(self._task_id, total=total, completed=int(self.task.completed))

    def update(
        self, *, advance: float = 0, total: float | None = None, description: str | None = None, **fields: Any
    ) -> None:
        """Move the task on and set fields; off a terminal, print a line when `interval_s` has passed."""
        self.progress.update(self._task_id, advance=advance, total=total, description=description, **fields)
        if not self.live:
            self._maybe_print()

    def discard(self) -> None:
        """Leave nothing behind on stopping, neither bar nor last line (nothing was counted)."""
        self.progress.live.transient = True
        self._discarded = True

    def _maybe_print(self) -> None:
        now = self.progress.get_time()
        with self._lock:
            if now - self._last_line < self.interval_s:
                return
            self._last_line = now
        self._print(final=False)

    def _print(self, *, final: bool) -> None:
        line = plain_line(self.task, self.unit, self.detail, final=final)
        self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
