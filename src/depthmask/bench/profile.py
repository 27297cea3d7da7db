"""Per-op profiles: where a path's time goes, and how fast its heavy ops run against the GEMM peak.

ONNX Runtime: its own profiler (one JSON event per node run); convolutions' and matrix products' FLOPs
are computed from the shapes the kernels saw, so each op type gets an achieved GFLOP/s. Those shapes are
the kernels' own: NCHWc convolutions pad channels to the vector block (8 or 16), so a thin layer does
more work than the graph asks; the profile gives the graph's FLOPs too (`graph_gflop_per_run`, from ONNX
shape inference). OpenVINO: the CPU plugin's performance counters, grouped by layer type and the kernel
it chose (the kernel's name says whether AMX, AVX-512 VNNI or plain AVX-512 ran). Both are separate
sessions over the same file with the same options as the timed rows, so profiling overhead never
touches a timed figure.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.export.cost import flops_by_node, node_flops

TOP_NODES = 12
RUNS = 2  # profiled runs after one untimed


def _dims(entry: Any) -> list[int]:
    """The shape in one `input_type_shape`/`output_type_shape` entry ({dtype: shape})."""
    if isinstance(entry, dict) and entry:
        return [int(d) for d in next(iter(entry.values()))]
    return []


def ort_profile(model: Path, frames: np.ndarray, threads: int | None) -> dict[str, Any]:
    """ONNX Runtime's per-op profile of `model` on `frames` (one batch), averaged over RUNS runs."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    with tempfile.TemporaryDirectory(prefix="depthmask-profile-") as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        session.run(None, {name: frames})
        for _ in range(RUNS):
            session.run(None, {name: frames})
        events = json.loads(Path(session.end_profiling()).read_text())
    nodes = [e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")]
    runs = RUNS + 1
    # The first run's events are dropped: it includes one-off allocations.
    per_run = len(nodes) // runs
    nodes = nodes[per_run:]
    by_op: dict[str, dict[str, float]] = defaultdict(lambda: {"calls": 0, "us": 0.0, "flops": 0.0})
    by_node: dict[str, dict[str, Any]] = {}
    for e in nodes:
        args = e.get("args", {})
        op = str(args.get("op_name", "?"))
        flops = node_flops(
            op,
            [_dims(x) for x in args.get("input_type_shape", [])],
            [_dims(x) for x in args.get("output_type_shape", [])],
        )
        rec = by_op[op]
        rec["calls"] += 1
        rec["us"] += float(e.get("dur", 0))
        rec["flops"] += flops
        node = by_node.setdefault(
            e["name"].removesuffix("_kernel_time"), {"op": op, "us": 0.0, "flops": 0.0, "calls": 0}
        )
        node["us"] += float(e.get("dur", 0))
        node["flops"] += flops
        node["calls"] += 1
    table = _table(by_op, by_node, RUNS, frames.shape[0])
    graph = flops_by_node(onnx.load(str(model), load_external_data=False), batch=frames.shape[0])
    return {**table, "graph_gflop_per_run": round(sum(graph.values()) / 1e9, 3)}


def _table(
    by_op: dict[str, dict[str, float]], by_node: dict[str, dict[str, Any]], runs: int, batch: int
) -> dict[str, Any]:
    total_us = sum(r["us"] for r in by_op.values()) or 1.0
    ops = []
    for op, r in sorted(by_op.items(), key=lambda kv: -kv[1]["us"]):
        ms = r["us"] / runs / 1e3
        ops.append(
            {
                "op": op,
                "calls_per_run": int(r["calls"] // runs),
                "ms_per_run": round(ms, 3),
                "share": round(r["us"] / total_us, 4),
                "gflop_per_run": round(r["flops"] / runs / 1e9, 3),
                "gflop_per_s": round(r["flops"] / (r["us"] / 1e6) / 1e9, 1)
                if r["flops"] and r["us"]
                else None,
            }
        )
    top = sorted(by_node.items(), key=lambda kv: -kv[1]["us"])[:TOP_NODES]
    nodes = [
        {
            "node": name,
            "op": r["op"],
            "ms_per_run": round(r["us"] / runs / 1e3, 3),
            "share": round(r["us"] / total_us, 4),
            "gflop_per_s": round(r["flops"] / (r["us"] / 1e6) / 1e9, 1) if r["flops"] and r["us"] else None,
        }
        for name, r in top
    ]
    return {"batch": batch, "ms_per_run": round(total_us / runs / 1e3, 3), "ops": ops, "top_nodes": nodes}


def openvino_profile(model: Path, frames: np.ndarray, precision: str, threads: int | None) -> dict[str, Any]:
    """OpenVINO's per-layer counters of `model` at `precision`, grouped by (layer type, kernel)."""
    import openvino as ov

    from depthmask.runtime.backends.openvino import PRECISION_HINTS

    core = ov.Core()
    network = core.read_model(str(model))
    h, w = frames.shape[1:3]
    network.reshape({network.inputs[0].get_any_name(): [frames.shape[0], h, w, 3]})
    compiled = core.compile_model(
        network,
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads or (os.cpu_count() or 1),
            "PERF_COUNT": True,
        },
    )
    request = compiled.create_infer_request()
    request.infer({0: frames})
    by_op: dict[str, dict[str, float]] = defaultdict(lambda: {"calls": 0, "us": 0.0, "flops": 0.0})
    by_node: dict[str, dict[str, Any]] = {}
    for _ in range(RUNS):
        request.infer({0: frames})
        for p in request.profiling_info:
            if str(p.status).endswith("NOT_RUN"):
                continue
            us = p.real_time.total_seconds() * 1e6
            key = f"{p.node_type} [{p.exec_type}]"
            by_op[key]["calls"] += 1
            by_op[key]["us"] += us
            node = by_node.setdefault(p.node_name, {"op": key, "us": 0.0, "flops": 0.0, "calls": 0})
            node["us"] += us
            node["calls"] += 1
    return _table(by_op, by_node, RUNS, frames.shape[0])
