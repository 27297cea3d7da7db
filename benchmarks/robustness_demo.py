"""Robustness × attention of the shipped demo nets: what fog, rain, snow, noise, blur, brightness and JPEG
do to N's depth and to what G looks at, at severities 1–5 (`depthmask eval --corrupt`).

On rendered drives at the demo's 128×416 (exact depth, so errors against ground truth too). Writes
`results/robustness_demo.json` (every row, the command, the fingerprint), `results/robustness_demo.md`
(the table) and `results/robustness_demo.svg` (the mask-IoU heat-map).

    python benchmarks/robustness_demo.py [--frames 16]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import warnings
from pathlib import Path

from depthmask.environment import fingerprint
from depthmask.report.eval_figures import robustness_heatmap
from depthmask.sources.corruptions import CORRUPTIONS
from depthmask.train.evaluate import EvalConfig, evaluate

ASSETS = Path(__file__).resolve().parents[1] / "src" / "depthmask" / "assets"
RESULTS = Path(__file__).parent / "results"


def main() -> None:
    """Run the table and write the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=16)
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # albumentations' notices
    data = f"synthetic:frames={args.frames},seed=11"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(
            data=data, depth_checkpoint=ASSETS / "demo-depth.safetensors",
            masks=(ASSETS / "demo-mask.safetensors",), input_size=(128, 416), device="cpu", out=Path(tmp),
            edges=False, corruptions=CORRUPTIONS,
        )  # fmt: skip
        result = evaluate(cfg)
    rows = [dataclasses.asdict(r) for r in result.robustness]
    command = (
        f"depthmask eval -d '{data}' --depth-checkpoint demo-depth.safetensors -m demo-mask.safetensors "
        f"--size 128x416 --no-edges --corrupt {','.join(CORRUPTIONS)} --severity 1..5"
    )
    RESULTS.mkdir(exist_ok=True)
    doc = {"command": command, "frames": args.frames, "rows": rows, "environment": fingerprint()}
    (RESULTS / "robustness_demo.json").write_text(json.dumps(doc, indent=2))
    head = (
        "| corruption | severity | depth abs_rel vs clean | δ1 vs clean | abs_rel vs GT (clean {:.3f}) | "
        "mask IoU | Δ far_attention | Δ mask_mean |"
    )
    lines = [
        f"`{command}`",
        "",
        head.format(rows[0]["abs_rel_gt_clean"]),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['corruption']} | {r['severity']} | {r['depth_abs_rel_vs_clean']:.3f} | "
            f"{r['depth_delta1_vs_clean']:.3f} | {r['abs_rel_gt']:.3f} | {r['mask_iou']:.3f} | "
            f"{r['far_attention_change']:+.3f} | {r['mask_mean_change']:+.4f} |"
        )
    (RESULTS / "robustness_demo.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "robustness_demo.svg").write_text(robustness_heatmap(rows, rows[0]["mask_net"]))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
