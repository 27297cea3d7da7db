"""`--fallback auto` on hu2019_resnet50 + mask_drn_d_22 at 228×304 (random weights settled as the bench
settles them): the int8 export without the fallback (min-max ranges) against the fidelity gate (depth
and masked depth abs_rel against fp32, mask IoU), what the search chose (calibration, blocks kept in
fp32), the fidelity and ONNX Runtime's frames/s before and after, on this machine, for the default gate
(1 %, 0.95) and a tighter one (0.5 %, 0.95) that int8 misses whatever its calibration. Writes
`results/fallback_int8_<cpu>.json` and `.md`.

The same search as `depthmask export --precision int8 --fallback auto` (`depthmask.export.fallback`),
through the bench's own subject, so the weights are those `depthmask bench --backbone resnet50` uses.

    python benchmarks/fallback_int8.py [--calibration-frames 16] [--size 228x304] [--gates 0.01,0.005]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from depthmask.bench.config import BenchConfig
from depthmask.bench.subject import Subject
from depthmask.contract.fidelity import FidelityGate
from depthmask.environment import cpu_label, cpu_slug, fingerprint
from depthmask.settings import parse_size

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    """Run the search and write the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calibration-frames", type=int, default=16)
    p.add_argument("--size", default="228x304")
    p.add_argument("--gates", default="0.01,0.005", help="max abs_rel of each gate (mask IoU ≥ 0.95)")
    args = p.parse_args()
    height, width = parse_size(args.size)
    cfg = BenchConfig(
        depth_net="hu2019_resnet50", height=height, width=width, calibration_frames=args.calibration_frames
    )
    t0 = time.perf_counter()
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        subject = Subject(
            cfg, Path(tmp), on_step=lambda msg: print(f"[{time.perf_counter() - t0:6.0f} s] {msg}")
        )
        for limit in (float(v) for v in args.gates.split(",")):
            reports.append(subject.int8_fallback(FidelityGate(max_abs_rel=limit))[1])
    env = fingerprint()
    command = (
        f"python benchmarks/fallback_int8.py --calibration-frames {args.calibration_frames} "
        f"--size {args.size} --gates {args.gates}"
    )
    doc = {
        "command": command,
        "network": "hu2019_resnet50 + mask_drn_d_22, random weights settled (depthmask.bench.weights)",
        "size": [height, width],
        "wall_s": round(time.perf_counter() - t0, 1),
        "fallbacks": reports,
        "environment": env,
    }
    RESULTS.mkdir(exist_ok=True)
    name = cpu_slug(env)
    (RESULTS / f"fallback_int8_{name}.json").write_text(json.dumps(doc, indent=2))
    lines = [f"`{command}` on {cpu_label(env)} ({env.get('cores')} cores), ONNX Runtime, batch 1.", ""]
    for report in reports:
        lines += _table(report)
    (RESULTS / f"fallback_int8_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _table(report: dict) -> list[str]:
    gate, fp32 = report["gate"], report["fp32_fps"]
    lines = [
        f"Gate abs_rel ≤ {gate['max_abs_rel']:.1%}, mask IoU ≥ {gate['min_iou']}: calibration chosen "
        f"{report['method']}, {len(report['kept_fp32'])} nodes kept in fp32, {len(report['trials'])} trials, "
        f"{report['seconds']:.0f} s.",
        "",
        "| artefact | abs_rel | mask IoU | gate | frames/s |",
        "|---|---|---|---|---|",
        f"| fp32 | – | – | – | {fp32:.2f} |",
    ]
    for label, r in (
        ("int8 (min-max, no fallback)", report["before"]),
        ("int8 --fallback auto", report["after"]),
    ):
        lines.append(
            f"| {label} | {r['abs_rel']:.3%} | {r['mask_iou']:.4f} | {'pass' if r['passed'] else 'FAIL'} | "
            f"{r['fps']:.2f} ({r['fps'] / fp32:.2f}× fp32) |"
        )
    kept, gflop = report["kept_fp32"], report.get("gflop") or {}
    lines += [
        "",
        "abs_rel and IoU are the worse of the sets the search measured on ("
        + ", ".join(f"{n} {name}" for name, n in report["frames"].items())
        + "); each set's: "
        + "; ".join(
            f"{label} {name} {v['abs_rel']:.3%} / {v['mask_iou']:.4f}"
            for label, r in (("before", report["before"]), ("after", report["after"]))
            for name, v in r["sets"].items()
        ),
        "",
        f"Kept in fp32 ({len(kept)} nodes, {gflop.get('kept_fp32', 0):.1f} of "
        f"{gflop.get('candidates', 0):.1f} quantizable GFLOP per frame): {', '.join(kept) or 'none'}",
        "",
        "| block | nodes | first … last | GFLOP | sensitivity (alone int8, × target) | kept fp32 |",
        "|---|---|---|---|---|---|",
    ]
    for k, b in enumerate(report["blocks"], 1):
        sens = "–" if b["sensitivity"] is None else f"{b['sensitivity']:.3f}"
        lines.append(
            f"| {k} | {b['nodes']} | {b['first']} … {b['last']} | {b['gflop']:.1f} | {sens} | "
            f"{'yes' if b['kept'] else ''} |"
        )
    lines.append("")
    lines += [
        "Trials: "
        + "; ".join(f"{t['what']}: {t['abs_rel']:.3%}, IoU {t['mask_iou']:.4f}" for t in report["trials"]),
        "",
    ]
    return lines


if __name__ == "__main__":
    main()
