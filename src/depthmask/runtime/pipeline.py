"""The streaming pipeline: reader threads → per-source buffers → batcher/inference → writer thread → sinks.

Decode and preprocessing happen in the reader threads, inference on the calling thread, writing in
its own thread, so the three overlap. Every frame read gets exactly one `Result`: ok, dropped (live
policy), decode_error, or skipped (interrupted before inference).
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depthmask.runtime.backends.base import Backend
from depthmask.runtime.buffer import FrameBuffer
from depthmask.runtime.records import Item, Result
from depthmask.runtime.signals import finalising
from depthmask.runtime.sinks.base import Sink
from depthmask.sources.base import Policy, Source
from depthmask.sources.fit import Fit, fit_frame

log = logging.getLogger("depthmask.runtime")
_END = object()


@dataclass(frozen=True)
class PipelineOptions:
    """How frames are batched and paced (the run command's settings that the pipeline needs)."""

    batch: int = 1
    max_wait_ms: float = 10.0
    buffer: int = 8
    realtime: bool = False
    fit: Fit = "resize"


@dataclass
class PipelineReport:
    """What happened: counts per status, wall time, and whether the run was interrupted."""

    counts: dict[str, int] = field(
        default_factory=lambda: {"ok": 0, "dropped": 0, "decode_error": 0, "skipped": 0}
    )
    wall_s: float = 0.0
    batches: int = 0
    interrupted: bool = False
    signal: int | None = None  # the signal that interrupted the run (SIGINT or SIGTERM)
    read: list[int] = field(default_factory=list)  # frames read per source (each has one record)
    end_notes: dict[str, str] = field(default_factory=dict)  # source id → why it ended early
    error: Exception | None = None  # what stopped the run early (a failing backend); re-raised by run()
    infer_ms: list[float] = field(default_factory=list)
    sink_ms: list[float] = field(default_factory=list)

    @property
    def frames(self) -> int:
        """Frames read (one result each)."""
        return sum(self.counts.values())


class Pipeline:
    """Runs sources through a loaded backend into sinks."""

    def __init__(
        self,
        sources: Sequence[Source],
        policies: Sequence[Policy],
        backend: Backend,
        sinks: Sequence[Sink],
        options: PipelineOptions,
        on_result: Callable[[Result], None] | None = None,
    ) -> None:
        self.sources = list(sources)
        self.backend = backend
        self.sinks = list(sinks)
        self.options = options
        self.on_result = on_result
        self.buffer = FrameBuffer(list(policies), options.buffer)
        self.out: queue.Queue[Any] = queue.Queue(maxsize=max(8, 4 * options.batch))
        self.report = PipelineReport(read=[0] * len(self.sources))
        self.end_notes: dict[int, str] = {}
        self._writer_error: BaseException | None = None
        self._batch_id = 0

    # -- readers -------------------------------------------------------------------------------------
    def _read(self, index: int, source: Source) -> None:
        info = self.backend.info
        it = iter(source)
        t_start = time.perf_counter()
        first_ts: float | None = None
        try:
            while not self.buffer.stopped:
                t0 = time.perf_counter()
                try:
                    frame = next(it)
                except StopIteration:
                    break
                except Exception as exc:  # a source failing mid-stream ends that source, not the run
                    # No frame was read, so no record: the source's end is noted once, in summary.json.
                    note = (
                        f"source failed after {self.report.read[index]} frames: {type(exc).__name__}: {exc}"
                    )
                    log.error("%s: %s", source.source_id, note)
                    self.end_notes[index] = note
                    break
                self.report.read[index] += 1
                t1 = time.perf_counter()
                if self.options.realtime:
                    first_ts = frame.timestamp if first_ts is None else first_ts
                    delay = (frame.timestamp - first_ts) - (time.perf_counter() - t_start)
                    if delay > 0:
                        time.sleep(delay)
                    t1 = time.perf_counter()
                item = Item(frame, index, t1, timings={"decode": (t1 - t0) * 1e3})
                if frame.ok:
                    try:
                        item.input = fit_frame(frame.image, info.height, info.width, self.options.fit)
                    except Exception as exc:  # any frame the fit cannot take is that frame's record
                        item.error = (
                            f"{source.source_id}: frame {frame.index} could not be fitted to "
                            f"{info.width}×{info.height} ({self.options.fit}): {type(exc).__name__}: {exc}"
                        )
                    item.timings["preprocess"] = (time.perf_counter() - t1) * 1e3
                dropped = self.buffer.put(index, item)
                if dropped is not None:
                    self._emit_direct(dropped, "dropped", "live policy: a newer frame replaced it")
        finally:
            self.buffer.end(index)

    def _emit_direct(self, item: Item, status: str, error: str | None) -> None:
        self.out.put(Result(item, status, error))  # type: ignore[arg-type]

    # -- writer --------------------------------------------------------------------------------------
    def _write(self) -> None:
        failed = False
        while True:
            res = self.out.get()
            if res is _END:
                return
            if failed:
                continue  # keep draining so the producer never blocks; the error is re-raised at the end
            try:
                t0 = time.perf_counter()
                for sink in self.sinks:
                    sink.write(res)  # optional outputs are guarded; only the audit log's failure ends here
                self.report.sink_ms.append((time.perf_counter() - t0) * 1e3)
                self.report.counts[res.status] += 1
                if self.on_result is not None:
                    self.on_result(res)
            except BaseException as exc:
                self._writer_error = exc
                self.buffer.stop()
                failed = True

    # -- batcher / inference -------------------------------------------------------------------------
    def _infer(self, good: list[Item]) -> None:
        batch_id = self._batch_id
        self._batch_id += 1
        frames = np.stack([it.input for it in good])
        t0 = time.perf_counter()
        outputs = self.backend.infer(frames)
        infer_ms = (time.perf_counter() - t0) * 1e3
        self.report.infer_ms.append(infer_ms)
        self.report.batches += 1
        columns = self.backend.info.stats_columns
        stats = outputs.get("stats")
        results = []
        for k, it in enumerate(good):
            it.timings["infer"] = infer_ms
            per = {name: arr[k] for name, arr in outputs.items()}
            st = {c: float(stats[k, j]) for j, c in enumerate(columns)} if stats is not None else {}
            results.append(Result(it, "ok", outputs=per, stats=st, batch=batch_id))
        for res in results:
            self.out.put(res)
            # Handed on (results are in `good`'s order): an interrupt from here on must not record
            # this frame a second time, as skipped.
            del good[0]

    def run(self) -> PipelineReport:
        """Process every source to its end (or until interrupted); sinks are opened and closed by the
        caller. An interrupt (`KeyboardInterrupt`, which SIGTERM raises too under
        `depthmask.runtime.signals.interruptible`) gives every frame still in flight a `skipped` record."""
        readers = [
            threading.Thread(target=self._read, args=(i, s), name=f"reader-{i}", daemon=True)
            for i, s in enumerate(self.sources)
        ]
        writer = threading.Thread(target=self._write, name="writer", daemon=True)
        t0 = time.perf_counter()
        writer.start()
        for r in readers:
            r.start()
        pending: list[Item] = []  # the filling batch: owned here, so an interrupt cannot lose it
        try:
            while self._writer_error is None:
                if not self.buffer.take(pending, self.options.batch, self.options.max_wait_ms / 1e3):
                    break
                for it in [it for it in pending if it.input is None]:
                    self.out.put(Result(it, "decode_error", it.error or it.frame.error))
                    pending.remove(it)
                if pending:
                    self._infer(pending)
        except KeyboardInterrupt as exc:
            self.report.interrupted = True
            self.report.signal = getattr(exc, "signum", signal.SIGINT)
            log.warning(
                "interrupted (%s): flushing what was processed", signal.Signals(self.report.signal).name
            )
        except Exception as exc:  # a failing backend ends the run; what was processed is still written
            self.report.error = exc
            log.error("inference failed, stopping: %s", exc)
        finally:
            with finalising():  # a first signal now must not lose the records still queued
                self.buffer.stop()
                reason = (
                    f"run stopped before inference: {self.report.error}"
                    if self.report.error is not None
                    else "run interrupted before inference"
                )
                for it in pending + self.buffer.drain():
                    self.out.put(Result(it, "skipped", reason))
                pending.clear()
                for r in readers:
                    r.join(timeout=2.0)
                for it in self.buffer.drain():  # anything a reader added while stopping
                    self.out.put(Result(it, "skipped", reason))
                self.out.put(_END)
                writer.join()
                self.report.wall_s = time.perf_counter() - t0
                for i, source in enumerate(self.sources):
                    note = self.end_notes.get(i) or getattr(source, "end_note", None)
                    if note:
                        self.report.end_notes[source.source_id] = note
        if self._writer_error is not None and self.report.error is None:
            # The audit log could not be written: the run ends, the caller writes summary.json and
            # then raises it (the records already in audit.jsonl stay as they are).
            self.report.error = self._writer_error  # type: ignore[assignment]
        return self.report
