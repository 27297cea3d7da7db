"""scripts/gpu_check.py without a GPU: it says it skipped and exits 0; and what it would run on one is
valid here (the bench settings pass their checks, the training commands parse), so the script cannot
rot between the rare sessions that have a GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from modules import load_module

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


def _script() -> ModuleType:
    return load_module(SCRIPT, "gpu_check")


def test_without_a_gpu_it_skips_and_exits_0(tmp_path: Path) -> None:
    gpu = _script().gpu_name()
    if gpu is not None:
        pytest.skip(f"this machine has a GPU ({gpu}): the check itself is run by hand there")
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0 and "skipped: no CUDA GPU" in done.stdout and not out.exists()


def test_what_it_runs_on_a_gpu_is_valid_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    import depthmask.bench.core as core

    seen = []

    class Result:
        def to_dict(self) -> dict:
            return {"rows": []}

    def fake_bench(cfg, **_kw):  # the real settings object, checked by its own __post_init__
        seen.append(cfg)
        return Result()

    monkeypatch.setattr(core, "bench_from_config", fake_bench)
    assert script.bench_rows(tmp_path) == {"rows": [], "bench": {"rows": []}}
    assert seen[0].devices == ("cuda",) and set(seen[0].backends) == {"torch", "onnxruntime", "tensorrt"}
    calls = []
    monkeypatch.setattr(script, "command", lambda args, work, limit: calls.append(args) or {"exit": 0})
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "last.safetensors").write_bytes(b"")
    script.train_steps(tmp_path, 60.0)
    script.ddp_step(tmp_path, 60.0)
    for args in calls:  # each command parses: --dry-run prints its settings (on the CPU here)
        start = args.index("train")
        cli = [a if a != "cuda" else "cpu" for a in args[start:]]
        dry = subprocess.run([*script.console_command(), *cli, "--dry-run"], capture_output=True, text=True)
        assert dry.returncode == 0, dry.stdout + dry.stderr
    assert script.slug("NVIDIA H200 NVL") == "nvidia_h200_nvl"
