"""The figures a benchmark is read for, computed from its rows (never typed in): the best CPU path against
the authors' way, fused ONNX Runtime fp32 against the fp32 GEMM peak, and streaming overhead.

Targets (the issue's bars): best CPU path ≥ 5× the authors' frames/s at equal input with depth abs_rel
≤ 1 % and mask IoU ≥ 0.95 against fp32; fused ONNX Runtime fp32 ≥ 75 % of the measured fp32 GEMM peak;
streaming end-to-end ≥ 90 % of compute-only and ≤ 10 ms added p50 latency at batch 1. Each target is
reported with its measured value and whether it is met; none is assumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from depthmask.bench.config import AUTHORS
from depthmask.bench.rows import COMPUTE, END_TO_END, Row

SPEEDUP_TARGET = 5.0
PEAK_TARGET_PCT = 75.0
STREAM_RATIO_TARGET = 0.90
ADDED_LATENCY_TARGET_MS = 10.0


def _compute_cpu(rows: Sequence[Row]) -> list[Row]:
    return [r for r in rows if r.ok and r.kind == COMPUTE and r.device == "cpu"]


def _target(value: float | None, limit: float, at_least: bool) -> dict[str, Any]:
    met = None if value is None else (value >= limit if at_least else value <= limit)
    return {"value": value, "limit": limit, "at_least": at_least, "met": met}


def within_floor(fidelity: dict[str, Any] | None, floor: dict[str, Any] | None) -> bool:
    """True when a path agrees with fp32 at least as well as fp32 agrees with itself under ±1 grey level
    of input noise (`floor`, the reference's sensitivity): its deviation is below camera noise."""
    if not fidelity or not floor:
        return False
    pairs = [
        (fidelity.get("depth_abs_rel"), floor.get("depth_abs_rel"), False),
        (fidelity.get("depth_masked_abs_rel"), floor.get("depth_masked_abs_rel"), False),
        (fidelity.get("mask_iou"), floor.get("mask_iou"), True),
    ]
    checked = [(v, f, up) for v, f, up in pairs if v is not None and f is not None]
    return bool(checked) and all((v >= f) if up else (v <= f) for v, f, up in checked)


def peak_bound(
    peaks: dict[str, Any], gflop_per_frame: float | None, authors_fps: float | None
) -> dict[str, dict[str, Any]]:
    """Per precision with a measured GEMM peak: the frames/s of the fused graph if every FLOP of a
    frame ran at that peak (peak ÷ GFLOP per frame), and that as a multiple of the authors' way. Not a
    hard ceiling (a fused convolution can beat a library's GEMM), but what a precision can be expected to
    reach at most: it says whether a target is in reach on this machine before anything is tuned."""
    out: dict[str, dict[str, Any]] = {}
    if not gflop_per_frame:
        return out
    for precision, p in peaks.items():
        rate = (p or {}).get("gflop_per_s")
        if rate:
            fps = rate / gflop_per_frame
            out[precision] = {
                "peak_gflop_per_s": rate,
                "frames_per_s": round(fps, 3),
                "speedup_vs_authors": round(fps / authors_fps, 2) if authors_fps else None,
            }
    return out


def highlights(rows: Sequence[Row], sensitivity: dict[str, Any] | None = None) -> dict[str, Any]:
    """Best CPU path vs the authors' way, ORT fp32 % of peak, streaming ratio and added latency.

    `sensitivity`: the reference's fidelity to itself under ±1 grey level of input noise; with it, the
    best path whose deviation from fp32 stays within that floor is reported too (`within_floor`).
    """
    cpu = _compute_cpu(rows)
    out: dict[str, Any] = {}
    authors = [r for r in cpu if r.path == AUTHORS and r.precision == "fp32" and r.batch == 1]
    fast = [r for r in cpu if r.path != AUTHORS]
    faithful = [r for r in fast if r.fidelity is not None and r.fidelity.get("passed")]
    best_any = max(fast, key=lambda r: r.frames_per_s or 0.0, default=None)
    best_faithful = max(faithful, key=lambda r: r.frames_per_s or 0.0, default=None)
    base = authors[0].frames_per_s if authors else None
    out["authors_fps"] = base

    def entry(r: Row | None) -> dict[str, Any] | None:
        if r is None:
            return None
        fid = r.fidelity or {}
        return {
            "label": r.label,
            "batch": r.batch,
            "frames_per_s": r.frames_per_s,
            "speedup_vs_authors": round(r.frames_per_s / base, 2) if base and r.frames_per_s else None,
            "depth_abs_rel": fid.get("depth_abs_rel"),
            "depth_masked_abs_rel": fid.get("depth_masked_abs_rel"),
            "mask_iou": fid.get("mask_iou"),
            "fidelity_passed": fid.get("passed"),
        }

    out["best_cpu"] = entry(best_any)
    out["best_cpu_within_fidelity"] = entry(best_faithful)
    floor = [r for r in fast if within_floor(r.fidelity, sensitivity)]
    out["best_cpu_within_noise_floor"] = entry(max(floor, key=lambda r: r.frames_per_s or 0.0, default=None))
    speedup = (out["best_cpu_within_fidelity"] or {}).get("speedup_vs_authors")
    out["target_speedup"] = _target(speedup, SPEEDUP_TARGET, True)

    ort = [r for r in cpu if r.path == "onnxruntime" and r.precision == "fp32" and r.peak_pct is not None]
    best_ort = max(ort, key=lambda r: r.peak_pct or 0.0, default=None)
    out["ort_fp32_peak"] = (
        {
            "batch": best_ort.batch,
            "gflop_per_s": best_ort.gflop_per_s,
            "peak_gflop_per_s": best_ort.peak_gflop_per_s,
            "peak_pct": best_ort.peak_pct,
        }
        if best_ort
        else None
    )
    out["target_peak"] = _target(best_ort.peak_pct if best_ort else None, PEAK_TARGET_PCT, True)

    streams = [r for r in rows if r.ok and r.kind == END_TO_END and r.stream]
    out["streaming"] = [
        {
            "label": r.label,
            "batch": r.batch,
            "end_to_end_fps": r.stream["end_to_end_fps"],  # type: ignore[index]
            "compute_fps": r.stream["compute_fps"],  # type: ignore[index]
            "ratio": r.stream["ratio"],  # type: ignore[index]
            "busy_ratio": r.stream.get("busy_ratio"),  # type: ignore[union-attr]
            "added_p50_ms": (r.stream.get("latency") or {}).get("added_p50_ms"),  # type: ignore[union-attr]
        }
        for r in streams
    ]
    ratios = [s["ratio"] for s in out["streaming"] if s["ratio"] is not None]
    added = [s["added_p50_ms"] for s in out["streaming"] if s["batch"] == 1 and s["added_p50_ms"] is not None]
    out["target_stream_ratio"] = _target(min(ratios) if ratios else None, STREAM_RATIO_TARGET, True)
    out["target_added_latency"] = _target(max(added) if added else None, ADDED_LATENCY_TARGET_MS, False)
    return out
