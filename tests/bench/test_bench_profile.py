"""`bench --profile`: ONNX Runtime's per-op profile adds up. On a graph built here with known work (a
convolution and a matrix product whose channels need no padding; ONNX Runtime pre-packs the product's
matrix, so its kernel reports one input) the FLOPs counted from the kernels' shapes are the analytic
count; on the tiny export they are at least the graph's own (the kernels may pad thin layers), which the
profile reports beside them, as torch counted it at export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from bench_tiny import SIZE
from onnx import TensorProto, helper, numpy_helper

from depthmask.bench.profile import ort_profile
from depthmask.contract.metadata import read_metadata


def _known_work(path: Path) -> float:
    """Conv 64→64 (3×3, same size) on 64×64, ReLU, then a product with a 64×96 matrix; FLOPs per frame."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((64, 64, 3, 3)).astype(np.float32), "w")
    m = numpy_helper.from_array(rng.standard_normal((64, 96)).astype(np.float32), "m")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"], name="relu"),
            helper.make_node("MatMul", ["r", "m"], ["y"], name="matmul"),
        ],
        "known",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64, 64, 96])],
        [w, m],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return 2.0 * 64 * 64 * 64 * 64 * 9 + 2.0 * 64 * 64 * 96 * 64


def test_the_kernels_flops_are_the_analytic_count(tmp_path: Path) -> None:
    per_frame = _known_work(tmp_path / "known.onnx")
    frames = np.random.default_rng(1).standard_normal((2, 64, 64, 64)).astype(np.float32)
    profile = ort_profile(tmp_path / "known.onnx", frames, threads=1)
    counted = sum(op["gflop_per_run"] for op in profile["ops"])
    assert counted == pytest.approx(2 * per_frame / 1e9, rel=2e-3)
    assert profile["graph_gflop_per_run"] == pytest.approx(2 * per_frame / 1e9, rel=2e-3)
    assert profile["batch"] == 2 and sum(op["share"] for op in profile["ops"]) == pytest.approx(1, abs=1e-3)


def test_the_profile_of_an_export_gives_the_graphs_flops_too(tiny_onnx: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (2, *SIZE, 3), dtype=np.uint8)
    profile = ort_profile(tiny_onnx, frames, threads=1)
    graph = profile["graph_gflop_per_run"]
    assert graph == pytest.approx(2 * read_metadata(tiny_onnx)["gflop_per_frame"], rel=1e-3)
    assert sum(op["gflop_per_run"] for op in profile["ops"]) >= graph * 0.999  # padding only adds work
    assert profile["ms_per_run"] > 0 and any(op["gflop_per_s"] for op in profile["ops"])
    assert len(profile["top_nodes"]) <= 12
