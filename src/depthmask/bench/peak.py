"""The CPU's measured GEMM peak per precision: what "% of peak" in the result rows is relative to.

A large square matrix product is the best-case workload of every CPU math library, so its GFLOP/s is
the ceiling a convolutional network can approach. Measured in the same run and with the same thread
count as the rows: fp32 through PyTorch (oneDNN/MKL) and NumPy (its BLAS), bf16 and fp16 through
PyTorch, int8 through `torch._int_mm` (int8 × int8 → int32, AMX-INT8/VNNI where the CPU has them).

Each library is tried at a few sizes, several times each, to find the fastest product (its best single
call is the *burst* rate). That product then runs back to back for a few seconds: the *sustained* rate,
total FLOP over wall time, is the peak rows are compared with, because a row's GFLOP/s is itself total
work over seconds of wall time. On a shared VM the burst rate is the fastest of dozens of short samples
and sits well above what any workload keeps up (on the development VM 10-80 % above the sustained rate
measured a moment later), so a percentage of it says more about the neighbours than about the network.

The search is bounded: each precision gets `budget_s` seconds (5 by default), sizes are tried from the
smallest up, and a size whose products would not fit in what is left (predicted from the last size's
time, n³) is skipped and named. A precision the CPU has no native kernels for (bf16 without AVX512_BF16
or AMX-BF16, fp16 without AVX512_FP16 or AMX-FP16, int8 without VNNI or AMX-INT8) is not measured at
all: an emulated product is no ceiling, and `torch._int_mm` on a plain AVX2 CPU runs at a few GFLOP/s for
minutes. Beside the fp32 peak sits the FMA roof of the reported clock (threads × MHz × FLOP per cycle: 32
with AVX2 or AMD's AVX-512, 64 with Intel's), an estimate (a VM reports its nominal clock; turbo runs
higher), so a library that stays far below it (MKL's generic path on AMD) is visible as such; NumPy's
BLAS (OpenBLAS) is measured beside PyTorch's for that reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from depthmask.environment import NATIVE_KERNEL_FLAGS, native_precision
from depthmask.errors import module_available

SIZES = (1024, 2048, 4096)
REPEATS = 5  # timed products per size, after one untimed
SUSTAIN_SECONDS = 3.0  # as long as the shortest row (BenchConfig.seconds)
SEARCH_BUDGET_S = 5.0  # the search over libraries and sizes, per precision


@dataclass(frozen=True)
class Peak:
    """The best GEMM rate measured for one precision (None with `reason` when it cannot be measured)."""

    precision: str
    gflop_per_s: float | None  # sustained: what rows' % of peak is relative to
    how: str  # library and size of the best product
    threads: int
    by_size: dict[str, float]  # "<library> <n>" → best single-call GFLOP/s
    reason: str | None = None
    burst_gflop_per_s: float | None = None  # the best single call of the fastest product
    sustained_seconds: float | None = None
    search_seconds: float | None = None
    skipped: tuple[str, ...] = ()  # "<library> <n>: why" for products not timed
    roof_gflop_per_s: float | None = None  # fp32: the FMA roof of the clock and vector units

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _best_rate(fn: Callable[[], Any], n: int, repeats: int) -> float:
    fn()  # first call: allocation, kernel selection, AMX tile set-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


def _sustained_rate(fn: Callable[[], Any], n: int, seconds: float) -> tuple[float, float]:
    """(GFLOP/s, seconds) of products run back to back for at least `seconds` (and at least twice)."""
    fn()
    calls, t0 = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    elapsed = time.perf_counter() - t0
    return 2.0 * n**3 * calls / elapsed / 1e9, elapsed


def _candidates(precision: str, n: int) -> list[tuple[str, Callable[[], Any]]]:
    """(library, call) pairs computing one n×n×n product at `precision`."""
    out: list[tuple[str, Callable[[], Any]]] = []
    rng = np.random.default_rng(0)
    if precision == "fp32":
        a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
        out.append(("numpy", lambda: a @ b))
    if not module_available("torch"):
        return out
    import torch

    if precision in ("fp32", "bf16", "fp16"):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        ta, tb = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        out.append(("torch", lambda: torch.mm(ta, tb)))
    elif precision == "int8" and hasattr(torch, "_int_mm"):
        ia = torch.randint(-128, 128, (n, n), dtype=torch.int8)
        ib = torch.randint(-128, 128, (n, n), dtype=torch.int8)
        out.append(("torch._int_mm", lambda: torch._int_mm(ia, ib)))
    return out


def _use_threads(threads: int) -> None:
    if module_available("torch"):
        import torch

        torch.set_num_threads(threads)  # NumPy's BLAS follows OMP_NUM_THREADS, set before it loads


def sustained_again(found: Peak, seconds: float = SUSTAIN_SECONDS) -> Peak:
    """`found`'s fastest product run back to back again now: the same ceiling measured at another moment,
    without the search over libraries and sizes (so it can be taken beside every set of rows)."""
    if found.gflop_per_s is None:
        return found
    library, size = found.how.split()
    n = int(size.split("×")[0])
    fn = dict(_candidates(found.precision, n))[library]
    _use_threads(found.threads)
    sustained, elapsed = _sustained_rate(fn, n, seconds)
    return replace(found, gflop_per_s=round(sustained, 1), sustained_seconds=round(elapsed, 2))


def native_reason(precision: str, flags: set[str] | None = None) -> str | None:
    """Why this CPU has no native matrix kernels for `precision` (None when it has, or for fp32)."""
    if native_precision(precision, flags):
        return None
    wanted = NATIVE_KERNEL_FLAGS[precision]
    return (
        f"not measured: this CPU has no native {precision} matrix kernels ({' / '.join(wanted)} missing), "
        "so a product would be emulated and is no ceiling"
    )


def fma_roof(threads: int, env: dict[str, Any] | None = None) -> float | None:
    """fp32 GFLOP/s the clock allows: threads × MHz × FLOP per cycle (two FMA units of 8 fp32 lanes with
    AVX2 and on AMD's AVX-512, which runs as two 256-bit halves; of 16 lanes with Intel's AVX-512)."""
    if env is None:
        from depthmask.environment import fingerprint

        env = fingerprint()
    mhz, flags = env.get("cpu_mhz"), set(env.get("cpu_flags", ()))
    if not mhz or ("fma" not in flags and "avx2" not in flags):
        return None
    wide = "avx512f" in flags and "AMD" not in str(env.get("cpu", ""))
    per_cycle = 2 * 2 * (16 if wide else 8)  # FMA units × 2 FLOP × lanes
    return round(threads * mhz / 1e3 * per_cycle, 1)


def gemm_peak(
    precision: str,
    threads: int,
    *,
    sizes: tuple[int, ...] = SIZES,
    repeats: int = REPEATS,
    seconds: float = SUSTAIN_SECONDS,
    budget_s: float = SEARCH_BUDGET_S,
    flags: set[str] | None = None,
) -> Peak:
    """The sustained GFLOP/s of the fastest n×n×n matrix product at `precision` on `threads` threads
    (2 FLOP per MAC), with its burst rate; the search over sizes stays within `budget_s` (see the module).
    `flags`: the CPU flags to judge native kernels by (default: this machine's)."""
    roof = fma_roof(threads) if precision == "fp32" else None
    reason = native_reason(precision, flags)
    if reason is not None:
        return Peak(precision, None, "", threads, {}, reason, roof_gflop_per_s=roof)
    _use_threads(threads)
    by_size: dict[str, float] = {}
    calls: dict[str, Callable[[], Any]] = {}
    skipped: list[str] = []
    last_error = ""
    t0 = time.perf_counter()
    per_call: dict[str, tuple[int, float]] = {}  # library → (n, seconds of one call) of its last size
    for n in sizes:
        for library, fn in _candidates(precision, n):
            key = f"{library} {n}"
            left = budget_s - (time.perf_counter() - t0)
            if library in per_call:  # predict this size's cost from the last one: a product costs n³
                m, spent = per_call[library]
                predicted = spent * (n / m) ** 3 * (repeats + 1)
                if predicted > left:
                    skipped.append(f"{key}: about {predicted:.1f} s, over the {budget_s:g} s search budget")
                    continue
            elif left <= 0:
                skipped.append(f"{key}: the {budget_s:g} s search budget was spent")
                continue
            calls[key] = fn
            try:
                rate = _best_rate(fn, n, repeats)
                by_size[key] = round(rate, 1)
                per_call[library] = (n, 2.0 * n**3 / rate / 1e9)
            except RuntimeError as exc:  # e.g. a dtype without a CPU kernel in this torch build
                by_size[key] = float("nan")
                last_error = str(exc).splitlines()[0]
    search = round(time.perf_counter() - t0, 2)
    rates = {k: v for k, v in by_size.items() if np.isfinite(v)}
    if not rates:
        reason = (
            "no library here multiplies this precision"
            if not by_size
            else f"the matrix product failed: {last_error}"
        )
        return Peak(
            precision, None, "", threads, by_size, reason, search_seconds=search, skipped=tuple(skipped)
        )
    how = max(rates, key=lambda k: rates[k])
    n = int(how.split()[-1])
    sustained, elapsed = _sustained_rate(calls[how], n, seconds)
    return Peak(
        precision,
        round(sustained, 1),
        f"{how}×{n}×{n}",
        threads,
        by_size,
        burst_gflop_per_s=rates[how],
        sustained_seconds=round(elapsed, 2),
        search_seconds=search,
        skipped=tuple(skipped),
        roof_gflop_per_s=roof,
    )
