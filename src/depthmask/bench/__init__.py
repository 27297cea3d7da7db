"""`depthmask bench`: latency, throughput, GEMM-peak share and fidelity of every path that runs the fused
graph, one row per (path, device, precision, batch); `bench_from_config(BenchConfig(...))` is the core.

Torch-free at import: the heavy libraries load inside the functions that need them.
"""

from depthmask.bench.config import BenchConfig
from depthmask.bench.rows import BenchResult, Row

__all__ = ["BenchConfig", "BenchResult", "Row", "bench_from_config"]


def __getattr__(name: str):
    # The core imports the runtime and export packages; load it only when asked for.
    if name == "bench_from_config":
        from depthmask.bench.core import bench_from_config

        return bench_from_config
    raise AttributeError(name)
