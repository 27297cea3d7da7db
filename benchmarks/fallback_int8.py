"""`--fallback auto` on hu2019_resnet50 + mask_drn_d_22 at 228×304 (random weights settled as the bench
settles them): the int8 export without the fallback (min-max ranges) against the fidelity gate (depth
and masked depth abs_rel against fp32, mask IoU), what the search chose (calibration, blocks kept in
fp32), the fidelity and the backend's frames/s before and after, on this machine, for the default gate
(1 %, 0.95) and a tighter one (0.5 %, 0.95) that int8 misses whatever its calibration. The trials run on
`--backend` (`export --fallback-backend`: ONNX Runtime, or OpenVINO, which also honours an AVX2 cap of
its convolutions). Writes `results/fallback_int8_<cpu>.json` and `.md` (ONNX Runtime), else
`fallback_int8_<backend>_<cpu>[_avx2_capped].*`. Each artefact written is also measured on the bench's
fidelity frames (a third set neither the calibration nor the search saw) against the PyTorch graph, and
with `--authors` the authors' way (three eager PyTorch calls) is timed in the same run for the ratio.

The same search as `depthmask export --precision int8 --fallback auto` (`depthmask.export.fallback`),
through the bench's own subject, so the weights are those `depthmask bench --backbone resnet50` uses.

    python benchmarks/fallback_int8.py [--calibration-frames 16] [--size 228x304] [--gates 0.01,0.005]
        [--backend onnxruntime|openvino] [--authors]
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
from depthmask.environment import capped_suffix, cpu_label, cpu_slug, fingerprint
from depthmask.export.config import FALLBACK_BACKENDS
from depthmask.settings import parse_size

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    """Run the search and write the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calibration-frames", type=int, default=16)
    p.add_argument("--size", default="228x304")
    p.add_argument("--gates", default="0.01,0.005", help="max abs_rel of each gate (mask IoU ≥ 0.95)")
    p.add_argument("--backend", default="onnxruntime", choices=FALLBACK_BACKENDS, help="the trials' backend")
    p.add_argument("--authors", action="store_true", help="time the authors' way too (about a minute)")
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
            gate = FidelityGate(max_abs_rel=limit)
            path, report = subject.int8_fallback(gate, args.backend)
            report["fidelity_frames"] = _on_fidelity_frames(subject, path, args.backend, gate)
            reports.append(report)
        authors_fps = _authors_fps(subject) if args.authors else None
    env = fingerprint()
    command = (
        f"python benchmarks/fallback_int8.py --calibration-frames {args.calibration_frames} "
        f"--size {args.size} --gates {args.gates}"
        + (f" --backend {args.backend}" if args.backend != "onnxruntime" else "")
        + (" --authors" if args.authors else "")
    )
    doc = {
        "command": command,
        "network": "hu2019_resnet50 + mask_drn_d_22, random weights settled (depthmask.bench.weights)",
        "size": [height, width],
        "wall_s": round(time.perf_counter() - t0, 1),
        "fallbacks": reports,
        "authors_fps": authors_fps,
        "environment": env,
    }
    RESULTS.mkdir(exist_ok=True)
    backend = "" if args.backend == "onnxruntime" else f"{args.backend}_"
    name = f"{backend}{cpu_slug(env)}{capped_suffix(env['isa_caps'])}"
    (RESULTS / f"fallback_int8_{name}.json").write_text(json.dumps(doc, indent=2))
    caps = env["isa_caps"]
    capped = ", ISA capped: " + ", ".join(f"{k}={v}" for k, v in caps.items()) if caps else ""
    machine = f"{cpu_label(env)} ({env.get('cores')} cores){capped}"
    lines = [f"`{command}` on {machine}, {args.backend}, batch 1.", ""]
    for report in reports:
        lines += _table(report, authors_fps)
    (RESULTS / f"fallback_int8_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _on_fidelity_frames(subject: Subject, path: Path, backend: str, gate: FidelityGate) -> dict:
    """The artefact on the bench's fidelity frames, on `backend`, against the PyTorch graph."""
    from depthmask.bench.fidelity import run_in_batches
    from depthmask.runtime.backends import create_backend

    reference = subject.reference()
    with create_backend(backend, path, threads=subject.cfg.threads) as runner:
        got = run_in_batches(runner.infer, subject.frames, 4)
    f = gate.measure(reference, got)
    return {"frames": len(subject.frames), "abs_rel": round(f.abs_rel, 5), "mask_iou": round(f.mask_iou, 4),
            "passed": f.passed}  # fmt: skip


def _authors_fps(subject: Subject, seconds: float = 20.0) -> float:
    """The authors' way (N(I), G(I), N(I ⊗ M) as three eager calls) at batch 1: frames/s after a warm-up."""
    from depthmask.bench.authors import AuthorsWay
    from depthmask.bench.measure import time_calls

    graph = subject.graph
    with AuthorsWay(graph.depth_net, graph.mask_net, subject.info) as authors:
        frame = subject.frames[:1]
        timing = time_calls(lambda: authors.infer(frame), warmup=1, seconds=seconds, iters=3)
        return round(timing.frames_per_s(1), 4)


def _table(report: dict, authors_fps: float | None) -> list[str]:
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
    if authors_fps:
        lines.append(f"| the authors' way (PyTorch, three calls) | – | – | – | {authors_fps:.3f} |")
    for label, r in (
        ("int8 (min-max, no fallback)", report["before"]),
        ("int8 --fallback auto", report["after"]),
    ):
        lines.append(
            f"| {label} | {r['abs_rel']:.3%} | {r['mask_iou']:.4f} | {'pass' if r['passed'] else 'FAIL'} | "
            f"{r['fps']:.2f} ({r['fps'] / fp32:.2f}× fp32"
            + (f", {r['fps'] / authors_fps:.2f}× the authors' way" if authors_fps else "")
            + ") |"
        )
    kept, gflop = report["kept_fp32"], report.get("gflop") or {}
    third = report.get("fidelity_frames")
    lines += [
        "",
        f"The artefact written, on the bench's {third['frames']} fidelity frames against the PyTorch graph: "
        f"abs_rel {third['abs_rel']:.3%}, mask IoU {third['mask_iou']:.4f} "
        f"({'pass' if third['passed'] else 'FAIL'})."
        if third
        else "",
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
