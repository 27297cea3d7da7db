"""The paper's Table 1 on synthetic driving scenes with small nets: G at λ ∈ {1, 3, 5} against one frozen N.

Every step is a `depthmask` command (printed before it runs), so the table can be reproduced by hand:
three `depthmask train mask` runs against the shipped demo N, then one `depthmask eval` on held-out
frames (the synthetic test split renders another scene), whose table — with the edge-map baseline row —
is written to `<out>/table1.txt`.

    python scripts/table1_synthetic.py [--out build/table1] [--epochs 3] [--frames 800]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from depthmask.cli.app import console_command

ROOT = Path(__file__).resolve().parents[1]
DEPTH_NET = ROOT / "src" / "depthmask" / "assets" / "demo-depth.safetensors"
SIZE = "128x416"  # the shipped demo's input size (N was trained there)


def run(args: list[str], log: Path) -> str:
    """Run one depthmask command, echoing it; its output goes to `log` and is returned."""
    print("$ depthmask " + " ".join(args), flush=True)
    proc = subprocess.run(
        [*console_command(), *args], capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"}
    )
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.exit(f"failed (exit {proc.returncode}); see {log}")
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    """Train the three Gs and print/write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "table1")
    parser.add_argument("--depth-checkpoint", type=Path, default=DEPTH_NET)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=800, help="training frames of the synthetic scene")
    parser.add_argument("--test-frames", type=int, default=200)
    opts = parser.parse_args(argv)
    if not opts.depth_checkpoint.is_file():
        sys.exit(
            f"{opts.depth_checkpoint} does not exist; build it with `python scripts/train_demo_models.py`"
        )
    opts.out.mkdir(parents=True, exist_ok=True)
    masks = []
    for lam in (1, 3, 5):
        out = opts.out / f"lam{lam}"
        shutil.rmtree(out, ignore_errors=True)
        run(
            ["train", "mask", "--network", "mask_drn_tiny", "--depth-checkpoint", str(opts.depth_checkpoint),
             "--data", f"synthetic:frames={opts.frames},seed=0", "--lam", str(lam), "--batch-size", "8",
             "--epochs", str(opts.epochs), "--lr", "0.001", "--schedule", "constant", "--size", SIZE,
             "--seed", "0", "--device", "cpu", "--workers", "0", "--no-progress", "--no-tensorboard",
             "--out", str(out)],
            opts.out / f"train-lam{lam}.log",
        )  # fmt: skip
        masks += ["--mask", str(out / "last.safetensors")]
    table = run(
        ["eval", "--data", f"synthetic:frames={opts.test_frames},seed=0", "--depth-checkpoint",
         str(opts.depth_checkpoint), *masks, "--size", SIZE, "--device", "cpu"],
        opts.out / "eval.log",
    )  # fmt: skip
    (opts.out / "table1.txt").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
