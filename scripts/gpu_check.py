"""The project's GPU check, sized for a short lease (under 8 minutes on one GPU).

On a machine with an NVIDIA GPU it runs, each step timed and each failure recorded (the rest go on):
1. `depthmask bench` on CUDA for hu2019_resnet50 + mask_drn_d_22 at 228×304 (settled random weights,
   nothing downloaded): the torch backend at fp32/fp16/bf16 (and `torch.compile` beside it), ONNX
   Runtime's CUDA provider at fp32/fp16 where onnxruntime-gpu is installed, TensorRT fp16/int8 where
   TensorRT is; batch 1 and 8; latency percentiles and fidelity against fp32;
2. AMP training steps: `depthmask train depth --amp bf16` and `depthmask train mask --amp fp16`
   (GradScaler) on rendered frames;
3. a one-GPU DDP step over NCCL: `torchrun --nproc-per-node 1 … depthmask train depth`.
It writes `benchmarks/results/gpu_<gpu>.json` (rows, step times, errors, the fingerprint). Without a
GPU it prints that it skipped and exits 0, so it can sit in any script.

    python scripts/gpu_check.py [--budget-s 420] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from depthmask.cli.app import console_command
from depthmask.environment import slug

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SIZE = "228x304"
TRAIN_DATA = "synthetic:frames=64"


def gpu_name() -> str | None:
    """The first CUDA GPU's name, or None when torch sees none (or torch is not installed)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def bench_rows(work: Path) -> dict[str, Any]:
    """Step 1: the CUDA rows of `depthmask bench` (unavailable paths come back as rows saying why)."""
    from depthmask.bench.config import BenchConfig
    from depthmask.bench.core import bench_from_config

    cfg = BenchConfig(
        depth_net="hu2019_resnet50", mask_net="mask_drn_d_22", backends=("torch", "onnxruntime", "tensorrt"),
        precisions=("fp32", "fp16", "bf16", "int8"), batches=(1, 8), devices=("cuda",), height=228, width=304,
        seconds=2.0, max_seconds=20.0, compile=True, peak=False, workdir=work,
    )  # fmt: skip
    result = bench_from_config(cfg, on_step=lambda msg: print(f"  bench: {msg}", flush=True)).to_dict()
    summary = [
        {k: r.get(k) for k in ("path", "precision", "batch", "variant", "status", "reason", "frames_per_s")}
        | {"p50_ms": (r.get("latency_ms") or {}).get("p50"), "fidelity": r.get("fidelity")}
        for r in result["rows"]
    ]
    return {"rows": summary, "bench": result}


def command(args: list[str], work: Path, limit_s: float) -> dict[str, Any]:
    """Run one CLI step; its exit status, wall time and the tail of its output."""
    print("  $ " + " ".join(args), flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=limit_s)
    tail = (done.stdout + done.stderr)[-2000:]
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {tail}")
    return {"exit": done.returncode, "wall_s": round(time.perf_counter() - t0, 2), "output_tail": tail[-600:]}


def train_steps(work: Path, limit_s: float) -> dict[str, Any]:
    """Step 2: AMP training of N (bf16) and of G against it (fp16 with a GradScaler)."""
    cli = console_command()
    base = ["--data", TRAIN_DATA, "--size", SIZE, "--device", "cuda", "--max-steps", "20", "--no-progress"]
    n = command([*cli, "train", "depth", "-n", "hu2019_resnet50", "--amp", "bf16", *base,
                 "--out", str(work / "n")], work, limit_s)  # fmt: skip
    checkpoint = next(iter(sorted((work / "n").rglob("last.safetensors"))), None)
    if checkpoint is None:
        raise RuntimeError(f"train depth wrote no last.safetensors under {work / 'n'}")
    g = command([*cli, "train", "mask", "--depth-checkpoint", str(checkpoint), "--amp", "fp16", *base,
                 "--out", str(work / "g")], work, limit_s)  # fmt: skip
    return {"depth_bf16": n, "mask_fp16": g}


def ddp_step(work: Path, limit_s: float) -> dict[str, Any]:
    """Step 3: one process of a DDP run over NCCL (torchrun, as the README launches several GPUs)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1", "--no-python"]
    train = [
        "train",
        "depth",
        "-n",
        "hu2019_resnet50",
        "--data",
        TRAIN_DATA,
        "--size",
        SIZE,
        "--device",
        "cuda",
    ]
    out = ["--max-steps", "5", "--no-progress", "--out", str(work / "ddp")]
    return command([*launcher, *console_command(), *train, *out], work, limit_s)


def main() -> int:
    """Run the steps that fit the budget and write the result; 0 unless the result cannot be written."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-s", type=float, default=420.0, help="stop starting steps after this long")
    p.add_argument("--json", type=Path, default=None, help="[default: benchmarks/results/gpu_<gpu>.json]")
    args = p.parse_args()
    name = gpu_name()
    if name is None:
        print("gpu_check: skipped: no CUDA GPU here (torch sees none, or torch is not installed)")
        return 0
    from depthmask.environment import fingerprint

    t0 = time.perf_counter()
    steps: dict[str, Any] = {}
    plan: list[tuple[str, Callable[[Path, float], dict[str, Any]]]] = [
        ("bench", lambda work, _limit: bench_rows(work)),
        ("train_amp", train_steps),
        ("ddp_nccl", ddp_step),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, step in plan:
            left = args.budget_s - (time.perf_counter() - t0)
            if left <= 10:
                steps[label] = {"status": "skipped", "reason": f"the {args.budget_s:g} s budget was spent"}
                continue
            print(f"gpu_check: {label} …", flush=True)
            work = Path(tmp) / label
            work.mkdir()
            s0 = time.perf_counter()
            try:
                steps[label] = {"status": "ok", **step(work, left)}
            except Exception as exc:  # recorded; the other steps still run
                steps[label] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000]}
            steps[label]["seconds"] = round(time.perf_counter() - s0, 1)
            print(f"gpu_check: {label}: {steps[label]['status']} in {steps[label]['seconds']} s", flush=True)
    out = args.json or RESULTS / f"gpu_{slug(name)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "gpu": name,
        "seconds": round(time.perf_counter() - t0, 1),
        "steps": steps,
        "environment": fingerprint(),
    }
    out.write_text(json.dumps(doc, indent=2, default=str))
    print(f"gpu_check: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
