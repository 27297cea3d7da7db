"""The CPU's measured GEMM peak per precision: what "% of peak" in the result rows is relative to.

A large square matrix product is the best-case workload of every CPU math library, so its GFLOP/s is
the ceiling a convolutional network can approach. Measured in the same run and with the same thread
count as the rows: fp32 through PyTorch (oneDNN/MKL), NumPy (its BLAS) and ONNX Runtime (MLAS, what the
fused rows run on), bf16 and fp16 through PyTorch, int8 through `torch._int_mm` (int8 × int8 → int32,
AMX-INT8/VNNI) and ONNX Runtime's MatMulInteger (u8 × s8 → s32; VNNI, or AVX2 where there is none).

Each library is tried at a few sizes, several times each, to find the fastest product (its best single
call is the *burst* rate). That product then runs back to back for a few seconds: the *sustained* rate,
total FLOP over wall time, is the peak rows are compared with, because a row's GFLOP/s is itself total
work over seconds of wall time. On a shared VM the burst rate is the fastest of dozens of short samples
and sits well above what any workload keeps up (on the development VM 10-80 % above the sustained rate
measured a moment later), so a percentage of it says more about the neighbours than about the network.

The search is bounded: each precision gets `budget_s` seconds (5 by default), sizes are tried from the
smallest up, and a size whose products would not fit in what is left (predicted from the last size's
time, n³) is skipped and named. A library with no native kernels for the precision on this CPU (bf16
without AVX512_BF16 or AMX-BF16, fp16 without AVX512_FP16 or AMX-FP16, `torch._int_mm` without VNNI or
AMX-INT8) is not measured, and named: an emulated product is no ceiling, and `torch._int_mm` on a plain
AVX2 CPU runs at a few GFLOP/s for minutes (MLAS multiplies int8 natively there with AVX2's vpmaddubsw).
Beside the fp32 peak sits the FMA roof of the reported clock (threads × MHz × FLOP per cycle: 32 with
AVX2 or AMD's AVX-512, 64 with Intel's), an estimate (a VM reports its nominal clock; turbo runs
higher), so a library that stays far below it (MKL's generic path on AMD) is visible as such; NumPy's
BLAS (OpenBLAS) and MLAS are measured beside PyTorch's for that reason.
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


# The libraries each precision is multiplied with, and what each needs to run natively. int8: oneDNN's
# `torch._int_mm` wants VNNI or AMX, but ONNX Runtime's MLAS (what the int8 rows run on) multiplies
# u8 × s8 natively with AVX2's vpmaddubsw, so a plain AVX2 CPU still has a real int8 ceiling.
LIBRARIES = {  # MLAS first: the fused rows run on it, so a tight budget never skips its larger sizes
    "fp32": ("onnxruntime", "numpy", "torch"),
    "bf16": ("torch",),
    "fp16": ("torch",),
    "int8": ("onnxruntime", "torch._int_mm"),
}


def not_native(library: str, precision: str, flags: set[str] | None = None) -> str | None:
    """Why `library` would emulate a `precision` product on this CPU (None when it runs natively)."""
    if precision == "fp32" or ((library, precision) == ("onnxruntime", "int8") and _has_avx2(flags)):
        return None
    return native_reason(precision, flags)


def _has_avx2(flags: set[str] | None) -> bool:
    from depthmask.environment import fingerprint

    return "avx2" in (set(fingerprint()["cpu_flags"]) if flags is None else flags)


def _available(library: str) -> bool:
    """Whether `library`'s product can be built here (ONNX Runtime's needs `onnx` to write the graph)."""
    if library == "numpy":
        return True
    if library.startswith("torch"):
        return module_available("torch")
    return module_available("onnxruntime") and module_available("onnx")


def _product(library: str, precision: str, n: int, threads: int) -> Callable[[], Any]:
    """One n×n×n product at `precision` by `library`, as a call."""
    rng = np.random.default_rng(0)
    if library == "numpy":
        a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
        return lambda: a @ b
    if library == "onnxruntime":
        return _onnxruntime_product(precision, n, threads, rng)
    import torch

    if library == "torch._int_mm":
        ia = torch.randint(-128, 128, (n, n), dtype=torch.int8)
        ib = torch.randint(-128, 128, (n, n), dtype=torch.int8)
        return lambda: torch._int_mm(ia, ib)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    ta, tb = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return lambda: torch.mm(ta, tb)


def _onnxruntime_product(precision: str, n: int, threads: int, rng: np.random.Generator) -> Callable[[], Any]:
    """MatMul (fp32) or MatMulInteger (u8 × s8 → s32, the form ONNX Runtime's int8 graphs multiply in)
    with B a constant, so MLAS pre-packs it as it does a convolution's weights."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    if precision == "fp32":
        a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
        op, types = "MatMul", (TensorProto.FLOAT, TensorProto.FLOAT)
    else:
        a = rng.integers(0, 256, (n, n), dtype=np.uint8)
        b = rng.integers(-128, 128, (n, n), dtype=np.int8)
        op, types = "MatMulInteger", (TensorProto.UINT8, TensorProto.INT32)
    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["c"])], "gemm",
        [helper.make_tensor_value_info("a", types[0], [n, n])],
        [helper.make_tensor_value_info("c", types[1], [n, n])],
        initializer=[numpy_helper.from_array(b, "b")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle between calls
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"a": a})


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
    _use_threads(found.threads)
    fn = _product(library, found.precision, n, found.threads)
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
    skipped: list[str] = []
    libraries = []
    for library in LIBRARIES.get(precision, ()):
        why = not_native(library, precision, flags) if _available(library) else "not installed"
        if why is None:
            libraries.append(library)
        else:
            skipped.append(f"{library}: {why}")
    if not libraries:
        reason = native_reason(precision, flags) if precision in LIBRARIES else None
        return Peak(
            precision, None, "", threads, {}, reason or "no library here multiplies this precision",
            skipped=tuple(skipped), roof_gflop_per_s=roof,
        )  # fmt: skip
    _use_threads(threads)
    by_size: dict[str, float] = {}
    calls: dict[str, Callable[[], Any]] = {}
    last_error = ""
    t0 = time.perf_counter()
    per_call: dict[str, tuple[int, float]] = {}  # library → (n, seconds of one call) of its last size
    for n in sizes:
        for library in libraries:
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
            try:
                calls[key] = fn = _product(library, precision, n, threads)
                rate = _best_rate(fn, n, repeats)
                by_size[key] = round(rate, 1)
                per_call[library] = (n, 2.0 * n**3 / rate / 1e9)
            except Exception as exc:  # e.g. a dtype without a CPU kernel in this build: recorded, not raised
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
