"""Faithfulness curves of the shipped demo nets (issue: G's curve against random and edge-map baselines).

`depthmask eval --curve` on rendered drives at the demo's 128×416: N(I ⊗ top-k % of M) against N(I) as
δ1 agreement, for G's mask, a random share and the Sobel edge map at the same k, and each curve's AUC.
Written to `results/faithfulness_demo.json` with the machine's fingerprint. `--mask` measures another G
against the shipped N (e.g. one trained at another λ; `--trained-by` records its training command).

    python benchmarks/faithfulness_demo.py [--frames 32] [--seed 11]
        [--mask G.safetensors --trained-by CMD --json F]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import torch

from depthmask.environment import fingerprint
from depthmask.train.evaluate import EvalConfig, evaluate

ASSETS = Path(__file__).resolve().parents[1] / "src" / "depthmask" / "assets"


def main() -> None:
    """Run the curves and write the result."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--seed", type=int, default=11, help="the drive's scene seed (the demo nets train on 0)")
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "faithfulness_demo.json")
    p.add_argument("--mask", type=Path, default=ASSETS / "demo-mask.safetensors", help="G (default: shipped)")
    p.add_argument("--trained-by", default=None, help="the command that trained --mask, recorded")
    args = p.parse_args()
    data = f"synthetic:frames={args.frames},seed={args.seed}"  # a drive the demo nets were not trained on
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(
            data=data, depth_checkpoint=ASSETS / "demo-depth.safetensors",
            masks=(args.mask,), input_size=(128, 416), device="cpu",
            out=Path(tmp), curve=True, edges=False,
        )  # fmt: skip
        result = evaluate(cfg)
    curves = [dataclasses.asdict(c) for c in result.curves]
    by_method = {c["method"]: c for c in curves}
    keeps = [p["keep"] for p in by_method["G"]["points"]]
    ahead = {
        base: [g["fid_delta1"] - b["fid_delta1"] for g, b in zip(by_method["G"]["points"],
                                                             by_method[base]["points"], strict=True)]
        for base in ("random", "edges")
    }  # fmt: skip
    doc = {
        "command": f"depthmask eval -d '{data}' --depth-checkpoint demo-depth.safetensors -m "
        f"{args.mask.name} --size 128x416 --curve --no-edges",
        "mask": args.mask.name,
        "trained_by": args.trained_by,
        "frames": args.frames,
        "keeps": keeps,
        "auc": {c["method"]: round(c["auc"], 4) for c in curves},
        "delta1": {c["method"]: [round(p["fid_delta1"], 4) for p in c["points"]] for c in curves},
        "g_minus_baseline": {k: [round(v, 4) for v in vs] for k, vs in ahead.items()},
        "mask_keep_of_g": round(result.condition("M'", args.mask.stem).stats["mask_keep"], 4),
        "curves": curves,
        "environment": fingerprint(),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2))
    print(json.dumps({k: doc[k] for k in ("keeps", "auc", "delta1", "g_minus_baseline", "mask_keep_of_g")}))


if __name__ == "__main__":
    main()
