"""`export --fallback auto`: an int8 (or fp16) artefact that misses the fidelity gate is repaired by
keeping the blocks of layers that break it in fp32, found by measuring. Checked against independent
measurements: the written artefact is run again and compared with the fp32 export by the gate's own
metrics, and the kept nodes are read back from the graph (no quantized weights feed them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from export_nets import SIZE
from rich.console import Console

from depthmask.cli.export import fallback_table
from depthmask.contract.fidelity import FidelityGate
from depthmask.contract.metadata import read_metadata
from depthmask.errors import ConfigError, MissingDependencyError
from depthmask.export.config import ExportConfig
from depthmask.export.cost import flops_by_node
from depthmask.export.fallback import HEADROOM, blocks_of, fewest_passing, keep_order, with_fallback
from depthmask.export.frames import collect, frames_from_source, split_frames
from depthmask.export.pipeline import held_out_frames
from depthmask.runtime.auto import PROBE_FRAMES, probe_frames
from depthmask.runtime.backends.onnxruntime import OnnxRuntimeBackend

# The tiny settled nets: fully int8 they miss this gate (abs_rel ≈ 8 % on held-out frames, 17 % on the
# auto probe's), some blocks kept in fp32 pass it.
GATE = FidelityGate(max_abs_rel=0.10, min_iou=0.95)
LOOSE = FidelityGate(max_abs_rel=0.5, min_iou=0.5)  # one the fully quantized tiny nets pass


def test_blocks_are_contiguous_and_cover_every_node() -> None:
    nodes = [f"n{i}" for i in range(27)]
    blocks = blocks_of(nodes, 12)
    assert len(blocks) == 12 and [n for b in blocks for n in b] == nodes
    assert {len(b) for b in blocks} <= {2, 3}
    assert blocks_of(nodes[:3], 12) == [["n0"], ["n1"], ["n2"]] and blocks_of([], 12) == []


def test_the_bisection_finds_the_fewest_that_pass() -> None:
    asked: list[int] = []

    def passes(n: int) -> bool:
        asked.append(n)
        return n >= 5

    assert fewest_passing(list(range(12)), passes) == 5
    assert len(set(asked)) <= 5  # 12, then a bisection of 0..12
    assert fewest_passing(list(range(4)), lambda n: False) is None
    assert fewest_passing(list(range(4)), lambda n: True) == 0


def test_blocks_are_kept_for_the_error_they_remove_per_flop() -> None:
    """A cheap block that matters goes before a dear one that matters a little more; one with no
    FLOPs is not free (it costs the floor), so it does not jump ahead of everything."""
    assert keep_order([0.5, 0.45, 0.05], [100.0, 10.0, 0.0]) == [1, 2, 0]
    assert keep_order([0.2, 0.4, 0.3], [5.0, 5.0, 5.0]) == [1, 2, 0]  # equal costs: by sensitivity
    assert keep_order([], []) == []


def test_flops_per_node_add_up_to_the_exports_own_count(exported: dict) -> None:
    """ONNX shape inference's per-node FLOPs of each tiny export sum to what torch's FlopCounter counted
    at export (metadata `gflop_per_frame`), every convolution is counted, and the batch scales them."""
    for mode, (path, _) in exported.items():
        model = onnx.load(str(path))
        cost = flops_by_node(model)
        convs = {n.name for n in model.graph.node if n.op_type == "Conv"}
        assert convs and convs <= set(cost) and all(cost[n] > 0 for n in convs), mode
        assert sum(cost.values()) / 1e9 == pytest.approx(read_metadata(path)["gflop_per_frame"], rel=1e-3), (
            mode
        )
        four = flops_by_node(model, batch=4)
        assert all(four[n] == pytest.approx(4 * cost[n]) for n in cost), mode


def outputs(path: Path, frames: np.ndarray) -> dict[str, np.ndarray]:
    with OnnxRuntimeBackend(path, threads=1) as backend:
        return backend.infer(frames)


def test_calibration_and_check_frames_are_spread_over_the_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A source that knows its length gives calibration frames spread over all of it and check frames
    between them, never the same ones; one too short for both measures on its last frames again, and
    says so; one with no readable frame is refused."""
    h, w = SIZE
    every = collect(frames_from_source("synthetic:frames=40,seed=5", h, w, 40))
    calibration, check = split_frames("synthetic:frames=40,seed=5", h, w, 4, 4)
    assert np.array_equal(np.stack(calibration), every[[0, 10, 20, 30]])
    assert np.array_equal(check, every[[5, 15, 25, 35]])
    alone, none = split_frames("synthetic:frames=40,seed=5", h, w, 4, 0)  # plain int8: the same frames
    assert np.array_equal(np.stack(alone), every[[0, 10, 20, 30]]) and none.shape == (0, h, w, 3)
    with caplog.at_level("WARNING"):
        calibration, check = split_frames("synthetic:frames=3,seed=5", h, w, 4, 2)
    assert len(calibration) == 3 and np.array_equal(check, every[1:3])
    assert "no frames past the 3 calibration ones" in caplog.text
    (tmp_path / "broken.png").write_bytes(b"not a png")  # skipped as undecodable: no frame at all
    with pytest.raises(ConfigError, match="gave no readable frame"):
        split_frames(str(tmp_path), h, w, 4, 2)


def test_frames_are_read_no_further_than_the_last_one_used() -> None:
    """Reading frames for a calibration or check stops at the last frame it keeps: a source is never
    asked for (and never decodes) one more frame than that, counted by the source itself."""
    from types import SimpleNamespace

    from depthmask.export.frames import _indexed_frames

    class Counting:
        def __init__(self, total: int) -> None:
            self.total, self.pulled = total, 0

        def __iter__(self) -> Iterator[SimpleNamespace]:
            for i in range(self.total):
                self.pulled += 1
                yield SimpleNamespace(image=None if i == 2 else np.full((8, 8, 3), i, np.uint8))

    first = Counting(20)
    got = [i for i, _ in _indexed_frames(first, "counting", 8, 8, 4, "bgr", None)]
    assert got == [0, 1, 3, 4] and first.pulled == 5  # frame 2 is unreadable, so five are read for four
    chosen = Counting(20)
    got = [i for i, _ in _indexed_frames(chosen, "counting", 8, 8, 3, "bgr", {1, 7, 11})]
    assert got == [1, 7, 11] and chosen.pulled == 12
    short = Counting(20)  # an unreadable wanted frame: reading still ends at the last wanted position
    got = [i for i, _ in _indexed_frames(short, "counting", 8, 8, 3, "bgr", {2, 5, 9})]
    assert got == [5, 9] and short.pulled == 10


def test_parity_is_measured_on_frames_the_calibration_did_not_see() -> None:
    """`export`'s parity check of an int8 artefact reads frames between the calibration ones (the split
    `--fallback auto` uses), never one the ranges were fitted to; fp32 has nothing to hold out."""
    h, w = SIZE
    every = collect(frames_from_source("synthetic:frames=40,seed=5", h, w, 40))
    source = {"calibration": "synthetic:frames=40,seed=5", "random_weights": True, "check_frames": 4}
    calibration, check = held_out_frames(
        ExportConfig(precision="int8", calibration_frames=8, **source), h, w, 4
    )
    assert np.array_equal(np.stack(calibration), every[[0, 5, 10, 15, 20, 25, 30, 35]])
    assert not any((every[list(range(0, 40, 5))] == frame).all((1, 2, 3)).any() for frame in check)
    none, check = held_out_frames(ExportConfig(**source), h, w, 4)
    assert none == [] and np.array_equal(check, every[[5, 15, 25, 35]])


def test_a_failing_int8_export_is_repaired_by_keeping_blocks_in_fp32(exported: dict, tmp_path: Path) -> None:
    fp32 = exported["audit"][0]
    calibration = list(frames_from_source("synthetic:seed=3", *SIZE, 16))
    check = collect(frames_from_source("synthetic:seed=21", *SIZE, 8))
    path, report = with_fallback(
        "int8", fp32, tmp_path / "m-int8.onnx", calibration=calibration, check=check, gate=GATE,
        calibration_source="synthetic:seed=3", threads=1,
    )  # fmt: skip
    assert not report.before["passed"] and report.after["passed"] and report.passed
    # The search aimed inside the gate (a margin for frames it did not see), and got there.
    assert report.gate["headroom"] == HEADROOM and report.after["within_headroom"]
    assert report.after["abs_rel"] <= GATE.max_abs_rel * HEADROOM
    assert report.method in ("minmax", "percentile", "entropy")
    assert [t.what for t in report.trials[:3]] == [
        f"calibration {m}, all quantized" for m in ("minmax", "percentile", "entropy")
    ]
    candidates = sum(b["nodes"] for b in report.blocks)
    assert 0 < len(report.kept_fp32) < candidates  # some blocks, not all of them
    kept_blocks = [b for b in report.blocks if b["kept"]]
    assert sum(b["nodes"] for b in kept_blocks) == len(report.kept_fp32)
    assert 0 < report.gflop["kept_fp32"] < report.gflop["candidates"]

    # Independently: the artefact written, run again, is within the gate against fp32 on the held-out
    # frames and on those `--backend auto` probes on, as reported, the worse of the two reported as its own …
    assert report.frames == {"held_out": 8, "auto_probe": PROBE_FRAMES}
    measured = {}
    for name, frames in (("held_out", check), ("auto_probe", probe_frames(*SIZE))):
        measured[name] = GATE.measure(outputs(fp32, frames), outputs(path, frames))
        assert measured[name].passed
        assert measured[name].abs_rel == pytest.approx(report.after["sets"][name]["abs_rel"], abs=1e-5)
        assert measured[name].mask_iou == pytest.approx(report.after["sets"][name]["mask_iou"], abs=1e-4)
    assert report.after["abs_rel"] == pytest.approx(max(f.abs_rel for f in measured.values()), abs=1e-5)
    assert report.after["mask_iou"] == pytest.approx(min(f.mask_iou for f in measured.values()), abs=1e-4)
    # … the kept convolutions and products read float weights (no DequantizeLinear of an int8
    # initializer before them), the others int8 ones.
    model = onnx.load(str(path))
    producer = {o: n for n in model.graph.node for o in n.output}
    initializers = {t.name for t in model.graph.initializer}
    computing = {n.name: n for n in model.graph.node if n.op_type in ("Conv", "MatMul")}

    def int8_weights(node: Any) -> bool:
        dequantize = [producer[i] for i in node.input if i in producer]
        return any(d.op_type == "DequantizeLinear" and d.input[0] in initializers for d in dequantize)

    kept = [computing[name] for name in report.kept_fp32]
    assert not [n.name for n in kept if int8_weights(n)], [
        (n.name, [(i, producer[i].op_type, producer[i].input[0]) for i in n.input if i in producer])
        for n in kept
        if int8_weights(n)
    ]
    quantized = [n for n in computing.values() if int8_weights(n)]
    assert quantized and not {n.name for n in quantized} & set(report.kept_fp32)
    # The FLOPs reported kept in fp32 are those of the float convolutions the written graph holds.
    float_flops = flops_by_node(model)
    assert report.gflop["kept_fp32"] == pytest.approx(
        sum(float_flops[n] for n in report.kept_fp32) / 1e9, abs=2e-3
    )
    meta = read_metadata(path)
    assert meta["precision"] == "int8" and meta["fallback"]["kept_fp32"] == report.kept_fp32
    assert meta["calibration"]["method"] == report.method
    assert report.before["fps"] > 0 and report.after["fps"] > 0 and report.fp32_fps > 0
    # The terminal's table says what the figures are the worse of, and what was kept.
    console = Console(record=True, width=200)
    console.print(fallback_table(report.to_dict()))
    shown = console.export_text()
    assert "the worse of 8 held out frames and 8 auto probe frames" in shown
    assert (
        f"{report.after['abs_rel']:.3%}" in shown
        and f"kept in fp32 ({report.gflop['kept_fp32']:.1f}" in shown
    )


def test_the_search_runs_on_the_backend_the_artefact_is_for(
    exported: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--fallback-backend openvino`: the trials run on OpenVINO (which quantizes a graph its own way):
    the written artefact, run again on OpenVINO against ONNX Runtime's fp32 outputs, gives the very
    figures reported, and ONNX Runtime's figures for it differ. (A gate loose enough for the fully
    quantized graph: three trials, not a search, which the test above covers.)"""
    pytest.importorskip("openvino", reason="OpenVINO is not installed (pip install 'depthmask[openvino]')")
    from depthmask.export import fallback
    from depthmask.runtime.backends.openvino import OpenVinoBackend

    monkeypatch.setattr(fallback, "SPEED_SECONDS", 0.2)  # frames/s are only checked to be measured
    fp32 = exported["audit"][0]
    calibration = list(frames_from_source("synthetic:seed=3", *SIZE, 16))
    check = collect(frames_from_source("synthetic:seed=21", *SIZE, 8))
    path, report = with_fallback(
        "int8", fp32, tmp_path / "m-int8-ov.onnx", calibration=calibration, check=check, gate=LOOSE,
        calibration_source="synthetic:seed=3", threads=1, backend="openvino",
    )  # fmt: skip
    assert report.backend == "openvino" and report.passed and report.kept_fp32 == []
    assert read_metadata(path)["fallback"]["backend"] == "openvino"
    sets = {"held_out": check, "auto_probe": probe_frames(*SIZE)}
    for name, frames in sets.items():
        with OpenVinoBackend(path, threads=1) as ov:
            got = ov.infer(frames)
        measured = LOOSE.measure(outputs(fp32, frames), got)
        assert measured.passed
        assert measured.abs_rel == pytest.approx(report.after["sets"][name]["abs_rel"], abs=1e-5)
        assert measured.mask_iou == pytest.approx(report.after["sets"][name]["mask_iou"], abs=1e-4)
    ort = LOOSE.measure(outputs(fp32, check), outputs(path, check))
    assert ort.abs_rel != pytest.approx(report.after["sets"]["held_out"]["abs_rel"], abs=1e-5)
    assert report.after["fps"] > 0 and report.fp32_fps > 0
    with pytest.raises(ConfigError, match="'tensorrt' is not one of onnxruntime, openvino"):
        with_fallback(
            "int8", fp32, tmp_path / "x.onnx", calibration=calibration, check=check, gate=GATE,
            backend="tensorrt",
        )  # fmt: skip


def test_a_missing_openvino_is_said_before_the_export_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from depthmask.export import onnx as export_onnx
    from depthmask.export import pipeline

    monkeypatch.setattr(pipeline, "module_available", lambda name: name != "openvino")
    monkeypatch.setattr(export_onnx, "graph_from_config", lambda cfg: pytest.fail("the export started"))
    cfg = ExportConfig(random_weights=True, precision="fp16", fallback="auto", fallback_backend="openvino")
    with pytest.raises(
        MissingDependencyError, match=r"pip install 'depthmask\[openvino\]'.*--fallback-backend onnxruntime"
    ):
        pipeline.artefacts_from_config(cfg)


def test_fp16_falls_back_through_the_block_list(exported: dict, tmp_path: Path) -> None:
    """fp16 passes a 1 % gate here as it is: nothing is kept, and the report says so."""
    fp32 = exported["audit"][0]
    check = collect(frames_from_source("synthetic:seed=21", *SIZE, 8))
    path, report = with_fallback(
        "fp16", fp32, tmp_path / "m-fp16.onnx", calibration=None, check=check, gate=FidelityGate(), threads=1
    )
    assert report.before["passed"] and report.kept_fp32 == [] and len(report.trials) == 1
    # Its candidates' FLOPs are found by the names fp16 blocks by: every convolution but the island's.
    total = read_metadata(fp32)["gflop_per_frame"]
    assert 0 < report.gflop["candidates"] <= total + 1e-3 and report.gflop["kept_fp32"] == 0
    assert read_metadata(path)["precision"] == "fp16"


def test_the_setting_is_checked(exported: dict) -> None:
    with pytest.raises(ConfigError, match="--fallback auto repairs a reduced-precision export"):
        ExportConfig(random_weights=True, fallback="auto")
    with pytest.raises(ConfigError, match="unknown --fallback 'sometimes'"):
        ExportConfig(random_weights=True, fallback="sometimes", precision="fp16")
    with pytest.raises(ConfigError, match="unknown --fallback-backend 'tensorrt'"):
        ExportConfig(random_weights=True, fallback="auto", precision="fp16", fallback_backend="tensorrt")
    with pytest.raises(ConfigError, match="--min-iou in"):
        ExportConfig(random_weights=True, fallback="auto", precision="fp16", min_iou=1.5)
