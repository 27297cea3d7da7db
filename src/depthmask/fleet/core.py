"""`fleet(cfg)`: the core of `depthmask fleet` — drives over Ray workers, committed whole, merged at the end.

Each attempt of a drive writes into its own staging folder (`drives/.partial/<name>.<attempt>`); only
the driver moves a finished one to `drives/<name>` and writes its completion marker, so a worker that
dies mid-drive leaves nothing in the final outputs, and its drive is simply done again (no duplicate, no
missing record). A drive that fails `retries + 1` times is reported failed with its errors; the others
go on. SIGINT or SIGTERM stops the workers, discards the drives in flight (they are due on the next run)
and still writes fleet.json and the fleet report for what is done.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from depthmask.contract import exits
from depthmask.contract.hashing import sha256_of
from depthmask.environment import fingerprint
from depthmask.errors import DepthmaskError, ModelNotFoundError, OutputError
from depthmask.fleet.cluster import Cluster, failure_of, plan_workers, ray_cluster, start_workers, stop_worker
from depthmask.fleet.config import FleetConfig
from depthmask.fleet.drives import Drive, expand_drives
from depthmask.fleet.marker import is_complete, write_marker
from depthmask.fleet.merge import merge_fleet
from depthmask.runtime.run import prepare_output_folder
from depthmask.runtime.signals import Interrupted, deferred, interruptible, received
from depthmask.runtime.sinks.audit import write_json_atomic

log = logging.getLogger("depthmask.fleet")
DRIVES = "drives"
PARTIAL = ".partial"
LOCK = ".fleet.lock"
WAIT_S = 0.5  # how often the driver looks up from waiting (a signal is handled between looks)


@dataclass
class DriveState:
    """Where one drive stands: pending, running, complete or failed."""

    drive: Drive
    status: str = "pending"
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    resumed: bool = False  # complete from an earlier run of the fleet
    worker: dict[str, Any] | None = None
    wall_s: float | None = None
    frames: int = 0


@dataclass
class _Slot:
    actor: Any
    identity: dict[str, Any]
    busy: tuple[Any, DriveState, Path] | None = None  # (result ref, drive, staging folder)


def drive_folder(out: Path, drive: Drive) -> Path:
    """Where a drive's committed outputs live."""
    return out / DRIVES / drive.name


def fleet(
    cfg: FleetConfig,
    on_start: Callable[[int, int], None] | None = None,
    on_drive: Callable[[DriveState], None] | None = None,
) -> dict[str, Any]:
    """Audit every drive; returns the merged fleet result (also written to fleet.json).

    `on_start(due, done)` is told how many drives are due and how many a previous run completed;
    `on_drive(state)` hears of each drive that completes or fails for good.
    """
    drives = expand_drives(cfg.run.sources)
    model = cfg.run.model
    if not model.is_file():
        raise ModelNotFoundError(f"--model {model}: no such file; export one with `depthmask export`")
    out = prepare_output_folder(cfg.out, exist_ok=True)  # the fleet's folder is its resumable state
    with _sole_writer(out):
        return _audit(cfg, drives, out, on_start, on_drive)


@contextlib.contextmanager
def _sole_writer(out: Path) -> Iterator[None]:
    """One fleet at a time per folder (two would commit the same drives); the lock goes with the process."""
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise OutputError(
                f"--out {out}: another depthmask fleet (pid {holder}) is writing there; wait for it to end "
                "or pass another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


def _audit(
    cfg: FleetConfig,
    drives: list[Drive],
    out: Path,
    on_start: Callable[[int, int], None] | None,
    on_drive: Callable[[DriveState], None] | None,
) -> dict[str, Any]:
    model = cfg.run.model
    model_sha = sha256_of(model)
    states = [DriveState(d) for d in drives]
    for state in states:
        if cfg.resume and is_complete(drive_folder(out, state.drive), state.drive.spec, model_sha, cfg.run):
            state.status, state.resumed = "complete", True
    due = [s for s in states if s.status == "pending"]
    t0 = time.time()
    cluster_info: dict[str, Any] | None = None
    interrupted: int | None = None
    error: DepthmaskError | None = None
    with interruptible():
        if on_start is not None:
            on_start(len(due), len(states) - len(due))
        try:
            if due:
                with ray_cluster(cfg) as cluster:
                    cluster_info = cluster.describe()
                    try:
                        _dispatch(cfg, cluster, out, due, model_sha, on_drive, cluster_info)
                    finally:
                        with deferred():
                            for state in due:  # drives in flight when stopped are due next time
                                if state.status == "running":
                                    state.status = "pending"
        except KeyboardInterrupt as exc:  # ours (Interrupted), or Ray's own from inside ray.wait
            interrupted = exc.signum if isinstance(exc, Interrupted) else received() or signal.SIGINT
        except DepthmaskError as exc:  # a worker that cannot load the model: recorded, then raised
            error = exc
        with deferred():  # the merged result is written whatever stopped the fleet
            shutil.rmtree(out / DRIVES / PARTIAL, ignore_errors=True)
            result = merge_fleet(out, states, DRIVES)
            result.update({
                "model": {"path": str(model), "sha256": model_sha},
                "cluster": cluster_info,
                "started": t0,
                "wall_s": round(time.time() - t0, 3),
                "interrupted": interrupted is not None,
                "signal": signal.Signals(interrupted).name if interrupted else None,
                "error": None if error is None else f"{type(error).__name__}: {error}",
                "config": cfg.to_dict(),
                "environment": fingerprint(),
            })  # fmt: skip
            ok = result["totals"]["counts"]["ok"]
            result["frames_per_s"] = round(ok / result["wall_s"], 3) if result["wall_s"] > 0 else None
            result["exit_status"] = exits.USER_ERROR if error else _exit_status(result, interrupted)
            write_json_atomic(out / "fleet.json", result)
            if cfg.reports:
                from depthmask.report.fleet import build_fleet_report

                build_fleet_report(out)
    if error is not None:  # the drives done and fleet.json are kept; now the user sees the error
        raise error
    return result


def _dispatch(
    cfg: FleetConfig,
    cluster: Cluster,
    out: Path,
    due: list[DriveState],
    model_sha: str,
    on_drive: Callable[[DriveState], None] | None,
    info: dict[str, Any],
) -> None:
    """Keep every worker busy with one drive until none is due; commit or retry each as it returns."""
    ray = cluster.ray
    plan = plan_workers(cfg, cluster, len(due))
    info.update({"workers": plan.workers, "cpus_per_worker": plan.cpus, "gpus_per_worker": plan.gpus,
                 "threads_per_worker": plan.template.threads})  # fmt: skip
    cwd = os.getcwd()
    queue = collections.deque(due)
    slots: list[_Slot] = []
    try:
        slots += [_Slot(*started) for started in start_workers(cluster, plan, cwd, plan.workers)]
        info["worker_pids"] = [s.identity.get("pid") for s in slots]
        for slot in slots:
            _submit(slot, queue, out, cfg.reports)
        while any(s.busy for s in slots):
            refs = [s.busy[0] for s in slots if s.busy]
            ready, _ = ray.wait(refs, num_returns=1, timeout=WAIT_S)
            for slot in slots:
                if slot.busy is None or slot.busy[0] not in ready:
                    continue
                ref, state, staging = slot.busy
                slot.busy = None
                try:
                    result = ray.get(ref)
                except Exception as exc:  # a RayError: the drive's own failure or a lost worker
                    error, lost = failure_of(cluster, exc)
                    _failed(state, error, staging, queue, cfg.retries, on_drive)
                    if lost:
                        stop_worker(cluster, slot.actor)
                        ((slot.actor, slot.identity),) = start_workers(cluster, plan, cwd, 1)
                        info["workers_replaced"] = info.get("workers_replaced", 0) + 1
                else:
                    try:
                        with deferred():  # a drive is moved and marked whole, or not at all
                            _commit(out, state, staging, model_sha, cfg, slot.identity, result)
                    except OSError as exc:  # a full disk under drives/: this attempt failed, not the fleet
                        why = f"its outputs could not be committed ({exc.strerror or exc})"
                        _failed(state, why, staging, queue, cfg.retries, on_drive)
                    else:
                        if on_drive is not None:
                            on_drive(state)
                _submit(slot, queue, out, cfg.reports)
    finally:
        for slot in slots:
            stop_worker(cluster, slot.actor)


def _submit(slot: _Slot, queue: collections.deque[DriveState], out: Path, report: bool) -> None:
    """Give the worker the next due drive, in a fresh staging folder."""
    if not queue:
        return
    state = queue.popleft()
    state.attempts += 1
    state.status = "running"
    staging = out / DRIVES / PARTIAL / f"{state.drive.name}.{state.attempts}"
    shutil.rmtree(staging, ignore_errors=True)  # left by an earlier, stopped fleet run
    final = str(drive_folder(out, state.drive))
    ref = slot.actor.audit.remote(state.drive.spec, str(staging), state.attempts, report, final)
    slot.busy = (ref, state, staging)


def _failed(
    state: DriveState,
    error: str,
    staging: Path,
    queue: collections.deque[DriveState],
    retries: int,
    on_drive: Callable[[DriveState], None] | None,
) -> None:
    """Note an attempt's error, discard its outputs, and queue the drive again while tries are left."""
    log.warning("drive %s, attempt %d: %s", state.drive.spec, state.attempts, error)
    state.errors.append(f"attempt {state.attempts}: {error}")
    shutil.rmtree(staging, ignore_errors=True)
    if state.attempts <= retries:
        state.status = "pending"
        queue.append(state)  # behind the others, so one bad drive does not hold a worker
    else:
        state.status = "failed"
        if on_drive is not None:
            on_drive(state)


def _commit(
    out: Path,
    state: DriveState,
    staging: Path,
    model_sha: str,
    cfg: FleetConfig,
    identity: dict[str, Any],
    result: dict[str, Any],
) -> None:
    """Move a finished attempt to the drive's folder (replacing an older, unmarked one) and mark it."""
    final = drive_folder(out, state.drive)
    if final.exists():
        shutil.rmtree(final)  # a stale audit (another model, other settings, or never completed)
    os.replace(staging, final)
    extra = {"attempts": state.attempts, "errors": state.errors, "worker": identity,
             "report_error": result.get("report_error")}  # fmt: skip
    write_marker(final, state.drive.spec, model_sha, cfg.run, extra)
    state.status, state.worker = "complete", identity
    state.wall_s, state.frames = result.get("wall_s"), int(result.get("frames") or 0)


def _exit_status(result: dict[str, Any], interrupted: int | None) -> int:
    if interrupted is not None:
        return exits.interrupted(interrupted)
    failed = result["totals"]["drives"]["failed"] or result["totals"]["counts"]["decode_error"]
    return exits.FRAMES_FAILED if failed else exits.OK
