"""How fast does the procedural scene render on one CPU core? (target: ≥ 30 frames/s at 256×832).

One core, enforced two ways before numpy is imported: the BLAS/OpenMP thread-count variables are set
to 1 (numpy's element-wise work is single-threaded anyway; this stops OpenBLAS from spawning threads)
and, on Linux, the process is pinned to a single CPU with `os.sched_setaffinity`. A few warm-up frames
fill the per-size caches (ray directions, sky); `cold_first_frame_ms` reports the very first frame.
Frames are consecutive, as a drive is streamed. `fps` is wall-clock; `fps_cpu` divides by the process's
CPU time instead, which other processes competing for the core do not inflate (the load average at the
start is recorded: on a shared machine compare `fps_cpu`).

    python benchmarks/synthetic_render.py [--frames 300] [--height 256] [--width 832] [--seed 0]
"""

from __future__ import annotations

import os

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
for _var in _THREAD_VARS:
    os.environ[_var] = "1"  # must precede the first numpy import

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from depthmask.environment import fingerprint  # noqa: E402
from depthmask.synthetic import SceneConfig, render_frame  # noqa: E402

TARGET_FPS = 30.0
RESULT = Path(__file__).parent / "results" / "synthetic_render.json"


def pin_to_one_core() -> int | None:
    """Pin this process to the first CPU it may run on; the CPU number, or None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def measure(config: SceneConfig, frames: int, warmup: int = 5) -> dict[str, Any]:
    """Render `warmup` + `frames` consecutive frames; throughput and per-frame times of the timed ones."""
    start = time.perf_counter()
    render_frame(config, 0)
    cold_ms = (time.perf_counter() - start) * 1e3
    for index in range(1, warmup):
        render_frame(config, index)
    times = []
    cpu_begin = time.process_time()
    begin = time.perf_counter()
    for index in range(warmup, warmup + frames):
        t0 = time.perf_counter()
        render_frame(config, index)
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - begin
    cpu = time.process_time() - cpu_begin
    ms = np.array(times) * 1e3
    return {
        "height": config.height,
        "width": config.width,
        "seed": config.seed,
        "frames": frames,
        "fps": round(frames / total, 2),
        "fps_cpu": round(frames / cpu, 2),
        "ms_per_frame_p50": round(float(np.percentile(ms, 50)), 2),
        "ms_per_frame_p90": round(float(np.percentile(ms, 90)), 2),
        "ms_per_frame_max": round(float(ms.max()), 2),
        "cold_first_frame_ms": round(cold_ms, 1),
    }


def main() -> None:
    """Measure, print one line per setting and write the JSON result file."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=832)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    cpu = pin_to_one_core()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    rows = []
    for seed in args.seeds:
        row = measure(SceneConfig(height=args.height, width=args.width, seed=seed), args.frames)
        rows.append(row)
        print(
            f"{row['height']}×{row['width']} seed {seed}: {row['fps']:.1f} frames/s wall-clock, "
            f"{row['fps_cpu']:.1f} per CPU-second (p50 {row['ms_per_frame_p50']} ms, "
            f"p90 {row['ms_per_frame_p90']} ms)"
        )
    worst = min(r["fps"] for r in rows)
    result = {
        "rows": rows,
        "worst_fps": worst,
        "worst_fps_cpu": min(r["fps_cpu"] for r in rows),
        "load_average_1min_at_start": load,
        "target_fps": TARGET_FPS,
        "meets_target": worst >= TARGET_FPS,
        "threads": {
            "env": {v: os.environ[v] for v in _THREAD_VARS},
            "pinned_cpu": cpu,
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        },
        "numpy": np.__version__,
        "environment": fingerprint(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"worst {worst:.1f} frames/s (target {TARGET_FPS:.0f}); wrote {args.out}")


if __name__ == "__main__":
    main()
