"""Two CPU processes under torchrun (gloo): the ranks' weights stay identical and the loss falls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from depthmask.train.monitor import read_metrics

# Each rank trains through the public API, then writes the weights it ended with, for the test to compare.
SCRIPT = textwrap.dedent(
    """
    import os, sys
    from safetensors.torch import save_file
    from depthmask.train.config import DepthTrainConfig
    from depthmask.train.trainer import train_depth

    out = sys.argv[1]
    cfg = DepthTrainConfig(
        network="hu2019_tiny", data="synthetic:frames=32,max_depth=20", input_size=(32, 48),
        batch_size=4, epochs=4, lr=1e-3, device="cpu", workers=0, checkpoint_every=3, log_every=1,
        progress=False, out=out,
    )
    result = train_depth(cfg)
    rank = os.environ["RANK"]
    state = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, os.path.join(out, f"rank{rank}.safetensors"))
    print("rank", rank, "steps", result.step, "checkpoint", result.checkpoint)
    """
)


def test_two_process_gloo_training(tmp_path: Path) -> None:
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc-per-node", "2", str(script), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # 32 samples split over 2 ranks, batch 4 each: 4 steps an epoch, 16 in all, on both ranks.
    assert "rank 0 steps 16" in proc.stdout and "rank 1 steps 16" in proc.stdout
    assert "rank 1 steps 16 checkpoint None" in proc.stdout  # only rank 0 writes

    r0, r1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    assert r0.keys() == r1.keys()
    assert all(torch.equal(r0[k], r1[k]) for k in r0), "ranks ended with different weights"
    saved = load_file(str(out / "last.safetensors"))
    assert all(torch.equal(r0[k], saved[k]) for k in r0)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch"] == 8 and summary["ranks_in_sync"]
    losses = [r["loss"] for r in read_metrics(out) if r["event"] == "step"]
    assert len(losses) == 16
    assert sum(losses[-4:]) < 0.9 * sum(losses[:4]), losses
