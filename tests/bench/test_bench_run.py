"""End to end on tiny networks: the graph built on the fly, and `--model FILE` through the CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bench_tiny import QUICK, TINY
from typer.testing import CliRunner

from depthmask.bench.config import BenchConfig
from depthmask.bench.core import bench_from_config, with_peaks
from depthmask.bench.rows import BenchResult, Row
from depthmask.bench.subject import Subject
from depthmask.bench.targets import cpu_has_bf16
from depthmask.cli.app import app
from depthmask.contract.metadata import read_metadata
from depthmask.errors import module_available

ROW_FIELDS = {
    "path", "precision", "batch", "device", "height", "width", "mode", "kind", "status", "reason",
    "warmup", "iterations", "wall_s", "latency_ms", "frames_per_s", "gflop_per_frame", "gflop_per_s",
    "peak_gflop_per_s", "peak_pct", "fidelity", "backend", "label", "status_text",
}  # fmt: skip
LATENCY_FIELDS = {"count", "p50", "p90", "p99", "max", "mean", "std"}


def _by(rows: tuple[Row, ...], label: str, batch: int = 1, kind: str = "compute") -> Row:
    return next(r for r in rows if r.label == label and r.batch == batch and r.kind == kind)


def test_graph_on_the_fly_rows_fidelity_and_unavailable_rows() -> None:
    seen: list[Row] = []
    cfg = BenchConfig(
        **TINY, **QUICK, backends=("authors", "torch", "tensorrt"), precisions=("fp32", "bf16"),
        batches=(1, 2), peak=False,
    )  # fmt: skip
    result = bench_from_config(cfg, on_row=seen.append)
    assert len(result.rows) == 3 * 2 * 2 and list(result.rows) == seen
    for row in result.rows:
        assert set(row.to_dict()) >= ROW_FIELDS
    authors = _by(result.rows, "authors fp32 three calls")
    torch32 = _by(result.rows, "torch fp32", batch=2)
    for r in (authors, torch32):
        assert r.ok and r.iterations >= 2 and set(r.latency_ms) == LATENCY_FIELDS
        assert r.frames_per_s > 0 and r.gflop_per_frame > 0
        # from unrounded figures: the rounded row fields agree to their printed precision
        assert r.gflop_per_s == pytest.approx(r.gflop_per_frame * r.frames_per_s, rel=1e-3, abs=0.02)
    # The authors' way and the fused graph compute the same N and G on the same frames, the fused one
    # in the up-projections' cheapest orders (`UpProjection.order_for`), so with fewer FLOPs.
    assert authors.gflop_per_frame > torch32.gflop_per_frame
    assert authors.fidelity["passed"] and authors.fidelity["mask_iou"] > 0.999
    assert torch32.fidelity["passed"]
    bf16 = _by(result.rows, "torch bf16")
    if cpu_has_bf16():  # hardware-dependent row: runs where the CPU multiplies bf16, else says why not
        assert bf16.ok and bf16.fidelity["mask_iou"] is not None and 0 < bf16.fidelity["mask_iou"] <= 1
        assert bf16.fidelity["depth_abs_rel"] > 0  # bf16 really changed the arithmetic
    else:
        assert bf16.status == "unavailable" and "no native bf16" in (bf16.reason or ""), bf16.status_text
    trt = _by(result.rows, "tensorrt fp32 cuda")
    assert trt.status_text == "unavailable: no CUDA GPU"
    assert _by(result.rows, "authors bf16 three calls").status == "unavailable"
    assert result.subject["weights"] == "random, settled" and result.subject["sensitivity"]["mask_iou"] > 0
    data = json.loads(json.dumps(result.to_dict()))  # strictly JSON (no NaN objects, no tuples)
    assert "depthmask-bench-" not in json.dumps(data)  # no temporary folder's path in a result file
    assert data["environment"]["cpu"] and "torch" in data["environment"]["libraries"]
    assert data["highlights"]["authors_fps"] == authors.frames_per_s


def test_rows_on_the_graph_before_an_export_leave_the_files_metadata_to_it(tmp_path: Path) -> None:
    """The authors' way reads the graph's metadata (no file fields); an ONNX row after it exports the
    file, whose own metadata is used from then on (`bench --backend authors,onnxruntime` once failed
    every ONNX row: "metadata is missing opset, created")."""
    subject = Subject(BenchConfig(**TINY, **QUICK, peak=False), tmp_path)
    assert "opset" not in subject.metadata
    path = subject.onnx("fp32")
    assert subject.info.metadata["opset"] == read_metadata(path)["opset"]
    assert subject.metadata["created"] == read_metadata(path)["created"]


def test_model_file_through_the_cli(tiny_onnx: Path, tmp_path: Path) -> None:
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    args = [
        "bench", "--model", str(tiny_onnx), "--backend", "onnxruntime,openvino,torch,tensorrt",
        "--precision", "fp32,int8", "--batch", "1", "--warmup", "1", "--seconds", "0", "--iters", "2",
        "--threads", "1", "--fidelity-frames", "2", "--calibration-frames", "4", "--stream",
        "--stream-frames", "4", "--profile", "--no-peak", "--json", str(out), "--markdown", str(md),
    ]  # fmt: skip
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "depthmask bench" in res.output and "unavailable: no CUDA GPU" in res.output
    result = BenchResult.from_dict(json.loads(out.read_text()))
    assert result.config["model"] == str(tiny_onnx)
    # The variant the bench derived lives in its temporary work folder: named relative to it, no path.
    assert _by(result.rows, "onnxruntime int8").backend["model"] == "tiny-audit-int8.onnx"
    measured = ["onnxruntime fp32", "onnxruntime int8", "torch fp32"]
    if module_available("openvino"):  # an optional extra: CI's install has no OpenVINO
        measured += ["openvino fp32", "openvino int8"]
    else:
        ov = _by(result.rows, "openvino fp32")
        assert ov.status == "unavailable" and "depthmask[openvino]" in (ov.reason or "")
    for label in measured:
        row = _by(result.rows, label)
        assert row.ok, row.status_text
        assert row.fidelity is not None and "passed" in row.fidelity
        assert row.gflop_per_frame == round(result.subject["gflop_per_frame"], 3)
    assert _by(result.rows, "torch int8").status == "unavailable"
    stream = _by(result.rows, "onnxruntime fp32", kind="end-to-end")
    assert stream.ok and stream.stream["frames"] == 4 and stream.stream["counts"]["ok"] == 4
    assert stream.stream["ratio"] > 0 and stream.stream["latency"]["added_p50_ms"] is not None
    assert {p["path"] for p in result.profiles} >= {"onnxruntime"}
    ort = next(p for p in result.profiles if p["path"] == "onnxruntime" and p["precision"] == "fp32")
    conv = next(o for o in ort["ops"] if "Conv" in o["op"])
    assert conv["gflop_per_run"] > 0 and np.isclose(sum(o["share"] for o in ort["ops"]), 1.0, atol=0.01)
    assert "| onnxruntime fp32 | 1 | compute | ok |" in md.read_text()


def test_help_works_without_torch() -> None:
    # torch made unimportable: --help must not need it (the base install has no torch).
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from typer.testing import CliRunner\n"
        "from depthmask.cli.app import app\n"
        "r = CliRunner().invoke(app, ['bench', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert '--backend' in r.output and 'Examples' in r.output\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_bad_option_is_a_user_error() -> None:
    res = CliRunner().invoke(app, ["bench", "--backend", "onnxrutime", "--depth-net", "hu2019_tiny"])
    assert res.exit_code == 1 and "Did you mean 'onnxruntime'" in res.output


def test_auto_rows_measure_what_the_probe_chose() -> None:
    """`--backend auto`: one CPU fp32 row per batch, labelled with the choice, its reason in the notes,
    and the fidelity of the chosen path against the fp32 reference like every other row."""
    cfg = BenchConfig(
        **TINY, **QUICK, backends=("auto", "onnxruntime"), precisions=("fp32", "bf16"), peak=False
    )
    result = bench_from_config(cfg)
    auto_rows = [r for r in result.rows if r.path == "auto"]
    ran = [r for r in auto_rows if r.precision == "fp32"]
    assert len(ran) == 1 and ran[0].ok and ran[0].variant.startswith("→ ")
    assert any(n.startswith("auto chose ") for n in ran[0].notes)
    assert ran[0].fidelity is not None and ran[0].fidelity["passed"]
    assert ran[0].computes_at in ("fp32", "bf16", "fp16")  # what the choice computes at, for its % of peak
    peaks = {"fp32": {"gflop_per_s": 100.0}, "bf16": {"gflop_per_s": 400.0}}
    row = dataclasses.replace(ran[0], computes_at="bf16", gflop_per_s=200.0)
    assert with_peaks([row], peaks)[0].peak_pct == 50.0  # against the bf16 peak, not fp32's
    other = next(r for r in auto_rows if r.precision == "bf16")
    assert other.status == "unavailable" and "chooses its precision" in (other.reason or "")
    # The result says what the int8 fallback export it probed kept, and names artefacts without paths.
    fallback = result.subject["int8_fallback"]
    assert fallback["kept_fp32"] == len(fallback["kept_fp32_nodes"]) and isinstance(fallback["passed"], bool)
    assert fallback["after"]["abs_rel"] >= 0 and fallback["blocks"] >= 1
    assert all("/" not in name for name in result.subject["artefacts"].values())
