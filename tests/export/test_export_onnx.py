"""The fp32 ONNX export: one file per mode with a symbolic batch, equal to PyTorch at batch 1 and 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from export_nets import SIZE, config

from depthmask.contract.metadata import read_metadata
from depthmask.contract.spec import BATCH_AXIS
from depthmask.export.frames import collect, frames_from_source

FP32_MAX_ABS = 1e-4


def assert_fp32_close(got: dict[str, np.ndarray], want: dict[str, np.ndarray], where: str) -> None:
    """mask and depth maps within 1e-4 absolute; stats columns within 1e-4 of their own scale (fid_abs_rel
    divides by depth, which an untrained N can put near 0 m, giving values of 100 and more)."""
    assert list(got) == list(want)
    for name, ref in want.items():
        assert got[name].shape == ref.shape
        if name == "stats":
            err, limit = (
                np.abs(got[name] - ref).max(axis=0),
                FP32_MAX_ABS * np.maximum(1.0, np.abs(ref).max(axis=0)),
            )
        else:
            err, limit = np.abs(got[name] - ref).max(), FP32_MAX_ABS
        assert np.all(err <= limit), f"{where}: {name} max-abs {err} > {limit}"


def ort_outputs(path: Path, frames: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"frames": frames}), strict=True))


@pytest.mark.parametrize("mode", ["mask", "masked", "audit"])
def test_onnx_equals_pytorch_at_batch_1_and_3_from_one_file(exported: dict, mode: str) -> None:
    path, graph = exported[mode]
    for batch in (1, 3):
        frames = collect(frames_from_source(f"synthetic:seed={batch}", *SIZE, batch))
        got = ort_outputs(path, frames)
        with torch.no_grad():
            want = {k: v.numpy() for k, v in graph.named(torch.from_numpy(frames)).items()}
        assert list(got) == list(graph.spec.outputs)
        assert {k: v.shape[0] for k, v in got.items()} == dict.fromkeys(want, batch)
        assert_fp32_close(got, want, f"{mode} at batch {batch}")


@pytest.mark.parametrize("mode", ["mask", "masked", "audit"])
def test_file_is_checked_and_keeps_the_batch_symbolic(exported: dict, mode: str) -> None:
    path, graph = exported[mode]
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in model.graph.output
    }
    inp = model.graph.input[0]
    assert inp.name == "frames" and inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == [BATCH_AXIS, *SIZE, 3]
    assert list(dims) == list(graph.spec.outputs)
    assert all(shape[0] == BATCH_AXIS for shape in dims.values())
    meta = read_metadata(path)
    assert meta["mode"] == mode and meta["precision"] == "fp32" and meta["input"]["batch"] == BATCH_AXIS
    assert [o["shape"] for o in meta["outputs"]] == list(dims.values())


def test_gflop_is_counted_per_mode(exported: dict) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    g = {mode: read_metadata(exported[mode][0])["gflop_per_frame"] for mode in exported}
    graph = exported["audit"][1]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        graph.depth_net(torch.zeros(1, 3, *SIZE))
    n_gflop = counter.get_total_flops() / 1e9
    assert 0 < g["mask"] < g["audit"]
    # audit = G + 2 N: counted on the exported graph, not quoted
    assert g["audit"] == pytest.approx(g["mask"] + 2 * n_gflop, rel=0.01)


def test_metadata_records_weights_and_lambda(exported: dict, checkpoints: tuple[Path, Path]) -> None:
    meta = read_metadata(exported["audit"][0])
    n, _ = checkpoints
    assert meta["depth_net"] == "hu2019_tiny" and meta["mask_net"] == "mask_drn_tiny"
    recorded = meta["checkpoints"]["depth_net"]["checkpoint"]  # relative to the ONNX file's folder
    assert (exported["audit"][0].parent / recorded).resolve() == n.resolve()
    assert len(meta["checkpoints"]["mask_net"]["sha256"]) == 64
    assert meta["lambda"] == 5.0 and meta["depth_units"] == "m" and meta["epsilon"] == 0.025
    assert meta["export_config"]["mode"] == "audit"


def test_pipeline_fixed_batch_int8(tmp_path: Path, checkpoints: tuple[Path, Path]) -> None:
    from depthmask.export.pipeline import artefacts_from_config

    cfg = config(
        checkpoints, "mask", batch=2, precision="int8", calibration="synthetic:seed=4", calibration_frames=8,
        check_frames=3, output=tmp_path / "g.onnx",
    )  # fmt: skip
    result = artefacts_from_config(cfg)
    assert result.artefacts == (tmp_path / "g.onnx",) and sorted(p.name for p in tmp_path.iterdir()) == [
        "g.onnx"
    ]
    model = onnx.load(str(result.artefacts[0]))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    meta = read_metadata(result.artefacts[0])
    assert meta["input"]["batch"] == 2 and meta["precision"] == "int8"
    assert meta["calibration"] == {"source": "synthetic:seed=4", "frames": 8, "method": "minmax"}
    assert [p.frames for p in result.parity] == [3] and result.passed  # 3 frames through a batch-2 model
    assert set(result.seconds) == {"load networks", "onnx fp32", "onnx int8", "check g.onnx"}
    frames = collect(frames_from_source("synthetic:seed=1", *SIZE, 2))
    assert ort_outputs(result.artefacts[0], frames)["mask"].shape == (2, 1, *SIZE)


def test_densenet_family_exports(tmp_path: Path) -> None:
    from export_nets import make_checkpoints

    from depthmask.export.onnx import graph_from_config, onnx_from_graph

    ckpts = make_checkpoints(tmp_path, depth_net="hu2019_densenet_tiny", size=SIZE)
    cfg = config(ckpts, "audit")
    graph = graph_from_config(cfg)
    path = onnx_from_graph(graph, tmp_path / "m.onnx", cfg)
    frames = collect(frames_from_source("synthetic:seed=3", *SIZE, 3))
    got = ort_outputs(path, frames)
    with torch.no_grad():
        want = {k: v.numpy() for k, v in graph.named(torch.from_numpy(frames)).items()}
    assert_fp32_close(got, want, "hu2019_densenet_tiny audit")


def test_weights_beyond_the_protobuf_limit_go_to_external_data(
    tmp_path: Path, checkpoints: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import depthmask.export.onnx as export_onnx

    monkeypatch.setattr(export_onnx, "PROTOBUF_LIMIT", 100_000)  # the tiny G (~1.5 MB) plays a 2 GB model
    path = export_onnx.onnx_from_checkpoint(config(checkpoints, "mask"), tmp_path / "big.onnx")
    data = tmp_path / "big.onnx.data"
    assert data.is_file() and data.stat().st_size > path.stat().st_size
    assert read_metadata(path)["mode"] == "mask"
    frames = collect(frames_from_source("synthetic:seed=1", *SIZE, 2))
    assert ort_outputs(path, frames)["mask"].shape == (2, 1, *SIZE)


def test_torchscript_fallback_gives_the_same_graph(
    tmp_path: Path, checkpoints: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import depthmask.export.onnx as export_onnx

    # As if the dynamo exporter had failed: the TorchScript exporter is the one left to try.
    monkeypatch.setattr(export_onnx, "EXPORTERS", {"torchscript": export_onnx.EXPORTERS["torchscript"]})
    cfg = config(checkpoints, "audit")
    graph = export_onnx.graph_from_config(cfg)
    path = export_onnx.onnx_from_graph(graph, tmp_path / "ts.onnx", cfg)
    meta = read_metadata(path)
    assert meta["exporter"] == "torchscript" and meta["input"]["batch"] == BATCH_AXIS
    for batch in (1, 3):
        frames = collect(frames_from_source(f"synthetic:seed={batch}", *SIZE, batch))
        with torch.no_grad():
            want = {k: v.numpy() for k, v in graph.named(torch.from_numpy(frames)).items()}
        assert_fp32_close(ort_outputs(path, frames), want, f"torchscript at batch {batch}")
