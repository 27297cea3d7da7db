"""CPU latency, throughput, % of GEMM peak and fidelity of every path running N + G (`depthmask bench`).

For each subject (a depth net N with the mask net G at one frame size, audit mode) the networks are built
once (random weights settled to trained-like scales: `depthmask.bench.weights`), exported to ONNX once
(fp32, and int8 QDQ calibrated on synthetic frames), and these row sets are measured with
`depthmask.bench.bench_from_config`:

  (a) the authors' way: eager PyTorch fp32, N(I), G(I), N(I ⊗ M) as three calls, NumPy between, batch 1
  (b) the fused AuditGraph, eager PyTorch fp32 (and bf16 autocast on AMX)
  (c) the fused graph in ONNX Runtime fp32 at batch 1/4/8 (all graph optimisations, arena, 2 threads)
  (d) fast paths: OpenVINO fp32/bf16/int8 and ONNX Runtime int8 (static QDQ), batch 1/4/8
  (e) GPU rows (torch fp16/bf16 on CUDA, ONNX Runtime CUDA, TensorRT fp16/int8): real code paths that
      report `unavailable: no CUDA GPU` on a machine without one
  streaming: the fastest path within fidelity, end-to-end through the runtime pipeline vs compute-only

GEMM peaks (fp32, bf16, int8; sustained rates, `depthmask.bench.peak`): the fastest product is found
once, then run again just before and just after every set of rows, and the rows are compared with the
higher of the two (the machine's speed drifts by a third within one run). Per-op profiles of ONNX
Runtime fp32 and OpenVINO are kept in the JSON. Writes results/latency_cpu.json and
results/latency_cpu.md.

    python benchmarks/latency_cpu.py                      # the committed run (~45 min on 2 cores)
    python benchmarks/latency_cpu.py --quick              # tiny networks, a minute: checks the harness
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import multiprocessing
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from depthmask.bench.config import BenchConfig
from depthmask.bench.core import bench_from_config, with_peaks
from depthmask.bench.peak import Peak, gemm_peak, sustained_again
from depthmask.bench.rows import BenchResult, Row
from depthmask.bench.subject import Subject
from depthmask.bench.summary import highlights
from depthmask.bench.table import markdown, rich_table
from depthmask.environment import fingerprint

RESULTS = Path(__file__).parent / "results"
console = Console(width=200)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What to measure per subject, and how long each row may run."""

    subjects: tuple[tuple[str, str, int, int], ...]  # (depth net, mask net, H, W)
    batches: tuple[int, ...]
    warmup: int
    seconds: float
    iters: int
    max_seconds: float
    fidelity_frames: int
    calibration_frames: int
    stream_frames: int


FULL = Plan(
    subjects=(
        ("hu2019_resnet50", "mask_drn_d_22", 228, 304),
        ("hu2019_densenet161", "mask_drn_d_22", 228, 304),
        # KITTI-shaped (1:3.25); 256×832 costs 3× the pixels, beyond a bounded run on two cores.
        ("hu2019_resnet50", "mask_drn_d_22", 128, 416),
        ("hu2019_densenet161", "mask_drn_d_22", 128, 416),
    ),
    batches=(1, 4, 8),
    warmup=1,
    seconds=3.0,
    iters=20,
    max_seconds=20.0,
    fidelity_frames=2,
    calibration_frames=4,  # one batch: settles BatchNorm over ~280k pixels per channel, calibrates int8
    stream_frames=16,  # two batches of 8; at 8 frames one noisy call moved the ratio by 15 %
)
QUICK = Plan(
    subjects=(("hu2019_tiny", "mask_drn_tiny", 64, 96),),
    batches=(1, 2),
    warmup=1,
    seconds=0.5,
    iters=5,
    max_seconds=2.0,
    fidelity_frames=2,
    calibration_frames=4,
    stream_frames=6,
)


def row_sets(plan: Plan) -> list[dict[str, Any]]:
    """The BenchConfig fields of each row set, (a) to (e); streaming is added once the best path is known."""
    small = (plan.batches[0],)
    return [
        {"backends": ("authors",), "precisions": ("fp32",), "batches": small},
        {"backends": ("torch",), "precisions": ("fp32", "bf16"), "batches": small},
        {"backends": ("onnxruntime",), "precisions": ("fp32",), "batches": plan.batches, "profile": True},
        {"backends": ("onnxruntime",), "precisions": ("int8",), "batches": small},
        {"backends": ("openvino",), "precisions": ("fp32",), "batches": small},
        {"backends": ("openvino",), "precisions": ("bf16", "int8"), "batches": plan.batches, "profile": True},
        {
            "backends": ("torch", "onnxruntime", "tensorrt"),
            "precisions": ("fp32", "fp16", "bf16", "int8"),
            "batches": plan.batches,
            "devices": ("cuda",),
        },
    ]


def cpu_precisions(fields: dict[str, Any]) -> tuple[str, ...]:
    """The precisions a row set measures on the CPU (none for the CUDA set)."""
    return () if "cuda" in fields.get("devices", ("cpu",)) else tuple(fields["precisions"])


def beside_peaks(
    run: Callable[[], BenchResult], found: dict[str, Any], precisions: Sequence[str]
) -> BenchResult:
    """`run()`, its CPU rows compared with the higher of the GEMM peaks measured just before and just
    after it: the machine's speed drifts (fp32 sustained 172-330 GFLOP/s within one run here) and slows
    rows and matrix products alike, so a ceiling is only fair beside the rows it judges."""
    wanted = [p for p in precisions if (found.get(p) or {}).get("gflop_per_s")]

    def now() -> dict[str, Peak]:
        return {p: sustained_again(Peak(**found[p])) for p in wanted}

    before = now()
    result = run()
    after = now()
    ceiling = {p: max(before[p], after[p], key=lambda q: q.gflop_per_s or 0.0).to_dict() for p in wanted}
    rows = with_peaks(list(result.rows), ceiling)
    return dataclasses.replace(result, rows=tuple(rows), peaks=ceiling)


def merge_peaks(results: Sequence[BenchResult]) -> dict[str, Any]:
    """Per precision, every ceiling the row sets were compared with: the highest, and all in `beside`."""
    merged: dict[str, Any] = {}
    for r in results:
        for precision, peak in r.peaks.items():
            entry = merged.setdefault(precision, {**peak, "beside": []})
            entry["beside"].append(peak["gflop_per_s"])
            if peak["gflop_per_s"] > entry["gflop_per_s"]:
                merged[precision] = {**peak, "beside": entry["beside"]}
    return merged


def measure_subject(
    plan: Plan, net: tuple[str, str, int, int], threads: int, workdir: Path, found: dict[str, Any]
) -> BenchResult:
    """Every row set of one subject, sharing one graph, one export and one reference."""
    depth_net, mask_net, h, w = net
    base = BenchConfig(
        depth_net=depth_net,
        mask_net=mask_net,
        height=h,
        width=w,
        warmup=plan.warmup,
        seconds=plan.seconds,
        iters=plan.iters,
        max_seconds=plan.max_seconds,
        threads=threads,
        fidelity_frames=plan.fidelity_frames,
        calibration_frames=plan.calibration_frames,
        stream_frames=plan.stream_frames,
        peak=False,
        workdir=workdir,
    )

    def step(msg: str) -> None:
        console.print(f"  [dim]{time.strftime('%H:%M:%S')} {msg}[/]", highlight=False)

    def on_row(row: Row) -> None:
        console.print(f"  {row.label} batch {row.batch} {row.kind}: {row.status_text}", highlight=False)

    subject = Subject(base, workdir, step)
    rows: list[Row] = []
    profiles: list[dict[str, Any]] = []
    results = []
    for fields in row_sets(plan):
        cfg = dataclasses.replace(base, **fields)
        results.append(
            beside_peaks(
                functools.partial(bench_from_config, cfg, on_row=on_row, on_step=step, subject=subject),
                found,
                cpu_precisions(fields),
            )
        )
        rows += results[-1].rows
        profiles += results[-1].profiles
    h = highlights(rows, subject.sensitivity)
    best = (
        h.get("best_cpu_within_fidelity") or h.get("best_cpu_within_noise_floor") or h.get("best_cpu") or {}
    )
    best_row = next((r for r in rows if r.ok and r.label == best.get("label")), None)
    if best_row is not None:
        stream_batches = tuple(sorted({plan.batches[0], best["batch"]}))
        cfg = dataclasses.replace(
            base,
            backends=(best_row.path,),
            precisions=(best_row.precision,),
            batches=stream_batches,
            stream=True,
            fidelity=False,
            # Its compute rows only warm the backend up and give the batch-1 p50 again: a few calls do.
            seconds=0.0,
            iters=2,
        )
        results.append(
            beside_peaks(
                functools.partial(bench_from_config, cfg, on_row=on_row, on_step=step, subject=subject),
                found,
                (best_row.precision,),
            )
        )
        rows += [r for r in results[-1].rows if r.kind == "end-to-end"]
    # The last run's subject record has every artefact and the reference's sensitivity filled in.
    return dataclasses.replace(
        results[-1],
        rows=tuple(rows),
        profiles=tuple(profiles),
        peaks=merge_peaks(results),
        config={**base.to_dict(), "workdir": workdir.name},  # a temporary folder: its name, never its path
        seconds=sum(r.seconds for r in results),
    )


def measure_isolated(
    plan: Plan, net: tuple[str, str, int, int], threads: int, workdir: Path, found: dict[str, Any]
) -> BenchResult:
    """`measure_subject` in a fresh process: one subject's thread pools, compiled models and memory must
    not slow the next (in one process, streaming rows of later subjects lost up to 40 %)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure_subject, (plan, net, threads, workdir, found))


def find_peaks(threads: int) -> dict[str, Any]:
    """Each precision's fastest GEMM (library and size), with its burst and sustained rates now."""
    console.rule("GEMM peaks")
    found = {}
    for precision in ("fp32", "bf16", "int8"):
        found[precision] = p = gemm_peak(precision, threads).to_dict()
        console.print(
            f"  {precision}: {p['gflop_per_s']} GFLOP/s sustained "
            f"(burst {p['burst_gflop_per_s']}, {p['how']})",
            highlight=False,
        )
    return found


def subject_name(net: tuple[str, str, int, int]) -> str:
    """'hu2019_resnet50@228x304'."""
    return f"{net[0]}@{net[2]}x{net[3]}"


def main() -> None:
    """Measure the plan; write results/latency_cpu.json and .md after every subject (so a long run that is
    stopped keeps what it measured; `complete` says whether every subject was)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny networks: check the harness in a minute")
    p.add_argument("--only", default=None, help="comma list: subjects whose name contains one of these")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for latency_cpu.json and .md")
    p.add_argument("--name", default=None, help="file stem (default latency_cpu, latency_cpu_quick)")
    args = p.parse_args()
    plan = QUICK if args.quick else FULL
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        chosen = tuple(n for n in plan.subjects if any(k in subject_name(n) for k in keys))
        if not chosen:
            p.error(f"--only {args.only!r} matches none of {[subject_name(n) for n in plan.subjects]}")
        plan = dataclasses.replace(plan, subjects=chosen)
    name = args.name or ("latency_cpu_quick" if args.quick else "latency_cpu")
    t0 = time.perf_counter()
    # Other work on the machine slows every row; the load average before and after says whether there was.
    load_before = os.getloadavg()
    command = "python " + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    found = find_peaks(args.threads)
    results: list[BenchResult] = []
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="depthmask-latency-") as tmp:
        for i, net in enumerate(plan.subjects):
            console.rule(f"{net[0]} + {net[1]} at {net[2]}×{net[3]}")
            results.append(measure_isolated(plan, net, args.threads, Path(tmp) / f"subject{i}", found))
            console.print(rich_table(results[-1]))
            out = {
                "command": command,
                "plan": dataclasses.asdict(plan),
                "complete": len(results) == len(plan.subjects),
                "seconds": round(time.perf_counter() - t0, 1),
                "load_average": {
                    "before": [round(v, 2) for v in load_before],
                    "after": [round(v, 2) for v in os.getloadavg()],
                },
                "environment": fingerprint() | {"libraries": results[0].environment.get("libraries", {})},
                "peak_search": found,  # each subject's `peaks`: the ceilings measured beside its rows
                "subjects": [r.to_dict() for r in results],
            }
            (args.out / f"{name}.json").write_text(json.dumps(out, indent=2) + "\n")
            (args.out / f"{name}.md").write_text(report(out, results))
            console.print(
                f"wrote {args.out / name}.json and .md ({len(results)}/{len(plan.subjects)} subjects)"
            )
    console.print(f"done in {(time.perf_counter() - t0) / 60:.1f} min")


def report(out: dict[str, Any], results: list[BenchResult]) -> str:
    """The markdown: an overview of the targets per subject, then each subject's full table."""
    lines = [
        "# CPU latency of N + G (audit mode)",
        "",
        f"Produced by `{out['command']}` in {out['seconds'] / 60:.1f} min"
        f"{'' if out['complete'] else ' (INCOMPLETE: stopped before every subject was measured)'}. "
        "Random weights settled to "
        "behave like trained ones (`depthmask.bench.weights`): right for speed; for fidelity each subject "
        "lists its sensitivity floor (fp32 against itself under ±1 grey level of input noise). GFLOP per "
        "frame is counted per row: the authors' way computes more than the fused graph for the same "
        f"outputs (see benchmarks/README.md). Rows ran ≥ {out['plan']['seconds']:g} s and ≥ "
        f"{out['plan']['iters']} iterations, or stopped at {out['plan']['max_seconds']:g} s (marked "
        "'capped'). Speed-ups are frames/s against the authors' way at the same input. Load average "
        f"(1, 5, 15 min) before the run {out['load_average']['before']}, "
        f"after {out['load_average']['after']}.",
        "",
        "| subject | authors' way frames/s | fastest CPU path | ×, abs_rel, IoU | fastest within "
        "abs_rel ≤ 1 %, IoU ≥ 0.95 | × | fastest within the noise floor | × | ORT fp32 % of fp32 GEMM peak "
        "| streaming e2e / compute (inference busy) | added p50 ms (batch 1) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        s = res.subject
        h = highlights(res.rows, s.get("sensitivity"))
        fast, gate, floor = (
            h.get("best_cpu") or {},
            h.get("best_cpu_within_fidelity") or {},
            h.get("best_cpu_within_noise_floor") or {},
        )
        streams = h.get("streaming") or []
        ratio = min((x["ratio"] for x in streams if x["ratio"] is not None), default=None)
        busy = min((x["busy_ratio"] for x in streams if x.get("busy_ratio") is not None), default=None)
        added = max((x["added_p50_ms"] for x in streams if x["added_p50_ms"] is not None), default=None)
        peak = (h.get("ort_fp32_peak") or {}).get("peak_pct")
        cells = [
            f"{s['depth_net']} + {s['mask_net']} {s['height']}×{s['width']}",
            _f(h.get("authors_fps"), 3),
            _label(fast),
            f"{_f(fast.get('speedup_vs_authors'), 2)}×, {_f(fast.get('depth_abs_rel'), 4)}, "
            f"{_f(fast.get('mask_iou'), 4)}",
            _label(gate),
            f"{_f(gate.get('speedup_vs_authors'), 2)}×",
            _label(floor),
            f"{_f(floor.get('speedup_vs_authors'), 2)}×",
            f"{_f(peak, 1)} %",
            f"{_f(100 * ratio if ratio is not None else None, 1)} % "
            f"(busy {_f(100 * busy if busy is not None else None, 1)} %)",
            _f(added, 1),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""]
    for res in results:
        lines.append(markdown(res))
    return "\n".join(lines)


def _label(entry: dict[str, Any]) -> str:
    if not entry:
        return "none"
    return f"{entry['label']} b{entry['batch']} ({entry['frames_per_s']:.3f} frames/s)"


def _f(value: Any, digits: int) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}"


if __name__ == "__main__":
    main()
