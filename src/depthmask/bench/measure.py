"""Timing loops in the conventions of contracts §5: a declared warm-up, then at least `seconds` and `iters`
iterations (a cap, when given, stops slow rows earlier and says so); frames/s = frames / wall time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from depthmask.runtime.latency import summarize


@dataclass(frozen=True)
class Timing:
    """Per-call latencies of a timed loop and its wall time."""

    latencies_ms: tuple[float, ...]
    wall_s: float
    warmup: int
    capped: bool  # stopped by `max_seconds` before reaching `seconds` and `iters`

    @property
    def iterations(self) -> int:
        """Timed calls."""
        return len(self.latencies_ms)

    def frames_per_s(self, batch: int) -> float:
        """Frames through per second of wall time (the loop's own overhead included)."""
        return batch * self.iterations / self.wall_s if self.wall_s > 0 else float("nan")

    def merged(self, other: Timing) -> Timing:
        """Both loops' calls and wall time pooled (e.g. one run before and one after something else)."""
        return Timing(
            self.latencies_ms + other.latencies_ms,
            self.wall_s + other.wall_s,
            self.warmup + other.warmup,
            self.capped or other.capped,
        )

    def summary(self) -> dict[str, Any]:
        """p50/p90/p99/max, mean and std of the per-call latencies, milliseconds."""
        return summarize(self.latencies_ms)


def time_calls(
    fn: Callable[[], Any],
    *,
    warmup: int,
    seconds: float,
    iters: int,
    max_seconds: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Call `fn` `warmup` times untimed, then until both `seconds` have passed and `iters` calls are done
    (or `max_seconds` has passed, whichever is first; at least one timed call always runs)."""
    for _ in range(warmup):
        fn()
    latencies: list[float] = []
    start = clock()
    capped = False
    while True:
        t0 = clock()
        fn()
        t1 = clock()
        latencies.append((t1 - t0) * 1e3)
        elapsed = t1 - start
        if elapsed >= seconds and len(latencies) >= iters:
            break
        if max_seconds is not None and elapsed >= max_seconds:
            capped = True
            break
    return Timing(tuple(latencies), clock() - start, warmup, capped)
