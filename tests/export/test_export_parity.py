"""Parity metrics and gates: depth and mask numbers are right, and a drifting candidate fails."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from depthmask.errors import ContractError
from depthmask.export.parity import (
    TOLERANCES,
    compare_depth,
    mask_iou,
    render,
    torch_reference,
    validate,
)


def test_depth_metrics_on_known_numbers() -> None:
    ref = np.array([1.0, 2.0, 4.0, 0.0])  # the last pixel has no valid reference (≤ 1 mm)
    got = np.array([1.1, 2.0, 2.0, 9.0])
    m = compare_depth(ref, got)
    assert m["abs_rel"] == pytest.approx((0.1 + 0 + 0.5) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((0.01 + 0 + 4) / 3))
    assert m["delta1"] == pytest.approx(2 / 3)  # 4 m predicted as 2 m is off by 2×
    assert m["valid_fraction"] == 0.75


def test_mask_iou_binarises_at_epsilon() -> None:
    ref = np.array([0.0, 0.02, 0.03, 0.9])
    got = np.array([0.03, 0.02, 0.0, 0.8])
    assert mask_iou(ref, got) == pytest.approx(1 / 3)  # kept: ref {2, 3}, got {0, 3}
    assert mask_iou(np.zeros(3), np.zeros(3)) == 1.0


class Drift:
    """The real graph, with `offset` metres added to every depth it returns."""

    def __init__(self, graph, offset: float) -> None:
        self.inner, self.offset = torch_reference(graph), offset

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        out = self.inner.infer(frames)
        return {k: v + self.offset if k.startswith("depth") else v for k, v in out.items()}


def test_identical_runners_pass_every_precision(exported: dict, frames: np.ndarray) -> None:
    graph = exported["audit"][1]
    for precision in TOLERANCES:
        result = validate(
            torch_reference(graph), torch_reference(graph), frames, precision=precision,
            stats_columns=graph.spec.stats_columns,
        )  # fmt: skip
        assert result.passed and result.output("depth").max_abs == 0.0
        assert {o.name for o in result.outputs} == {"mask", "depth", "depth_masked", "stats"}


def test_drift_fails_fp32_and_int8_gates_name_it(exported: dict, frames: np.ndarray) -> None:
    graph = exported["audit"][1]
    small = validate(torch_reference(graph), Drift(graph, 0.01), frames, precision="fp32")
    assert not small.passed
    assert {g.what for g in small.failures} == {"depth max-abs", "depth_masked max-abs"}
    assert validate(torch_reference(graph), Drift(graph, 0.01), frames, precision="int8").passed  # 0.3 %
    large = validate(torch_reference(graph), Drift(graph, 1.5), frames, precision="int8")
    assert {g.what for g in large.failures} >= {"depth abs_rel", "depth_masked abs_rel"}
    assert large.output("depth").rmse == pytest.approx(1.5, rel=1e-5)  # a constant offset: rmse = offset
    assert large.output("depth").abs_rel > 0.3  # depth is about 3 m


def test_result_renders_and_serialises(exported: dict, frames: np.ndarray) -> None:
    graph = exported["audit"][1]
    result = validate(
        torch_reference(graph), Drift(graph, 1.5), frames, precision="fp16", candidate_name="drift"
    )
    console = Console(record=True, width=100)
    console.print(render(result))
    text = console.export_text()
    assert "FAIL" in text and "drift" in text and "depth abs_rel" in text
    d = result.to_dict()
    assert d["passed"] is False and any(not g["ok"] for g in d["gates"])


def test_frames_must_be_uint8_nhwc(exported: dict) -> None:
    graph = exported["audit"][1]
    with pytest.raises(ContractError, match=r"uint8 \[N, H, W, 3\]; got float32"):
        validate(torch_reference(graph), torch_reference(graph), np.zeros((1, 64, 96, 3), np.float32))


def test_untrained_depth_is_bounded_by_its_scale() -> None:
    from depthmask.export.parity import compare_outputs, gates_for

    ref = {"depth": np.full((1, 1, 4, 4), -0.03, np.float32)}  # an untrained N: no depth above 1 mm
    close = compare_outputs(ref, {"depth": ref["depth"] * 1.001})
    far = compare_outputs(ref, {"depth": ref["depth"] * 1.5})
    assert [g.what for g in gates_for(close, TOLERANCES["fp16"])] == ["depth max-abs/scale"]
    assert all(g.ok for g in gates_for(close, TOLERANCES["fp16"]))
    assert not any(g.ok for g in gates_for(far, TOLERANCES["fp16"]))
