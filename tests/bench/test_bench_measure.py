"""Timing loops (a fake clock: no test depends on this machine's speed) and the GEMM peak's bookkeeping."""

from __future__ import annotations

import math

from depthmask.bench.measure import time_calls
from depthmask.bench.peak import fma_roof, gemm_peak, native_reason, sustained_again


class FakeClock:
    """Advances `step` seconds per call of the timed function."""

    def __init__(self, step: float) -> None:
        self.now, self.step, self.calls = 0.0, step, 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += self.step


def test_runs_until_seconds_and_iterations_are_both_reached() -> None:
    clock = FakeClock(0.5)
    t = time_calls(clock.work, warmup=2, seconds=3.0, iters=4, clock=clock)
    assert t.iterations == 6  # 4 iterations take 2 s; 6 reach the 3 s
    assert clock.calls == 8  # plus the warm-up
    assert t.latencies_ms == (500.0,) * 6
    assert not t.capped
    assert math.isclose(t.frames_per_s(4), 4 * 6 / 3.0)
    assert t.summary()["p50"] == 500.0


def test_iterations_win_over_seconds() -> None:
    clock = FakeClock(0.01)
    t = time_calls(clock.work, warmup=0, seconds=0.0, iters=20, clock=clock)
    assert t.iterations == 20


def test_max_seconds_caps_a_slow_row_and_says_so() -> None:
    clock = FakeClock(10.0)
    t = time_calls(clock.work, warmup=1, seconds=3.0, iters=20, max_seconds=25.0, clock=clock)
    assert t.iterations == 3 and t.capped


def test_gemm_peak_measures_and_explains() -> None:
    p = gemm_peak("fp32", 1, sizes=(128,), repeats=1, seconds=0.05)
    assert p.gflop_per_s is not None and p.gflop_per_s > 0
    assert p.how.endswith("128×128×128")
    assert set(p.by_size) >= {"numpy 128", "torch 128", "onnxruntime 128"}
    # Sustained over the given time, with the fastest single call kept beside it.
    assert p.burst_gflop_per_s == max(p.by_size.values())
    assert p.sustained_seconds is not None and p.sustained_seconds >= 0.05
    # Measured again at another moment: the same product, no new search.
    again = sustained_again(p, seconds=0.05)
    assert (again.how, again.burst_gflop_per_s, again.by_size) == (p.how, p.burst_gflop_per_s, p.by_size)
    assert again.gflop_per_s is not None and again.gflop_per_s > 0
    q = gemm_peak("int8", 1, sizes=(128,), repeats=1, seconds=0.05, flags={"avx2", "avx512_vnni"})
    assert q.gflop_per_s is not None and set(q.by_size) == {"onnxruntime 128", "torch._int_mm 128"}
    again = sustained_again(q, seconds=0.01)  # the chosen product, whichever library it was
    assert again.how == q.how and again.gflop_per_s is not None
    none = gemm_peak("fp64", 1, sizes=(64,), repeats=1, seconds=0.05)
    assert none.gflop_per_s is None and "no library" in (none.reason or "")


def test_a_precision_without_native_kernels_is_not_measured() -> None:
    """bf16 / fp16 on a CPU without their kernels, and int8 on one without even AVX2: no search at all,
    and the reason says why."""
    for precision, flag, flags in (
        ("bf16", "amx_bf16", {"avx2", "fma"}),
        ("fp16", "avx512_fp16", {"avx2", "fma"}),
        ("int8", "avx_vnni", {"sse4_2"}),
    ):
        p = gemm_peak(precision, 1, sizes=(64,), repeats=1, seconds=0.01, flags=flags)
        assert p.gflop_per_s is None and p.by_size == {} and "no native" in (p.reason or "")
        assert flag in (p.reason or "") and p.skipped
        assert native_reason(precision, {flag}) is None
    assert native_reason("fp32", set()) is None


def test_int8_on_plain_avx2_is_measured_by_mlas_and_not_by_torch() -> None:
    """No VNNI, no AMX (the AVX2-only EPYC): `torch._int_mm` would be emulated and is skipped, named;
    ONNX Runtime's int8 product is native there and gives the ceiling."""
    p = gemm_peak("int8", 1, sizes=(64,), repeats=1, seconds=0.01, flags={"avx2", "fma"})
    assert p.gflop_per_s is not None and p.how.startswith("onnxruntime 64")
    assert list(p.by_size) == ["onnxruntime 64"]
    assert [s for s in p.skipped if s.startswith("torch._int_mm: ")] and "no native" in p.skipped[0]


def test_the_search_stays_within_its_budget_and_names_what_it_skipped() -> None:
    p = gemm_peak("fp32", 1, sizes=(64, 128, 4096), repeats=1, seconds=0.01, budget_s=0.5)
    assert p.gflop_per_s is not None and "numpy 64" in p.by_size and "numpy 128" in p.by_size
    assert "numpy 4096" not in p.by_size and any(s.startswith("numpy 4096: about") for s in p.skipped)
    assert p.search_seconds is not None and p.search_seconds < 5


def test_the_fma_roof_follows_the_clock_and_the_vector_units() -> None:
    avx2 = {"cpu": "AMD EPYC", "cpu_mhz": 2500.0, "cpu_flags": ["avx2", "fma"]}
    assert fma_roof(2, avx2) == 2 * 2.5 * 32  # two 256-bit FMA units
    amd512 = {**avx2, "cpu_flags": ["avx2", "fma", "avx512f"]}
    assert fma_roof(2, amd512) == 2 * 2.5 * 32  # AMD's AVX-512: two 256-bit halves
    intel = {
        "cpu": "Intel(R) Xeon(R) Platinum 8480+",
        "cpu_mhz": 2000.0,
        "cpu_flags": ["avx2", "fma", "avx512f"],
    }
    assert fma_roof(1, intel) == 2.0 * 64
    assert fma_roof(1, {"cpu_mhz": None, "cpu_flags": []}) is None
