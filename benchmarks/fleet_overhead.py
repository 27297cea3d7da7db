"""What does spreading an audit over Ray cost? The same drives through one `depthmask run` and through
`depthmask fleet` on this machine (issue: overhead ≤ 10 % against the single process on 2 cores).

Four rendered KITTI drives (PNG frames on disk, 128×416, the shipped demo model's size) are audited with
the shipped demo model and every output `run` writes by default (overlay video, depth and mask PNGs,
samples, audit log, report). Rows:

| row | what |
|---|---|
| `run` | one process, the four drives as four sources, ONNX Runtime on all cores |
| `fleet --workers W` | a local Ray started for the fleet, W workers of cores / W threads, a drive a task |

Each row's frames/s is frames over the wall time of the whole call, from before the cluster starts (or
the sources open) to the report written: Ray's start, the workers' model loads, the commits and the merge
are all inside it. Rows run in turn, `--repeats` times; the median is reported, and the ratio of each
fleet row to `run` (1.0: no overhead).

    python benchmarks/fleet_overhead.py [--frames 108] [--repeats 3]

108 frames a drive is the length of KITTI's 2011_09_26_drive_0001 (most raw drives are longer: Ray's
fixed cost, about 3.5 s here for starting and stopping the local cluster, weighs less on them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from depthmask.environment import fingerprint
from depthmask.fleet.config import FleetConfig
from depthmask.fleet.core import fleet
from depthmask.report import build_report
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import run
from depthmask.synthetic.config import SceneConfig
from depthmask.synthetic.writers import write_kitti_drive

MODEL = Path(__file__).resolve().parents[1] / "src" / "depthmask" / "assets" / "demo-audit.onnx"
DRIVES = 4
H, W = 128, 416


def write_drives(root: Path, frames: int) -> list[str]:
    """Four rendered drives of `frames` frames each (different scenes)."""
    return [
        str(write_kitti_drive(SceneConfig(height=H, width=W, seed=seed), root, frames, drive=seed).drive)
        for seed in range(1, DRIVES + 1)
    ]


def single_run(drives: list[str], out: Path, cores: int) -> dict[str, Any]:
    """One `run` over every drive: (frames, wall seconds)."""
    t0 = time.perf_counter()
    summary = run(RunConfig(sources=tuple(drives), model=MODEL, out=out, threads=cores))
    build_report(Path(summary["out"]))
    return {"frames": summary["counts"]["ok"], "wall_s": time.perf_counter() - t0}


def fleet_run(drives: list[str], out: Path, workers: int, cores: int) -> dict[str, Any]:
    """`fleet --workers W` over the drives with a local Ray started for it: (frames, wall seconds)."""
    cfg = FleetConfig(
        run=RunConfig(sources=tuple(drives), model=MODEL, out=out, exist_ok=True),
        workers=workers, cpus_per_worker=cores / workers, resume=False,
    )  # fmt: skip
    t0 = time.perf_counter()
    result = fleet(cfg)
    assert result["totals"]["drives"]["complete"] == DRIVES, result["drives"]
    return {"frames": result["totals"]["counts"]["ok"], "wall_s": time.perf_counter() - t0}


def main() -> None:
    """Measure and write benchmarks/results/fleet_overhead.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=108, help="frames per drive")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "fleet_overhead.json")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    worker_counts = sorted({1, min(2, cores), cores})
    times: dict[str, list[dict[str, Any]]] = {
        "run": [],
        **{f"fleet --workers {w}": [] for w in worker_counts},
    }
    with tempfile.TemporaryDirectory() as tmp:
        drives = write_drives(Path(tmp) / "kitti", args.frames)
        for i in range(args.repeats):
            times["run"].append(single_run(drives, Path(tmp) / f"run{i}", cores))
            for w in worker_counts:
                times[f"fleet --workers {w}"].append(fleet_run(drives, Path(tmp) / f"fleet{w}-{i}", w, cores))
            print(f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]['wall_s']:.1f} s" for k, v in times.items()))
    rows = []
    base = statistics.median(t["frames"] / t["wall_s"] for t in times["run"])
    for name, runs in times.items():
        fps = statistics.median(t["frames"] / t["wall_s"] for t in runs)
        rows.append({
            "row": name,
            "frames": runs[0]["frames"],
            "wall_s": [round(t["wall_s"], 2) for t in runs],
            "frames_per_s": round(fps, 3),
            "ratio_to_run": round(fps / base, 3),
            "overhead": round(1 - fps / base, 3),
        })  # fmt: skip
    result = {
        "what": "the same 4 drives through one `run` and through `fleet` (local Ray), whole-call wall time",
        "drives": DRIVES, "frames_per_drive": args.frames, "size": [H, W], "model": MODEL.name,
        "cores": cores, "repeats": args.repeats, "rows": rows, "environment": fingerprint(),
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    for r in rows:
        print(f"{r['row']:<20} {r['frames_per_s']:7.2f} frames/s  ratio {r['ratio_to_run']:.3f}")


if __name__ == "__main__":
    main()
