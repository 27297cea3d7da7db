"""`FleetConfig`: the settings of `depthmask fleet`, validated in one place."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from depthmask.errors import ConfigError
from depthmask.runtime.config import RunConfig
from depthmask.settings import settings_dict

MAX_WORKERS = 4096
MAX_RETRIES = 100
MAX_RESOURCES_PER_WORKER = 1024.0
_ADDRESS = re.compile(r"auto|local|ray://[^\s/]+(:[0-9]+)?|[A-Za-z0-9.\-\[\]:]+:[0-9]+")


@dataclass(frozen=True)
class FleetConfig:
    """One fleet audit: the drives, the run settings each drive gets, and how the cluster is used.

    `run` is the settings `depthmask run` would take for one drive; its `sources` are the fleet's
    drive specs as given (lists and globs not yet expanded) and its `out` is the fleet's folder.
    """

    run: RunConfig
    workers: int | None = None  # None: as many as the cluster's CPUs (or GPUs) allow, at most one per drive
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None  # None: 1 where the cluster has GPUs, else 0
    address: str | None = None  # None: a local Ray started for the fleet; "auto" or ray://host:port joins one
    retries: int = 2  # further attempts of a drive after its first fails
    resume: bool = True  # skip drives whose completion marker matches this model and these settings
    reports: bool = True  # each drive's report.html, and the fleet's
    extra: dict[str, Any] = field(default_factory=dict)  # passed to ray.init (tests: a temp dir)

    def __post_init__(self) -> None:
        if self.workers is not None:
            _whole("--workers", self.workers, 1, MAX_WORKERS)
        _whole("--retries", self.retries, 0, MAX_RETRIES)
        _amount("--cpus-per-worker", self.cpus_per_worker, minimum=0.01)
        if self.gpus_per_worker is not None:
            _amount("--gpus-per-worker", self.gpus_per_worker, minimum=0.0)
        if self.address is not None and not _ADDRESS.fullmatch(self.address):
            raise ConfigError(
                f"--address {self.address!r}: give 'auto' (the cluster this machine belongs to), "
                "ray://HOST:PORT (a Ray client server) or HOST:PORT (a head node's GCS), e.g. "
                "ray://10.0.0.5:10001"
            )

    @property
    def out(self) -> Path:
        """The fleet's folder: fleet.json, report.html and drives/<name>/ for each drive."""
        return self.run.out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (for fleet.json)."""
        d = settings_dict(self)
        d["run"] = self.run.to_dict()
        d.pop("extra")
        return d


def _whole(option: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{option} must be a whole number from {lo} to {hi}, got {value!r}")


def _amount(option: str, value: Any, *, minimum: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not minimum <= value <= MAX_RESOURCES_PER_WORKER:
        raise ConfigError(
            f"{option} must be a number from {minimum:g} to {MAX_RESOURCES_PER_WORKER:g} (fractions share "
            f"a CPU or GPU between workers, e.g. 0.5), got {value!r}"
        )
