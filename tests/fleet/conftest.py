"""Fleet tests: the runtime tests' tiny exported model, synthetic drives, and a local Ray whose every
process is gone once the tests are done."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from modules import load_module

RUNTIME_CONFTEST = Path(__file__).resolve().parents[1] / "runtime" / "conftest.py"
RAY_PROCESSES = ("raylet", "gcs_server", "ray::", "default_worker.py", "dashboard", "log_monitor")


def _runtime_conftest() -> ModuleType:
    return load_module(RUNTIME_CONFTEST, "runtime_conftest_for_fleet")


@pytest.fixture(scope="session")
def audit_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runtime tests' tiny audit-mode ONNX file (hu2019_tiny + mask_drn_tiny at 64×96)."""
    import torch

    from depthmask.export.onnx import onnx_from_checkpoint

    nets = _runtime_conftest().export_nets()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("fleet-model")
    checkpoints = nets.make_checkpoints(folder, size=nets.SIZE)
    return onnx_from_checkpoint(nets.config(checkpoints, "audit"), folder / "tiny-audit.onnx")


def drive(seed: int, frames: int, fps: float | None = None) -> str:
    """A small synthetic drive (64×96, the model's size: rendering stays cheap)."""
    rate = f",fps={fps}" if fps else ""
    return f"synthetic:frames={frames},seed={seed},height=64,width=96{rate}"


def ray_processes() -> set[int]:
    """PIDs of Ray's processes on this machine (read from /proc: no psutil needed)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = (
                Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        if any(name in cmdline for name in RAY_PROCESSES) and "pytest" not in cmdline:
            found.add(int(entry))
    return found


def assert_no_ray_left(before: set[int], limit_s: float = 20.0) -> None:
    """Every Ray process started since `before` has exited (they take a few seconds to go)."""
    deadline = time.time() + limit_s
    while (left := ray_processes() - before) and time.time() < deadline:
        time.sleep(0.25)
    assert not left, f"Ray processes left behind: {sorted(left)}"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[object]:
    """A local Ray on 2 CPUs for one test module; shut down after it, leaving no process behind."""
    import logging

    import ray

    before = ray_processes()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield ray
    finally:
        ray.shutdown()
        assert_no_ray_left(before)
