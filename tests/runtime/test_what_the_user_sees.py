"""What a run shows the user: pictures at the footage's own resolution and aspect (with one aspect
warning), honest flags when G keeps nothing, latency stages that add up, a new folder per run."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from depthmask.cli import app
from depthmask.contract import exits
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import run
from depthmask.runtime.sinks.base import source_dir_name
from depthmask.sources.fit import fit_frame, placement, to_source

THREADS = 1


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]


def video_shape(path: Path) -> tuple[int, int, int]:
    """(frames, height, width) of a video, decoded with PyAV."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    return len(frames), frames[0].shape[0], frames[0].shape[1]


@pytest.fixture(scope="module")
def clip_640x480(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4:3 clip of 6 frames, 640×480: a circle that moves, on a gradient."""
    path = tmp_path_factory.mktemp("clip") / "clip640.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (640, 480))
    ramp = np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None].repeat(480, 0).repeat(3, 2)
    for i in range(6):
        frame = ramp.copy()
        cv2.circle(frame, (100 + 60 * i, 240), 60, (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def test_a_640x480_clip_is_drawn_at_640x480_with_one_aspect_warning(
    audit_model: Path, model_size: tuple[int, int], clip_640x480: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["run", str(clip_640x480), "--model", str(audit_model), "--out", str(out), "--threads", "1",
         "--batch", "3"],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == exits.OK, result.output
    folder = out / source_dir_name(str(clip_640x480), 0)
    frames, height, width = video_shape(folder / "overlay.mp4")
    # input | mask | depth panels, each the frame's own 640×480, and the colour bar.
    from depthmask.runtime.overlay import BAR_WIDTH

    assert (frames, height, width) == (6, 480, 3 * 640 + BAR_WIDTH)
    summary = json.loads((out / "summary.json").read_text())
    (samples,) = [o["samples"] for o in summary["outputs"] if "samples" in o]
    sample = samples[0]
    for name in ("input", "mask", "masked", "depth", "depth_masked"):
        image = cv2.imread(str(out / "samples" / sample["files"][name]))
        assert image.shape[:2] == (480, 640), name
    (warning,) = summary["warnings"]
    h, w = model_size
    assert (
        warning["kind"] == "aspect" and "640×480" in warning["message"] and f"{w}×{h}" in warning["message"]
    )
    assert "--fit resize" in warning["message"]
    printed = " ".join(result.output.split())
    assert printed.count("frames are 640×480") == 1, result.output
    # The report's mean mask is drawn at the footage's 4:3 too (the stretch of --fit resize undone).
    html = (out / "report.html").read_text()
    data = html.split('alt="mean mask" src="data:image/png;base64,')[1].split('"')[0]
    mean_mask = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    assert mean_mask.shape[1] / mean_mask.shape[0] == pytest.approx(640 / 480, rel=0.01)


def test_overlay_width_caps_the_pictures_keeping_the_aspect(
    audit_model: Path, clip_640x480: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cfg = RunConfig(sources=(str(clip_640x480),), model=audit_model, out=out, threads=THREADS,
                    save=frozenset({"video"}), overlay_width=320, fit="letterbox")  # fmt: skip
    summary = run(cfg)
    from depthmask.runtime.overlay import BAR_WIDTH

    folder = out / source_dir_name(str(clip_640x480), 0)
    assert video_shape(folder / "overlay.mp4") == (6, 240, 3 * 320 + BAR_WIDTH)
    assert "letterboxed" in summary["warnings"][0]["message"]


def test_to_source_cuts_letterbox_bars_and_fills_outside_a_crop() -> None:
    # A 100×300 source letterboxed into 64×96: the content is 32 rows tall in the middle of the input.
    place = placement((100, 300), 64, 96, "letterbox")
    assert place.content == (16, 0, 32, 96)
    values = np.zeros((32, 48), np.float32)  # a half-size output map
    values[8:24] = 1.0  # exactly the content rows (16..48 of 64, at half size)
    back = to_source(values, place, (100, 300))
    assert back.shape == (100, 300) and back.min() == 1.0  # no bar reached the picture
    # The same rule fits the frame: the letterboxed input's content equals the source scaled alone.
    image = np.random.default_rng(0).integers(0, 255, (100, 300, 3), dtype=np.uint8)
    fitted = fit_frame(image, 64, 96, "letterbox")
    assert (fitted[:16] == 114).all() and (fitted[48:] == 114).all()
    # Crop: the model sees the middle 100×150 of a 100×300 frame; outside it the map is `fill`.
    crop = placement((100, 300), 64, 96, "crop")
    assert crop.window == (0, 75, 100, 150)
    back = to_source(np.ones((32, 48), np.float32), crop, (100, 300), fill=np.nan)
    assert np.isnan(back[:, :75]).all() and np.isnan(back[:, 225:]).all() and (back[:, 75:225] == 1).all()


@pytest.fixture(scope="module")
def empty_mask_model(tmp_path_factory: pytest.TempPathFactory, nets: Any) -> Path:
    """The runtime tests' model with G's last bias pushed down by 40: it keeps no pixel on any frame."""
    from depthmask.export.onnx import onnx_from_checkpoint
    from depthmask.nets.checkpoint import read_weights, save_checkpoint
    from depthmask.nets.models import create_model

    folder = tmp_path_factory.mktemp("empty-g")
    n, g = nets.make_checkpoints(folder, size=nets.SIZE)
    mask_net = create_model("mask_drn_tiny")
    mask_net.load_state_dict(read_weights(g))
    with __import__("torch").no_grad():
        mask_net.D.conv.bias -= 40.0
    empty = save_checkpoint(mask_net, folder / "empty-g.safetensors", **{"lambda": 5.0})
    return onnx_from_checkpoint(nets.config((n, empty), "audit"), folder / "empty-g.onnx")


def test_a_g_that_keeps_nothing_is_flagged_with_null_ratios_and_a_warning(
    empty_mask_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    source = "synthetic:frames=5,height=64,width=96,seed=3"
    result = CliRunner().invoke(
        app, ["run", source, "--model", str(empty_mask_model), "--out", str(out), "--threads", "1"],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    # The frames were processed: the exit status is that of a good run (documented in the README).
    assert result.exit_code == exits.OK, result.output
    recs = records(out)
    assert len(recs) == 5 and all(r["flags"] == ["mask_empty"] for r in recs)
    assert all(r["far_attention"] is None and r["mask_keep"] < 0.01 for r in recs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["flags"] == {"mask_empty": 5, "mask_full": 0, "attention_jump": 0}
    assert (
        summary["stats"]["far_attention"]["count"] == 0 and summary["stats"]["far_attention"]["mean"] is None
    )
    (warning,) = [w for w in summary["warnings"] if w["kind"] == "mask_empty"]
    assert "5 of 5 frames" in warning["message"] and "depthmask train mask" in warning["message"]
    printed = " ".join(result.output.split())
    assert "5 of 5 frames" in printed and "mask_empty 5" in printed


def test_latency_stages_sum_to_end_to_end(audit_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = run(RunConfig(sources=("synthetic:frames=9,height=64,width=96",), model=audit_model, out=out,
                            threads=THREADS, batch=4, save=frozenset({"video", "mask"})))  # fmt: skip
    stages = ("preprocess", "queue", "infer", "write")
    for r in records(out):
        parts = sum(r["stages_ms"][k] for k in stages)
        assert parts == pytest.approx(r["latency_ms"], abs=0.01), r
        assert r["age_ms"]["written"] == r["latency_ms"] and r["age_ms"]["infer"] <= r["latency_ms"]
    split = summary["latency_stages"]
    assert split["stages"] == list(stages)
    assert split["sum_of_stage_means_ms"] == pytest.approx(summary["latency_ms"]["mean"], rel=0.05)
    assert summary["compute_ms"]["per_batch"]["count"] == summary["batches"] == 3  # 4 + 4 + 1
    per_frame = summary["compute_ms"]["per_frame"]
    assert per_frame["max"] <= summary["compute_ms"]["per_batch"]["max"]


def test_each_run_gets_a_new_folder_unless_exist_ok(audit_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs" / "run"

    def once(*extra: str) -> dict[str, Any]:
        result = CliRunner().invoke(
            app, ["run", "synthetic:frames=2,height=64,width=96", "--model", str(audit_model), "--out",
                  str(out), "--threads", "1", "--save", "mask", *extra],
            env={"COLUMNS": "300"},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        report = Path(result.output.split("report: ")[1].split()[0])  # where the run says it wrote
        return json.loads((report.parent / "summary.json").read_text())

    first, second = once(), once()
    assert Path(first["out"]) == out and Path(second["out"]) == out.with_name("run2")
    assert len(records(out)) == 2 and len(records(out.with_name("run2"))) == 2
    third = once("--exist-ok")
    assert Path(third["out"]) == out and not out.with_name("run3").exists()
