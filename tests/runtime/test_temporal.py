"""Is G's attention stable from frame to frame? `mask_iou_prev` and `mask_drift` in every record, the
summary and the report; a jump flagged at the run's threshold. Checked against masks recomputed here
from the run's own mask PNGs and against frames whose sameness the test itself arranged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import depthmask
from depthmask.contract.constants import EPSILON
from depthmask.contract.fidelity import mask_iou
from depthmask.report import build_report
from depthmask.runtime.config import RunConfig
from depthmask.runtime.records import Item, Result
from depthmask.runtime.run import run
from depthmask.runtime.temporal import AttentionTracker
from depthmask.sources.base import Frame
from depthmask.synthetic.config import SceneConfig
from depthmask.synthetic.scene import render_frame

DEMO = Path(depthmask.__file__).parent / "assets" / "demo-audit.onnx"  # 128×416: G trained on drives


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]


def scene(seed: int, index: int) -> np.ndarray:
    return render_frame(SceneConfig(height=128, width=416, seed=seed), index).image


def test_a_repeated_frame_is_perfectly_stable(audit_model: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    image = scene(3, 5)
    for i in range(5):
        cv2.imwrite(str(frames / f"{i:02d}.png"), image)
    summary = run(RunConfig(sources=(str(frames),), model=audit_model, out=tmp_path / "out", save=frozenset(),
                            threads=1))  # fmt: skip
    recs = records(Path(summary["out"]))
    assert recs[0]["mask_iou_prev"] is None and recs[0]["mask_drift"] is None  # nothing before it
    assert [r["mask_iou_prev"] for r in recs[1:]] == [1.0] * 4
    assert [r["mask_drift"] for r in recs[1:]] == [0.0] * 4
    assert summary["stats"]["mask_iou_prev"]["count"] == 4 and summary["flags"]["attention_jump"] == 0


def test_a_scene_cut_is_flagged_as_an_attention_jump(tmp_path: Path) -> None:
    """Two frames of one drive, then two of another: the cut is flagged, and the values are those of
    the saved masks (recomputed here from the mask PNGs)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, image in enumerate([scene(1, 0), scene(1, 1), scene(9, 30), scene(9, 31)]):
        cv2.imwrite(str(frames / f"{i:02d}.png"), image)
    out = tmp_path / "out"
    summary = run(RunConfig(sources=(str(frames),), model=DEMO, out=out, save=frozenset({"mask"}), threads=1))
    recs = records(Path(summary["out"]))
    flagged = [r["frame"] for r in recs if "attention_jump" in r.get("flags", ())]
    assert flagged == [2]
    assert summary["flags"]["attention_jump"] == 1
    masks = [
        cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(Path(summary["out"]).rglob("mask/*.png"))
    ]
    assert len(masks) == 4
    scale = np.iinfo(masks[0].dtype).max
    for k in (1, 2, 3):
        a, b = masks[k - 1] / scale, masks[k] / scale
        assert recs[k]["mask_iou_prev"] == pytest.approx(mask_iou(a, b, EPSILON), abs=0.02)
        assert recs[k]["mask_drift"] == pytest.approx(np.abs(b - a).mean(), abs=1e-3)
    assert recs[2]["mask_iou_prev"] < 0.75 < min(recs[1]["mask_iou_prev"], recs[3]["mask_iou_prev"])
    page = build_report(Path(summary["out"])).read_text()
    assert "mask_iou_prev" in page and "flagged attention_jump" in page
    # The threshold is the user's: at 0 nothing is a jump.
    quiet = run(RunConfig(sources=(str(frames),), model=DEMO, out=tmp_path / "q", save=frozenset(), threads=1,
                          jump_iou=0.0))  # fmt: skip
    assert quiet["flags"]["attention_jump"] == 0


def _result(source: str, index: int, mask: np.ndarray | None, status: str = "ok") -> Result:
    frame = Frame(index, index / 10, None, source)
    outputs = {} if mask is None else {"mask": mask}
    return Result(Item(frame, 0, 0.0), status, outputs=outputs)  # type: ignore[arg-type]


def test_sources_are_tracked_apart_and_skipped_frames_pass_over() -> None:
    tracker = AttentionTracker(jump_iou=0.5)
    on, off = np.full((1, 4, 4), 0.9, np.float32), np.zeros((1, 4, 4), np.float32)
    results = [
        _result("a", 0, on), _result("b", 0, off), _result("a", 1, None, "decode_error"),
        _result("a", 2, on), _result("b", 1, on), _result("b", 2, on),
    ]  # fmt: skip
    for r in results:
        tracker.update(r)
    assert np.isnan(results[0].stats["mask_iou_prev"]) and np.isnan(results[1].stats["mask_iou_prev"])
    assert results[2].stats == {}  # a frame that was not inferred has no mask to compare
    assert results[3].stats["mask_iou_prev"] == 1.0  # compared with a's frame 0, past the bad frame
    assert results[4].stats["mask_iou_prev"] == 0.0 and results[4].flags == ["attention_jump"]
    assert results[4].stats["mask_drift"] == pytest.approx(0.9)
    assert results[5].flags == []
    assert mask_iou(np.zeros(3), np.zeros(3)) == 1.0  # nothing kept twice is no change
