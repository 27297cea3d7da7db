"""The machine's fingerprint, recorded with every benchmark: what it reads matches /proc/cpuinfo, and
an ISA cap in the environment (a figure measured as a lower CPU would) is recorded and reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from depthmask import environment
from depthmask.bench.rows import BenchResult
from depthmask.bench.table import markdown


@pytest.fixture
def fresh() -> Iterator[None]:
    environment.fingerprint.cache_clear()
    yield
    environment.fingerprint.cache_clear()


def test_the_flags_are_those_the_kernel_reports(fresh: None) -> None:
    env = environment.fingerprint()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        flags = next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags"))
        assert set(env["cpu_flags"]) <= set(flags.split(":", 1)[1].split())
    assert env["cores"] and set(env["isa_caps"]) <= set(environment.ISA_CAPS)


def test_an_isa_cap_is_recorded_and_reported(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in environment.ISA_CAPS:
        monkeypatch.delenv(name, raising=False)
    assert environment.fingerprint()["isa_caps"] == {}
    environment.fingerprint.cache_clear()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    env = environment.fingerprint()
    assert env["isa_caps"] == {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    result = BenchResult(config={}, subject={}, rows=(), peaks={}, environment=env)
    assert (
        "ISA capped by ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2 (not ONNX Runtime's MLAS)"
        in markdown(result)
    )
