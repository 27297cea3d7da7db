"""Fidelity figures against an fp32 reference, and the summary's targets computed from rows."""

from __future__ import annotations

import numpy as np
import pytest

from depthmask.bench.fidelity import fidelity_of, grey_level_noise, run_in_batches
from depthmask.bench.rows import BenchResult, Row
from depthmask.bench.summary import highlights, peak_bound
from depthmask.bench.table import markdown, markdown_table


def _outputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(1.0, 10.0, (2, 1, 8, 12)).astype(np.float32)
    mask = rng.uniform(0.0, 1.0, (2, 1, 16, 24)).astype(np.float32)
    return {"depth": depth, "depth_masked": depth * 0.9, "mask": mask, "stats": np.zeros((2, 7), np.float32)}


def test_identical_outputs_pass() -> None:
    ref = _outputs()
    f = fidelity_of(ref, {k: v.copy() for k, v in ref.items()})
    assert f["depth_abs_rel"] == 0.0 and f["depth_delta1"] == 1.0 and f["mask_iou"] == 1.0
    assert f["passed"]


def test_a_biased_depth_fails_the_one_percent_gate() -> None:
    ref = _outputs()
    got = {**ref, "depth": ref["depth"] * 1.05}
    f = fidelity_of(ref, got)
    assert f["depth_abs_rel"] == pytest.approx(0.05, rel=1e-4)
    assert not f["passed"]
    assert not f["gate"]["depth abs_rel"]["ok"]
    assert f["gate"]["depth_masked abs_rel"]["ok"]


def test_a_changed_mask_lowers_iou_and_missing_outputs_are_skipped() -> None:
    ref = _outputs()
    mask = ref["mask"].copy()
    mask[0] = 0.0  # frame 0 loses every kept pixel
    got = {"mask": mask, "depth": ref["depth"], "depth_masked": ref["depth_masked"]}  # no stats (authors)
    f = fidelity_of(ref, got)
    assert 0.3 < f["mask_iou"] < 0.7
    assert not f["gate"]["mask IoU (M > ε)"]["ok"]


def test_grey_level_noise_moves_pixels_by_at_most_one_level() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    noisy = grey_level_noise(frames)
    diff = noisy.astype(int) - frames.astype(int)
    assert np.abs(diff).max() == 1 and noisy.dtype == np.uint8
    assert (diff != 0).mean() > 0.5


def test_run_in_batches_concatenates() -> None:
    frames = np.zeros((5, 4, 4, 3), np.uint8)
    calls = []

    def infer(x: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(len(x))
        return {"mask": np.ones((len(x), 1, 4, 4))}

    out = run_in_batches(infer, frames, 2)
    assert calls == [2, 2, 1] and out["mask"].shape == (5, 1, 4, 4) and out["mask"].dtype == np.float32


def _row(path: str, fps: float, *, passed: bool = True, batch: int = 1, **kw) -> Row:
    return Row(
        path=path,
        precision=kw.pop("precision", "fp32"),
        batch=batch,
        device="cpu",
        height=64,
        width=96,
        mode="audit",
        frames_per_s=fps,
        latency_ms={"p50": 1000 / fps},
        fidelity={"passed": passed, "depth_abs_rel": 0.001 if passed else 0.2, "mask_iou": 0.99},
        **kw,
    )


def test_highlights_pick_the_best_faithful_path_and_judge_targets() -> None:
    stream = {"end_to_end_fps": 3.8, "compute_fps": 4.0, "ratio": 0.95, "latency": {"added_p50_ms": 4.0}}
    rows = [
        _row("authors", 2.0, variant="three calls"),
        _row("onnxruntime", 4.0, gflop_per_s=80.0, peak_pct=60.0, peak_gflop_per_s=133.3),
        _row("openvino", 12.0, precision="bf16"),
        _row("openvino", 30.0, precision="int8", passed=False),
        Row(
            "onnxruntime",
            "fp32",
            1,
            "cpu",
            64,
            96,
            "audit",
            kind="end-to-end",
            frames_per_s=3.8,
            stream=stream,
        ),
        Row("tensorrt", "fp16", 1, "cuda", 64, 96, "audit", status="unavailable", reason="no CUDA GPU"),
    ]
    h = highlights(rows)
    assert h["authors_fps"] == 2.0
    assert h["best_cpu"]["label"] == "openvino int8" and h["best_cpu"]["speedup_vs_authors"] == 15.0
    assert h["best_cpu_within_fidelity"]["label"] == "openvino bf16"
    assert h["target_speedup"] == {"value": 6.0, "limit": 5.0, "at_least": True, "met": True}
    assert h["target_peak"]["value"] == 60.0 and h["target_peak"]["met"] is False
    assert h["target_stream_ratio"]["met"] and h["target_added_latency"]["met"]

    result = BenchResult(
        config={}, subject={"depth_net": "n", "mask_net": "g", "height": 64, "width": 96}, rows=tuple(rows),
        peaks={"fp32": {"gflop_per_s": 133.3, "how": "torch 4096×4096×4096", "threads": 2}}, environment={},
    )  # fmt: skip
    md = markdown(result)
    assert "| tensorrt fp16 cuda | 1 | compute | unavailable: no CUDA GPU |" in md
    assert "6.0× the authors' way" in md and "60.0 % of the fp32 GEMM peak" in md
    assert markdown_table(rows).count("\n") == len(rows) + 1
    again = BenchResult.from_dict(result.to_dict())
    assert again.rows == result.rows


def test_the_peak_bound_says_what_each_precision_could_reach_at_most() -> None:
    """500 GFLOP a frame at an 880 GFLOP/s int8 peak is at most 1.76 frames/s, 8.8× an authors' way of
    0.2 frames/s; a precision without a measured peak has no bound, and neither has a graph of unknown
    work; the report says it beside the rows."""
    peaks = {
        "fp32": {"gflop_per_s": 200.0, "how": "numpy 2048×2048×2048", "threads": 2},
        "int8": {"gflop_per_s": 880.0, "how": "torch._int_mm 4096×4096×4096", "threads": 2},
        "bf16": {"gflop_per_s": None, "reason": "no native bf16 kernels"},
    }
    bound = peak_bound(peaks, 500.0, 0.2)
    assert bound == {  # the peaks' other fields stay with the peaks
        "fp32": {"peak_gflop_per_s": 200.0, "frames_per_s": 0.4, "speedup_vs_authors": 2.0},
        "int8": {"peak_gflop_per_s": 880.0, "frames_per_s": 1.76, "speedup_vs_authors": 8.8},
    }
    assert (
        peak_bound(peaks, None, 0.2) == {}
        and peak_bound(peaks, 500.0, None)["int8"]["speedup_vs_authors"] is None
    )
    rows = (_row("authors", 0.2, variant="three calls"), _row("onnxruntime", 0.45))
    subject = {"depth_net": "n", "mask_net": "g", "height": 64, "width": 96, "gflop_per_frame": 500.0}
    result = BenchResult(config={}, subject=subject, rows=rows, peaks=peaks, environment={})
    assert "ran at the GEMM peak: fp32 0.400 = 2.0× the authors' way; int8 1.760 = 8.8×" in markdown(result)
    assert result.to_dict()["peak_bound"] == bound
