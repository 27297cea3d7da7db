"""fp16 and int8 variants: the interface stays uint8 in / float32 out, the fp32 island stays fp32, and
each variant passes the parity tolerances of its precision (while a broken quantization does not)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from export_nets import SIZE

from depthmask.contract.metadata import read_metadata
from depthmask.errors import ConfigError
from depthmask.export.frames import collect, frames_from_source
from depthmask.export.parity import runner_for, torch_reference, validate
from depthmask.export.precision import edge_convs, fp16_from_onnx, fp32_island, int8_from_onnx


@pytest.fixture(scope="module")
def fp16(exported: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fp16_from_onnx(exported["audit"][0], tmp_path_factory.mktemp("fp16") / "m-fp16.onnx")


@pytest.fixture(scope="module")
def int8(exported: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    calibration = frames_from_source("synthetic:seed=3", *SIZE, 32)
    out = tmp_path_factory.mktemp("int8") / "m-int8.onnx"
    return int8_from_onnx(exported["audit"][0], out, calibration, calibration_source="synthetic:seed=3")


def parity(exported: dict, path: Path, frames: np.ndarray):
    meta = read_metadata(path)
    runner = runner_for(path)
    try:
        return validate(
            torch_reference(exported["audit"][1]), runner, frames, precision=meta["precision"],
            stats_columns=meta["stats_columns"],
        )  # fmt: skip
    finally:
        runner.close()


def test_island_is_the_sigmoid_and_the_statistics(exported: dict) -> None:
    model = onnx.load(str(exported["audit"][0]))
    island = fp32_island(model)
    ops = Counter(n.op_type for n in model.graph.node if n.name in island)
    assert ops["Sigmoid"] == 1 and ops["ReduceSum"] >= 32  # the threshold's bisection counts
    assert ops["Conv"] == 0  # no network layer is in it
    masked = onnx.load(str(exported["masked"][0]))
    assert {
        masked.graph.node[i].op_type for i, n in enumerate(masked.graph.node) if n.name in fp32_island(masked)
    } == {"Sigmoid"}


def test_fp16_keeps_the_interface_and_the_island(fp16: Path) -> None:
    model = onnx.load(str(fp16))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert {o.type.tensor_type.elem_type for o in model.graph.output} == {onnx.TensorProto.FLOAT}
    weights = Counter(t.data_type for t in model.graph.initializer if len(t.dims) == 4)
    assert weights[onnx.TensorProto.FLOAT16] > 0 and weights[onnx.TensorProto.FLOAT] == 0
    sigmoid = next(n for n in model.graph.node if n.op_type == "Sigmoid")
    producer = {o: n for n in model.graph.node for o in n.output}
    cast = producer[sigmoid.input[0]]  # fp16 logits are cast up before the sigmoid
    assert cast.op_type == "Cast" and cast.attribute[0].i == onnx.TensorProto.FLOAT
    assert read_metadata(fp16)["precision"] == "fp16"


def test_fp16_parity_within_tolerance(exported: dict, fp16: Path, frames: np.ndarray) -> None:
    result = parity(exported, fp16, frames)
    assert result.passed, [(g.what, g.value, g.limit) for g in result.failures]
    assert result.output("depth").abs_rel < 0.01 and result.output("mask").iou > 0.97


def test_int8_is_qdq_per_channel_outside_the_island(exported: dict, int8: Path) -> None:
    model = onnx.load(str(int8))
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["QuantizeLinear"]
    per_channel = [
        n for n in model.graph.node
        if n.op_type == "DequantizeLinear" and any(a.name == "axis" for a in n.attribute)
    ]  # fmt: skip
    assert per_channel, "weights are quantized per output channel"
    fp32 = onnx.load(str(exported["audit"][0]))
    kept = fp32_island(fp32) | edge_convs(fp32)
    consumers = {i: n for n in model.graph.node for i in n.input}
    assert not any(
        consumers.get(o) is not None and consumers[o].op_type == "QuantizeLinear"
        for n in model.graph.node if n.op_type == "Sigmoid" for o in n.output
    )  # fmt: skip
    assert len(edge_convs(fp32)) == 4  # two image-reading convs (G, N) and two one-channel heads
    assert read_metadata(int8)["calibration"]["frames"] == 32
    assert kept


def test_int8_parity_within_tolerance(exported: dict, int8: Path, frames: np.ndarray) -> None:
    result = parity(exported, int8, frames)
    assert result.passed, [(g.what, g.value, g.limit) for g in result.failures]


def test_int8_calibrated_on_the_wrong_frames_fails_parity(
    exported: dict, tmp_path: Path, frames: np.ndarray
) -> None:
    dark = [np.full((*SIZE, 3), 3, np.uint8)] * 8  # ranges from black frames clip real activations
    path = int8_from_onnx(exported["audit"][0], tmp_path / "dark.onnx", dark, calibration_source="black")
    result = parity(exported, path, frames)
    assert not result.passed


def test_variants_refuse_a_non_fp32_source(fp16: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has precision 'fp16'; convert the fp32 export"):
        fp16_from_onnx(fp16, tmp_path / "x.onnx")


def test_calibration_sources(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((40, 50, 3), 40 * i, np.uint8))
    frames = collect(frames_from_source(str(tmp_path), *SIZE, 10))
    assert frames.shape == (3, *SIZE, 3) and frames.dtype == np.uint8
    assert collect(frames_from_source(str(tmp_path / "*.png"), *SIZE, 2)).shape[0] == 2
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    for i in range(5):
        writer.write(np.full((60, 80, 3), 50 * i, np.uint8))
    writer.release()
    assert collect(frames_from_source(str(video), *SIZE, 4)).shape == (4, *SIZE, 3)
    for live in ("0", "rtsp://127.0.0.1:8554/cam", "/dev/video0"):
        with pytest.raises(ConfigError, match="live camera or stream"):
            next(frames_from_source(live, *SIZE, 1))
    with pytest.raises(ConfigError, match=r"frames source .*nothing-here.*Accepted: a folder or glob"):
        next(frames_from_source(str(tmp_path / "nothing-here"), *SIZE, 1))


def test_calibration_reads_one_batch_per_pass_and_every_frame_once(
    exported: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The strided calibration (bounded memory: one batch's tensors at a time) reads each batch in a
    pass of its own and finds the ranges one pass over every frame finds, computed here independently
    with ONNX Runtime's own calibrator."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator, load_tensors_data

    from depthmask.export.precision import INT8_OPS, FrameReader, Int8Recipe

    passes: list[tuple[int, int]] = []
    original = FrameReader.set_range
    monkeypatch.setattr(
        FrameReader, "set_range", lambda self, a, b: (passes.append((a, b)), original(self, a, b))[1]
    )
    frames = collect(frames_from_source("synthetic:seed=3", *SIZE, 10))  # 3 batches of 4, the last short
    recipe = Int8Recipe(exported["audit"][0], frames, tmp_path, calibration_source="synthetic:seed=3")
    recipe.quantize(tmp_path / "m-int8.onnx", method="minmax")
    assert passes == [(0, 1), (1, 2), (2, 3)]
    strided = load_tensors_data(tmp_path / "ranges-minmax.json")
    monkeypatch.undo()

    reader = FrameReader(frames, recipe.spec, recipe.batch, fixed=recipe.fixed)
    assert len(reader) == 3
    calibrator = create_calibrator(
        recipe.prepared_path, list(INT8_OPS), augmented_model_path=str(tmp_path / "augmented.onnx"),
        calibrate_method=CalibrationMethod.MinMax,
    )  # fmt: skip
    calibrator.collect_data(reader)  # one pass over all three batches
    whole = calibrator.compute_data()
    assert reader.count == len(frames)
    assert set(strided.data) == set(whole.data)
    for name, data in whole.data.items():
        np.testing.assert_allclose(strided.data[name].range_value, data.range_value, rtol=1e-6, err_msg=name)
