"""`depthmask demo` and the files it ships: the run end to end (also without torch), the report in a
browser, the shipped ONNX against a re-export of the shipped checkpoints, the metadata, the size budget,
and the shipped models' quality on held-out frames, re-measured."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import depthmask
from depthmask.cli import app
from depthmask.demo import (
    ASSET_DEPTH,
    ASSET_MASK,
    ASSET_MODEL,
    ASSET_PROVENANCE,
    FAR_ATTENTION_UNIFORM,
    DemoConfig,
    shipped_checkpoints,
    shipped_model,
    shipped_provenance,
)
from depthmask.errors import ConfigError
from test_readme import parse

ASSETS = Path(depthmask.__file__).parent / "assets"
SIZE_BUDGET = 10 * 2**20  # bytes: the package carries the assets in every install
FRAMES = 12
# The train extra: none of it may be imported by the demo on a runtime-only install.
TRAIN_ONLY = (
    "torch",
    "torchvision",
    "timm",
    "onnx",
    "onnxscript",
    "onnxslim",
    "safetensors",
    "h5py",
    "scipy",
)
# What "well above a uniform mask" and "decent depth" mean for the shipped models (held-out frames).
FAR_ATTENTION_MIN = 0.4  # twice a uniform mask
ABS_REL_MAX = 0.25


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`depthmask demo --frames 12` once for the module: (its output folder, what it printed)."""
    out = tmp_path_factory.mktemp("demo") / "run"
    result = CliRunner().invoke(app, ["demo", "--frames", str(FRAMES), "--batch", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_demo_end_to_end(demo_run: tuple[Path, str]) -> None:
    out, printed = demo_run
    records = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert {r["status"] for r in records} == {"ok"}
    for r in records:
        assert 0 <= r["mask_mean"] <= 1 and 0 <= r["far_attention"] <= 1 and r["fid_rmse"] >= 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["ok"] == FRAMES and summary["exit_status"] == 0
    assert summary["demo"]["source"].startswith(f"synthetic:frames={FRAMES},")
    assert summary["model"]["mask_net"] == shipped_provenance()["networks"]["mask"]
    assert summary["latency_ms"]["count"] == FRAMES and summary["throughput_fps"] > 0
    # Per-frame outputs: one depth and one mask file per frame, and the overlay video with every frame.
    (folder,) = [p for p in out.iterdir() if p.is_dir() and (p / "overlay.mp4").is_file()]
    assert len(list((folder / "depth").iterdir())) == FRAMES
    assert len(list((folder / "mask").iterdir())) == FRAMES
    import av

    with av.open(str(folder / "overlay.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
    html = (out / "report.html").read_text()
    assert "depthmask audit report" in html and "<video" in html and "Mean mask over the run" in html
    for word in ("frames/s", "end-to-end ms", "mask_mean", "fid_rmse", "far_attention", "report:"):
        assert word in printed, word


def test_report_command_rewrites_the_report(demo_run: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = demo_run
    target = tmp_path / "again.html"
    result = CliRunner().invoke(app, ["report", str(out), "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "far_attention" in target.read_text()


def test_run_streams_a_kitti_drive_through_the_shipped_model(tmp_path: Path) -> None:
    """`depthmask run DRIVE --model …` on a small KITTI-layout drive: real timestamps, every frame ok."""
    from depthmask.synthetic.config import SceneConfig
    from depthmask.synthetic.writers import write_kitti_drive

    drive = write_kitti_drive(SceneConfig(height=75, width=248, seed=3), tmp_path / "kitti", 5).drive
    out = tmp_path / "out"
    argv = ["run", str(drive), "--model", str(shipped_model()), "--batch", "2", "--save", "video,mask"]
    result = CliRunner().invoke(app, [*argv, "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 5
    steps = np.diff([r["t_capture"] for r in records])
    assert np.allclose(steps, 0.1, atol=1e-6), "timestamps.txt (10 Hz) should time the frames"
    assert len(list(out.glob("*/mask/*.png"))) == 5 and len(list(out.glob("*/overlay.mp4"))) == 1


def test_demo_takes_any_source(tmp_path: Path) -> None:
    """`--source` streams the user's footage (here a small video of another size) instead of the drive."""
    from depthmask.synthetic.config import SceneConfig
    from depthmask.synthetic.writers import write_video

    clip = write_video(SceneConfig(height=48, width=160, seed=1), tmp_path / "clip.mp4", 5)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["demo", "--source", str(clip), "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["demo"]["source"] == str(clip) and summary["counts"]["ok"] == 5
    assert summary["config"]["threads"] == 1 and (out / "report.html").is_file()


def test_demo_refuses_frames_with_a_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--frames 5 sets the length of the synthetic drive"):
        DemoConfig(frames=5, source="clip.mp4")
    result = CliRunner().invoke(app, ["demo", "--frames", "0", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "--frames must be at least 1, got 0" in result.output


def test_demo_on_a_runtime_only_install(tmp_path: Path) -> None:
    """With every package of the [train] extra unimportable, the demo still runs and writes its report."""
    code = textwrap.dedent(
        f"""
        import sys
        BLOCKED = {TRAIN_ONLY!r}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
                return None
        sys.meta_path.insert(0, Blocker())
        from typer.testing import CliRunner
        from depthmask.cli import app
        argv = ["demo", "--frames", "3", "--batch", "2", "--out", {str(tmp_path / "demo")!r}]
        r = CliRunner().invoke(app, argv)
        assert r.exit_code == 0, r.output
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        assert not loaded, loaded
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
    assert (tmp_path / "demo" / "report.html").is_file()
    assert len((tmp_path / "demo" / "audit.jsonl").read_text().splitlines()) == 3


def test_assets_fit_the_size_budget() -> None:
    names = {p.name for p in ASSETS.iterdir() if p.is_file()}
    assert {ASSET_DEPTH, ASSET_MASK, ASSET_MODEL, ASSET_PROVENANCE} <= names
    total = sum(p.stat().st_size for p in ASSETS.rglob("*") if p.is_file())
    assert total <= SIZE_BUDGET, f"assets take {total / 2**20:.2f} MiB, over {SIZE_BUDGET / 2**20:.0f} MiB"


def test_shipped_metadata_is_valid_and_matches_the_provenance() -> None:
    import hashlib

    from depthmask.contract.metadata import validate_metadata
    from depthmask.runtime.backends.onnxruntime import read_onnx_info

    info = read_onnx_info(shipped_model())  # also checks the graph's real input and outputs
    meta = info.metadata
    validate_metadata(meta, shipped_model())
    prov = shipped_provenance()
    assert meta["mode"] == "audit" and meta["precision"] == "fp32"
    assert info.batch is None, "the demo model must take any batch"
    assert [info.height, info.width] == prov["input_size"]
    assert meta["depth_net"] == prov["networks"]["depth"] and meta["mask_net"] == prov["networks"]["mask"]
    assert meta["lambda"] == prov["training"]["rank"]["lam"]  # G's last stage: the ranking one
    assert set(info.stats_columns) >= {"mask_mean", "mask_keep", "fid_rmse", "fid_abs_rel", "far_attention"}
    for path, role in zip(shipped_checkpoints(), ("depth_net", "mask_net"), strict=True):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert meta["checkpoints"][role]["sha256"] == digest, f"{path.name} is not what the ONNX came from"
        assert prov["files"][path.name]["sha256"] == digest
    assert prov["files"][ASSET_MODEL]["sha256"] == hashlib.sha256(shipped_model().read_bytes()).hexdigest()
    # No machine's absolute path travels with the model: paths are relative to the ONNX file.
    recorded = [meta["checkpoints"][r]["checkpoint"] for r in ("depth_net", "mask_net")]
    recorded += [meta["export_config"][k] for k in ("checkpoint_n", "checkpoint_g", "output")]
    assert recorded == ["demo-depth.safetensors", "demo-mask.safetensors"] * 2 + [ASSET_MODEL]


def test_recorded_commands_still_parse() -> None:
    """The provenance's commands are literal `depthmask` command lines the current CLI accepts."""
    commands = [shlex.split(line) for line in shipped_provenance()["commands"]]
    assert {argv[0] for argv in commands} == {"depthmask"}
    forms = [parse(argv[1:])[0] for argv in commands]
    assert forms == [
        ("train", "depth"),
        ("train", "mask"),
        ("train", "mask"),
        ("export",),
        ("eval",),
        ("run",),
    ]


def _held_out_frames(prov: dict) -> tuple[np.ndarray, np.ndarray]:
    """The provenance's held-out runtime source as (BGR frames, ground-truth depth)."""
    from depthmask.sources import open_source

    with open_source(prov["metrics"]["runtime"]["source"]) as source:
        frames = list(source)
    return np.stack([f.image for f in frames]), np.stack([f.meta["depth"] for f in frames])


def test_shipped_model_quality_on_held_out_frames() -> None:
    """Re-measured through ONNX Runtime (no torch): N's depth is decent, G looks far, as recorded."""
    import cv2
    import onnxruntime as ort

    prov = shipped_provenance()
    frames, truth = _held_out_frames(prov)
    session = ort.InferenceSession(str(shipped_model()), providers=["CPUExecutionProvider"])
    outputs = [session.run(None, {"frames": frames[i : i + 8]}) for i in range(0, len(frames), 8)]
    names = [o.name for o in session.get_outputs()]
    got = {n: np.concatenate([o[k] for o in outputs]) for k, n in enumerate(names)}
    columns = list(json.loads(session.get_modelmeta().custom_metadata_map["stats_columns"]))
    stats = {c: float(got["stats"][:, k].mean()) for k, c in enumerate(columns)}
    recorded = prov["metrics"]["runtime"]["stats"]  # from summary.json, which keeps 3 decimals
    for name in ("mask_mean", "mask_keep", "fid_rmse", "far_attention"):
        assert stats[name] == pytest.approx(recorded[name], abs=6e-4), name
    assert stats["far_attention"] >= FAR_ATTENTION_MIN > FAR_ATTENTION_UNIFORM
    assert stats["mask_mean"] < 0.5, "the mask should keep a minority of the image"
    # N's depth against the scene's exact depth (prediction upsampled to the frame, as `depthmask eval`).
    depth = got["depth"][:, 0]
    h, w = truth.shape[1:]
    pred = np.stack([cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) for d in depth])
    valid = truth > 1e-3
    abs_rel = float(
        np.mean([np.mean(np.abs(p[v] - t[v]) / t[v]) for p, t, v in zip(pred, truth, valid, strict=True)])
    )
    assert abs_rel <= ABS_REL_MAX
    assert abs_rel == pytest.approx(prov["metrics"]["depth"]["abs_rel"], abs=0.05)


def test_shipped_onnx_matches_a_reexport_of_the_shipped_checkpoints(tmp_path: Path) -> None:
    """Weights and ONNX never drift apart: re-export the checkpoints as recorded and compare outputs."""
    pytest.importorskip("torch", reason="re-exporting needs the [train] extra")
    pytest.importorskip("onnx", reason="re-exporting needs the [train] extra")
    import dataclasses

    import onnxruntime as ort

    from depthmask.export.config import ExportConfig
    from depthmask.export.onnx import graph_from_config, onnx_from_graph
    from depthmask.runtime.backends.onnxruntime import read_onnx_info

    meta = read_onnx_info(shipped_model()).metadata
    recorded = meta["export_config"]
    assert recorded == shipped_provenance()["export"]
    fields = {f.name for f in dataclasses.fields(ExportConfig)}
    n, g = shipped_checkpoints()
    settings = {k: v for k, v in recorded.items() if k in fields}
    cfg = ExportConfig(**{**settings, "checkpoint_n": n, "checkpoint_g": g, "output": tmp_path / "re.onnx"})
    graph = graph_from_config(cfg)
    for role in ("depth_net", "mask_net"):
        assert graph.provenance[role]["state_sha256"] == meta["checkpoints"][role]["state_sha256"], role
    again = onnx_from_graph(graph, tmp_path / "re.onnx", cfg)

    frames, _ = _held_out_frames(shipped_provenance())
    frames = frames[:3]  # an odd batch: the dynamic axis is exercised too
    shipped = ort.InferenceSession(str(shipped_model()), providers=["CPUExecutionProvider"])
    rebuilt = ort.InferenceSession(str(again), providers=["CPUExecutionProvider"])
    names = [o.name for o in shipped.get_outputs()]
    assert names == [o.name for o in rebuilt.get_outputs()]
    for name, a, b in zip(
        names, shipped.run(None, {"frames": frames}), rebuilt.run(None, {"frames": frames}), strict=True
    ):
        assert a.shape == b.shape, name
        assert float(np.abs(a - b).max()) <= 1e-4, name


def test_info_describes_a_shipped_checkpoint() -> None:
    pytest.importorskip("safetensors", reason="reading checkpoints needs the [train] extra")
    n, _ = shipped_checkpoints()
    result = CliRunner().invoke(app, ["info", str(n)])
    assert result.exit_code == 0, result.output
    assert shipped_provenance()["networks"]["depth"] in result.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium) to render report.html"
)
def test_report_renders_in_headless_chromium(demo_run: tuple[Path, str], tmp_path: Path) -> None:
    import cv2

    out, _ = demo_run
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,1600",
         f"--screenshot={shot}", (out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1600, 1200)
    # Not blank: most of a rendered report is white page, but text, cards, charts and the mask heat map
    # cover a good share of it, in many colours.
    not_white = (image < 240).any(axis=2).mean()
    colours = len(np.unique(image.reshape(-1, 3) // 16, axis=0))
    assert not_white > 0.05, f"only {not_white:.1%} of the screenshot is not white"
    assert colours > 50, f"only {colours} distinct colours: the charts or images did not render"


def test_torch_backend_finds_checkpoints_that_moved_with_the_model(tmp_path: Path) -> None:
    """A copied model folder (another clone, an installed package): the torch backend rebuilds N and G
    from the checkpoints beside the model, hash-checked, and agrees with ONNX Runtime."""
    pytest.importorskip("torch", reason="the torch backend needs the [train] extra")
    import shutil

    import numpy as np

    from depthmask.errors import CheckpointError
    from depthmask.runtime.backends import create_backend

    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for name in ("demo-depth.safetensors", "demo-mask.safetensors"):
        shutil.copy(ASSETS / name, moved / name)
    import onnx

    from depthmask.contract.metadata import onnx_metadata, set_onnx_metadata

    proto = onnx.load(str(ASSETS / "demo-audit.onnx"))
    meta = onnx_metadata(proto)
    for record in meta["checkpoints"].values():  # as exported on a machine this one has never seen
        record["checkpoint"] = "/nonexistent/build/" + Path(record["checkpoint"]).name
    set_onnx_metadata(proto, meta)
    model = moved / "demo-audit.onnx"
    onnx.save(proto, str(model))
    with create_backend("onnxruntime", model, threads=1) as ort_backend:
        h, w = ort_backend.info.height, ort_backend.info.width
        frames = np.random.default_rng(0).integers(0, 256, (2, h, w, 3), dtype=np.uint8)
        want = ort_backend.infer(frames)
    (moved / "demo-mask.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"demo-mask\.safetensors"):
        create_backend("torch", model, threads=1).load()
    shutil.copy(ASSETS / "demo-mask.safetensors", moved / "demo-mask.safetensors")
    with create_backend("torch", model, threads=1) as torch_backend:
        got = torch_backend.infer(frames)
    assert np.abs(got["depth"] - want["depth"]).max() <= 1e-4 * max(1.0, float(np.abs(want["depth"]).max()))
