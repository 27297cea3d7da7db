"""The Ray side of a fleet: start or join a cluster, size and start the workers, tell a lost worker from
a failed drive. Everything that touches `ray` is here (imported lazily: `depthmask[fleet]`)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from depthmask.errors import ConfigError, DepthmaskError, require
from depthmask.fleet.config import FleetConfig
from depthmask.fleet.worker import DriveAuditor
from depthmask.runtime.config import RunConfig
from depthmask.runtime.signals import reclaim

log = logging.getLogger("depthmask.fleet")
LOAD_TIMEOUT_S = 600.0  # a worker that has not loaded the model by then is waiting for resources


@dataclass
class Cluster:
    """A connected Ray: its resources and whether this fleet started it."""

    ray: Any
    address: str
    started_here: bool
    cpus: float
    gpus: float

    def describe(self) -> dict[str, Any]:
        """Where the fleet ran: the address, the nodes and the resources."""
        nodes = [n for n in self.ray.nodes() if n.get("Alive")]
        return {
            "address": self.address,
            "started_here": self.started_here,
            "nodes": len(nodes),
            "cpus": self.cpus,
            "gpus": self.gpus,
            "ray": self.ray.__version__,
        }


@contextlib.contextmanager
def ray_cluster(cfg: FleetConfig) -> Iterator[Cluster]:
    """A Ray cluster for the fleet: the one already connected in this process, the one `cfg.address`
    names, or a local one with this machine's cores, shut down (every Ray process with it) at the end."""
    require("ray", "fleet", "depthmask fleet")
    import ray

    connect = not ray.is_initialized()
    if connect:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   "logging_level": logging.ERROR, **cfg.extra}  # fmt: skip
        if cfg.address in (None, "local"):
            options.setdefault("num_cpus", os.cpu_count() or 1)
        else:
            options["address"] = cfg.address
        try:
            ray.init(**options)
        except (ConnectionError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"--address {cfg.address}: could not join a Ray cluster there ({exc}); start one with "
                "`ray start --head` on the head node, or leave --address out for a local one"
            ) from None
        reclaim()  # ray.init sets a SIGTERM handler that would exit without finalising fleet.json
    try:
        resources = ray.cluster_resources()
        yield Cluster(
            ray, cfg.address or "local", connect and cfg.address in (None, "local"),
            float(resources.get("CPU", 0)), float(resources.get("GPU", 0)),
        )  # fmt: skip
    finally:
        if connect:
            ray.shutdown()  # a local cluster stops; a joined one is only left


@dataclass(frozen=True)
class WorkerPlan:
    """How many workers, and what each asks of the cluster."""

    workers: int
    cpus: float
    gpus: float
    template: RunConfig  # the run settings each worker's drives get (threads set to its CPUs)


def plan_workers(cfg: FleetConfig, cluster: Cluster, drives: int) -> WorkerPlan:
    """Workers for `drives` drives on `cluster`: --workers, else as many as its CPUs (or GPUs) hold;
    ConfigError when the cluster cannot hold the workers asked for (they would wait for ever)."""
    gpus = cfg.gpus_per_worker if cfg.gpus_per_worker is not None else (1.0 if cluster.gpus >= 1 else 0.0)
    if gpus > cluster.gpus:
        raise ConfigError(
            f"--gpus-per-worker {gpus:g}: the cluster has {cluster.gpus:g} GPUs; lower it (0 runs on CPUs)"
        )
    fits = math.floor(cluster.cpus / cfg.cpus_per_worker + 1e-9)
    if gpus > 0:
        fits = min(fits, math.floor(cluster.gpus / gpus + 1e-9))
    workers = cfg.workers if cfg.workers is not None else max(1, min(fits, drives))
    if workers > fits:
        raise ConfigError(
            f"--workers {workers} × --cpus-per-worker {cfg.cpus_per_worker:g}"
            + (f" × --gpus-per-worker {gpus:g}" if gpus else "")
            + f" needs more than the cluster has ({cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs); "
            f"at most {fits} fit: lower --workers or the resources per worker"
        )
    threads = cfg.run.threads or max(1, int(cfg.cpus_per_worker))
    return WorkerPlan(workers, cfg.cpus_per_worker, gpus, dataclasses.replace(cfg.run, threads=threads))


def start_workers(
    cluster: Cluster, plan: WorkerPlan, cwd: str, count: int
) -> list[tuple[Any, dict[str, Any]]]:
    """`count` new worker actors with the model loaded, started side by side: (handle, what each describes
    of itself) for each.

    A model that cannot be loaded raises the loader's own error (the same on every worker, so the fleet
    stops); a worker that cannot be placed in LOAD_TIMEOUT_S raises ConfigError.
    """
    ray = cluster.ray
    actor_class = ray.remote(DriveAuditor).options(
        num_cpus=plan.cpus, num_gpus=plan.gpus, max_restarts=0, max_task_retries=0
    )
    actors = [actor_class.remote(plan.template, cwd) for _ in range(count)]
    try:
        identities = ray.get([a.load.remote() for a in actors], timeout=LOAD_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        _kill_all(cluster, actors)
        raise ConfigError(
            f"a fleet worker was not placed within {LOAD_TIMEOUT_S:.0f} s: the cluster has no free "
            f"{plan.cpus:g} CPUs" + (f" and {plan.gpus:g} GPUs" if plan.gpus else "") + "; lower --workers"
        ) from None
    except ray.exceptions.RayTaskError as exc:
        _kill_all(cluster, actors)
        cause = exc.cause
        if isinstance(cause, DepthmaskError):
            raise type(cause)(f"a fleet worker could not load the model: {cause}") from None
        raise
    return list(zip(actors, identities, strict=True))


def failure_of(cluster: Cluster, exc: BaseException) -> tuple[str, bool]:
    """(what went wrong, whether the worker is lost) for an exception from a drive's result."""
    errors = cluster.ray.exceptions
    if isinstance(exc, errors.RayTaskError):  # the drive failed in a live worker: the run core's error
        cause = exc.cause
        return (f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)), False
    return f"worker lost ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})", True


def _kill_all(cluster: Cluster, actors: list[Any]) -> None:
    for actor in actors:
        stop_worker(cluster, actor)


def stop_worker(cluster: Cluster, actor: Any) -> None:
    """End a worker process (one that is already gone is fine)."""
    with contextlib.suppress(Exception):  # an actor already dead or a cluster already gone
        cluster.ray.kill(actor, no_restart=True)
