"""The streaming pipeline: reader threads → per-source buffers → batcher/inference → writer thread → sinks.

Decode and preprocessing happen in the reader threads, inference on the calling thread, writing in
its own thread, so the three overlap. Every frame read gets exactly one `Result`: ok, dropped (live
policy), decode_error, or skipped (interrupted before inference).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from depthmask.contract.constants import ATTENTION_JUMP_IOU
from depthmask.contract.spec import (
    CURVE_COLUMNS,
    CURVE_METHODS,
    CURVE_NAME,
    REGION_COLUMNS,
    REGION_STATS_NAME,
)
from depthmask.runtime.backends.base import Backend
from depthmask.runtime.buffer import FrameBuffer
from depthmask.runtime.records import Item, Result
from depthmask.runtime.regions import RegionPlan, region_maps, stack_maps
from depthmask.runtime.signals import deferred, received
from depthmask.runtime.sinks.base import Sink
from depthmask.runtime.temporal import AttentionTracker
from depthmask.sources.base import Policy, Source
from depthmask.sources.fit import Fit, as_bgr, fit_frame, placement

log = logging.getLogger("depthmask.runtime")
_END = object()
DROPPED = "live policy: a newer frame replaced it"
MAX_PACING_WAIT_S = 5.0  # --realtime: the longest a reader waits for one frame's time to come
READER_JOIN_S = 10.0  # how long the end of a run waits for a reader blocked in its source
BUFFER_EVERY = 8  # frames buffered per source under `every`: enough to fill a batch while one runs
BUFFER_LIVE = 2  # under `live`: only the newest frames wait, so what is inferred is fresh


def display_copy(image: np.ndarray, max_width: int) -> np.ndarray:
    """The frame at its own aspect, scaled down (never up) to at most `max_width` pixels wide."""
    h, w = image.shape[:2]
    if w <= max_width:
        return image
    size = (max_width, max(1, round(h * max_width / w)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class PipelineOptions:
    """How frames are batched and paced (the run command's settings that the pipeline needs)."""

    batch: int = 1
    max_wait_ms: float = 10.0
    buffer: int | None = None  # frames held per source; None: BUFFER_EVERY or BUFFER_LIVE by its policy
    realtime: bool = False
    fit: Fit = "resize"
    max_frames: int | None = None  # per source; the source is then left unread, as if it had ended
    display_width: int | None = None  # keep each frame at its own aspect, at most this wide (overlays)
    jump_iou: float = ATTENTION_JUMP_IOU  # flag attention_jump when a mask's IoU with the last is below it
    regions: RegionPlan | None = None  # boxes to audit (a region graph); None: the frame's content alone


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
    source_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # first decoded (h, w) each
    end_notes: dict[str, str] = field(default_factory=dict)  # source id → why it ended early
    error: Exception | None = None  # what stopped the run early (a failing backend); re-raised by run()
    infer_ms: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)  # frames in each inferred batch
    sink_ms: list[float] = field(default_factory=list)

    @property
    def frames(self) -> int:
        """Frames read (one result each)."""
        return sum(self.counts.values())


def region_rows(item: Item, rows: np.ndarray) -> list[dict[str, Any]]:
    """One frame's `region_stats` [R, K] as a record per box (map 0, the frame itself, is the record's
    own stats). A box the model does not see (cropped away) has area 0 and no statistics (null)."""
    out = []
    for box, row in zip(item.boxes, rows[1:], strict=False):
        values = dict(zip(REGION_COLUMNS, (float(v) for v in row), strict=True))
        seen = values["area"] > 0
        out.append({
            "name": box.name,
            "box": box.to_list(),
            **{k: v if seen or k == "area" else float("nan") for k, v in values.items()},
        })  # fmt: skip
    return out


def curve_points(values: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """One frame's `curve` [methods, keeps, columns] as method → column → one value per kept share."""
    return {
        method: {column: [float(v) for v in values[m, :, c]] for c, column in enumerate(CURVE_COLUMNS)}
        for m, method in enumerate(CURVE_METHODS)
    }


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
        capacities = [options.buffer or (BUFFER_LIVE if p == "live" else BUFFER_EVERY) for p in policies]
        self.buffer = FrameBuffer(list(policies), capacities)
        self.out: queue.Queue[Any] = queue.Queue(maxsize=max(8, 4 * options.batch))
        self.report = PipelineReport(read=[0] * len(self.sources))
        self.end_notes: dict[int, str] = {}
        self.stuck: list[int] = []  # sources whose reader was still blocked when the run ended
        self._writer_error: BaseException | None = None
        self.tracker = AttentionTracker(options.jump_iou)
        self._batch_id = 0
        # A region graph gets every frame's content map (letterbox padding is left out of its statistics)
        # and the boxes; an engine takes at most `max_maps` maps a frame (None: any number).
        self.region_graph = backend.info.max_regions is not None
        self.max_maps: int | None = getattr(backend, "max_maps", None)

    # -- readers -------------------------------------------------------------------------------------
    def _read(self, index: int, source: Source) -> None:
        t_start = time.perf_counter()
        first_ts: float | None = None
        try:
            info = self.backend.info
            it = iter(source)
            while not self.buffer.stopped:
                t0 = time.perf_counter()
                try:
                    frame = next(it)
                except StopIteration:
                    break
                except Exception as exc:  # a source failing mid-stream ends that source, not the run
                    # No frame was read, so no record: the source's end is noted once, in summary.json.
                    note = (
                        f"source failed after {self.buffer.read[index]} frames: {type(exc).__name__}: {exc}"
                    )
                    log.error("%s: %s", source.source_id, note)
                    self.end_notes[index] = note
                    break
                t1 = time.perf_counter()
                item = Item(frame, index, t1, timings={"decode": (t1 - t0) * 1e3})
                try:
                    if self.options.realtime:
                        first_ts = frame.timestamp if first_ts is None else first_ts
                        delay = (frame.timestamp - first_ts) - (time.perf_counter() - t_start)
                        # Paced by the source's clock, capped so a jump in its timestamps cannot stall.
                        self.buffer.stop_event.wait(min(delay, MAX_PACING_WAIT_S))
                        item.t_read = t1 = time.perf_counter()
                    if frame.ok:
                        self._prepare(item, info, source.source_id)
                        item.t_ready = time.perf_counter()
                except Exception as exc:  # a frame the reader cannot handle is still that frame's record
                    item.input, item.error = None, f"{source.source_id}: frame {frame.index}: {exc!r}"
                if not self.buffer.put(index, item):
                    break  # the run is over: this frame was read after the end and is not counted
                if self.options.max_frames is not None and self.buffer.read[index] >= self.options.max_frames:
                    break
        except Exception as exc:  # a reader must never die silently: its source ends, and says why
            self.end_notes[index] = f"reader failed: {type(exc).__name__}: {exc}"
            log.error("%s: %s", source.source_id, self.end_notes[index])
        finally:
            self.buffer.end(index)

    def _prepare(self, item: Item, info: Any, source_id: str) -> None:
        """Fit the decoded frame to the model's input; any failure becomes the frame's record. The
        full-size decoded image is not kept (only the fitted one travels on)."""
        frame = item.frame
        try:
            image = as_bgr(frame.image)  # once: the fit and the display copy both start from it
            item.input = fit_frame(image, info.height, info.width, self.options.fit)
            shape = image.shape[:2]
            self.report.source_sizes.setdefault(source_id, shape)
            if self.options.display_width is not None or self.region_graph:
                item.placement = placement(shape, info.height, info.width, self.options.fit)
            if self.options.display_width is not None:
                item.display = display_copy(image, self.options.display_width)
            if self.region_graph:
                assert item.placement is not None
                plan = self.options.regions
                boxes = plan.boxes_for(source_id, frame.index) if plan is not None else ()
                if self.max_maps is not None and len(boxes) >= self.max_maps:
                    item.boxes_over = tuple(b.name for b in boxes[self.max_maps - 1 :])
                    boxes = boxes[: self.max_maps - 1]
                item.boxes, item.regions = boxes, region_maps(boxes, item.placement)
        except Exception as exc:  # any frame the fit cannot take is that frame's record
            item.error = (
                f"{source_id}: frame {frame.index} could not be fitted to {info.width}×{info.height} "
                f"({self.options.fit}): {type(exc).__name__}: {exc}"
            )
        item.frame = dataclasses.replace(frame, image=None)

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
                self.tracker.update(res)  # here: results reach the writer in each source's frame order
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
        regions = stack_maps([it.regions for it in good]) if self.region_graph else None
        t0 = time.perf_counter()
        outputs = self.backend.infer(frames, regions) if regions is not None else self.backend.infer(frames)
        t1 = time.perf_counter()
        infer_ms = (t1 - t0) * 1e3
        self.report.infer_ms.append(infer_ms)
        self.report.batch_sizes.append(len(good))
        self.report.batches += 1
        columns = self.backend.info.stats_columns
        stats = outputs.get("stats")
        region_stats = outputs.pop(REGION_STATS_NAME, None)
        curve = outputs.pop(CURVE_NAME, None)
        results = []
        for k, it in enumerate(good):
            it.t_infer = (t0, t1)
            per = {name: arr[k] for name, arr in outputs.items()}
            st = {c: float(stats[k, j]) for j, c in enumerate(columns)} if stats is not None else {}
            rows = region_rows(it, region_stats[k]) if region_stats is not None else []
            points = curve_points(curve[k]) if curve is not None else {}
            results.append(
                Result(it, "ok", outputs=per, stats=st, batch=batch_id, regions=rows, curve=points)
            )
            it.regions = None  # the maps are not kept past inference
        for res in results:
            self.out.put(res)
            # Handed on (results are in `good`'s order): an interrupt from here on must not record
            # this frame a second time, as skipped.
            del good[0]

    def run(self) -> PipelineReport:
        """Process every source to its end, or until a signal or an interrupt; sinks are opened and
        closed by the caller. Every frame a source read gets one record: frames still buffered or in
        the filling batch when the run stops get `skipped` ones."""
        pending: list[Item] = []  # the filling batch: owned here, so an interrupt cannot lose it
        readers: list[threading.Thread] = []
        writer = threading.Thread(target=self._write, name="writer", daemon=True)
        t0 = time.perf_counter()
        with deferred(on_signal=self.buffer.stop):  # a signal stops the loop below between batches
            try:
                writer.start()
                for i, s in enumerate(self.sources):
                    readers.append(
                        threading.Thread(target=self._read, args=(i, s), name=f"reader-{i}", daemon=True)
                    )
                    readers[-1].start()
                while self._writer_error is None and received() is None:
                    more = self.buffer.take(pending, self.options.batch, self.options.max_wait_ms / 1e3)
                    for it in self.buffer.take_dropped():
                        self.out.put(Result(it, "dropped", DROPPED))
                    if not more or received() is not None:
                        break
                    for it in [it for it in pending if it.input is None]:
                        self.out.put(Result(it, "decode_error", it.error or it.frame.error))
                        pending.remove(it)
                    if pending:
                        self._infer(pending)
            except KeyboardInterrupt as exc:  # outside `interruptible` (a library caller's Ctrl-C)
                self.report.interrupted = True
                self.report.signal = getattr(exc, "signum", signal.SIGINT)
            except Exception as exc:  # a failing backend ends the run; what was processed is still written
                self.report.error = exc
                log.error("inference failed, stopping: %s", exc)
            finally:
                if received() is not None:
                    self.report.interrupted, self.report.signal = True, received()
                self._finish(pending, readers, writer)
                self.report.wall_s = time.perf_counter() - t0
        if self._writer_error is not None and self.report.error is None:
            # The audit log could not be written: the run ends, the caller writes summary.json and
            # then raises it (the records already in audit.jsonl stay as they are).
            self.report.error = self._writer_error  # type: ignore[assignment]
        return self.report

    def _finish(self, pending: list[Item], readers: list[threading.Thread], writer: threading.Thread) -> None:
        """Give every frame still in flight its record, then end the writer."""
        if self.report.interrupted:
            log.warning(
                "interrupted (%s): giving the frames in flight their records",
                signal.Signals(self.report.signal or signal.SIGINT).name,
            )
        self.buffer.stop()
        reason = (
            f"run stopped before inference: {self.report.error}"
            if self.report.error is not None
            else "run interrupted before inference"
        )
        for r in readers:
            r.join(timeout=READER_JOIN_S)
        self.stuck = [i for i, r in enumerate(readers) if r.is_alive()]
        for i in self.stuck:  # blocked in its source (a stalled stream): its next frame is not counted
            log.warning("%s: still blocked in a read after %.0f s", self.sources[i].source_id, READER_JOIN_S)
        buffered, dropped = self.buffer.drain(close=True)
        for it in dropped:
            self.out.put(Result(it, "dropped", DROPPED))
        for it in pending + buffered:
            self.out.put(Result(it, "skipped", reason))
        pending.clear()
        if writer.is_alive():
            self.out.put(_END)
            writer.join()
        self.report.read = list(self.buffer.read)
        for i, source in enumerate(self.sources):
            note = self.end_notes.get(i) or getattr(source, "end_note", None)
            if note:
                self.report.end_notes[source.source_id] = note
