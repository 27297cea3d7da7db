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
    # A result file's name says the convolutions were capped (once, however many variables say so).
    assert environment.capped_suffix(env["isa_caps"]) == "_avx2_capped"
    assert environment.capped_suffix({**env["isa_caps"], "DNNL_MAX_CPU_ISA": "AVX2"}) == "_avx2_capped"
    assert environment.capped_suffix({"ATEN_CPU_CAPABILITY": "avx2"}) == ""
    result = BenchResult(config={}, subject={}, rows=(), peaks={}, environment=env)
    assert (
        "ISA capped: ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN: PyTorch's and OpenVINO's convolutions), "
        "ATEN_CPU_CAPABILITY=avx2 (PyTorch's own kernels); ONNX Runtime's MLAS has no cap" in markdown(result)
    )


@pytest.mark.parametrize(
    ("vendor", "family", "model", "name"),
    [
        ("AuthenticAMD", 25, 0x11, "Zen 4"),  # EPYC 9004 (Genoa)
        ("AuthenticAMD", 25, 0x01, "Zen 3"),  # EPYC 7003 (Milan)
        ("AuthenticAMD", 26, 0x02, "Zen 5"),  # EPYC 9005 (Turin)
        ("AuthenticAMD", 23, 0x31, "Zen 2"),  # EPYC 7002 (Rome)
        ("GenuineIntel", 6, 143, "Sapphire Rapids"),
        ("GenuineIntel", 6, 207, "Emerald Rapids"),
        ("GenuineIntel", 6, 142, None),  # a client part the table does not name
        ("HygonGenuine", 24, 0, None),
        ("AuthenticAMD", None, None, None),
    ],
)
def test_the_microarchitecture_is_named_by_family_and_model(
    vendor: str, family: int | None, model: int | None, name: str | None
) -> None:
    assert environment.microarchitecture(vendor, family, model) == name


def test_the_cpu_identity_is_the_first_cpus(fresh: None) -> None:
    """Read from /proc/cpuinfo as the kernel reports it: vendor, family, model and stepping of CPU 0."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo on this platform")
    first = cpuinfo.read_text().split("\n\n")[0]
    fields = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in first.splitlines()))
    ident = environment.fingerprint()["cpu_id"]
    assert ident["vendor"] == fields.get("vendor_id", "")
    for key, field in (("family", "cpu family"), ("model", "model"), ("stepping", "stepping")):
        assert ident[key] == (int(fields[field]) if fields.get(field, "").isdigit() else None)
