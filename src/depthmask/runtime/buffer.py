"""Per-source frame buffers between the reader threads and the batcher, with the two frame policies.

`every`: a full buffer blocks its reader (back-pressure, nothing dropped). `live`: a full buffer
drops its oldest frame to make room for the newest, and a batch takes a live source's newest frames
(older ones that would not fit the batch are dropped then); a dropped item waits in `dropped` so it
still gets its audit record. The buffer also counts the frames each source read: a frame is counted when it
is accepted, under the same lock that `close` takes, so every counted frame is in the buffer, in
`dropped` or taken by the batcher — never lost between a reader and the end of the run. Written by
hand because no queue in the standard library does drop-oldest per producer with one consumer
waiting on all of them.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from depthmask.runtime.records import Item
from depthmask.sources.base import Policy


class FrameBuffer:
    """Bounded per-source deques sharing one condition variable."""

    def __init__(self, policies: list[Policy], capacity: int | list[int]) -> None:
        self.policies = policies
        capacities = capacity if isinstance(capacity, list) else [capacity] * len(policies)
        self.capacity = [max(1, c) for c in capacities]
        self.queues: list[deque[Item]] = [deque() for _ in policies]
        self.ended = [False] * len(policies)
        self.cond = threading.Condition()  # re-entrant: a signal handler may call stop() mid-take
        self.stopped = False
        self.closed = False
        self.stop_event = threading.Event()  # readers wait on it instead of sleeping
        self.read = [0] * len(policies)  # frames accepted per source (each gets one record)
        self.dropped: list[Item] = []  # live policy: replaced by a newer frame, awaiting their records
        self._next = 0  # round-robin start, so no source starves another

    def put(self, source: int, item: Item) -> bool:
        """Add a frame read from `source` and count it; False (not counted) once the run is closed."""
        with self.cond:
            q = self.queues[source]
            capacity = self.capacity[source]
            if self.policies[source] == "every":
                while len(q) >= capacity and not self.stopped:
                    self.cond.wait(0.1)
            if self.closed:
                return False
            self.read[source] += 1
            if len(q) >= capacity and self.policies[source] == "live":
                self.dropped.append(q.popleft())  # (an `every` buffer only overfills once stopped)
            q.append(item)
            self.cond.notify_all()
            return True

    def take_dropped(self) -> list[Item]:
        """The frames the live policy dropped since the last call."""
        with self.cond:
            out, self.dropped = self.dropped, []
            return out

    def end(self, source: int) -> None:
        """Mark a source as finished."""
        with self.cond:
            self.ended[source] = True
            self.cond.notify_all()

    def stop(self) -> None:
        """Wake everyone up; readers stop reading (what they already read is still accepted)."""
        with self.cond:
            self.stopped = True
            self.stop_event.set()
            self.cond.notify_all()

    def _pending(self) -> int:
        return sum(len(q) for q in self.queues)

    def _pop_round_robin(self, limit: int, into: list[Item]) -> None:
        n = len(self.queues)
        while len(into) < limit and self._pending():
            for k in range(n):
                index = (self._next + k) % n
                q = self.queues[index]
                if q:
                    if self.policies[index] == "live":
                        while len(q) > limit - len(into):  # too old to make this batch: the newest go
                            self.dropped.append(q.popleft())
                    into.append(q.popleft())
                    self._next = (self._next + k + 1) % n
                    break

    def take(self, into: list[Item], limit: int, max_wait_s: float) -> bool:
        """Move up to `limit` frames into `into`: waits for the first, then at most `max_wait_s` for the
        batch to fill. Returns False once every source has ended and nothing is left.

        Frames go straight into the caller's list, so an interrupt while the batch fills (Ctrl-C inside
        the wait) leaves them where the caller can still give each its record.
        """
        with self.cond:
            while not self._pending():
                if all(self.ended) or self.stopped:
                    return False
                self.cond.wait(0.1)
            self._pop_round_robin(limit, into)
            deadline = time.perf_counter() + max_wait_s
            while len(into) < limit and not all(self.ended) and not self.stopped:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
                self._pop_round_robin(limit, into)
            self.cond.notify_all()
            return True

    def drain(self, close: bool = False) -> tuple[list[Item], list[Item]]:
        """(still buffered, dropped by the live policy): everything not yet given a record, at the end.
        With `close`, no frame is accepted afterwards (a reader still blocked in its source finds the
        run over, and that frame is not counted as read)."""
        with self.cond:
            items = [it for q in self.queues for it in q]
            for q in self.queues:
                q.clear()
            dropped, self.dropped = self.dropped, []
            self.closed = self.closed or close
            self.cond.notify_all()
            return items, dropped
