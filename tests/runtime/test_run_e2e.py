"""`depthmask run` end to end with a real exported model: every frame read gets one record, outputs
match ONNX Runtime, frames are dropped and counted under the live policy, damaged input becomes
records, Ctrl-C leaves valid outputs, and user errors are one line without a traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from depthmask.cli import app
from depthmask.contract import exits
from depthmask.runtime.backends import BACKENDS, register_backend
from depthmask.runtime.backends.base import BackendBase
from depthmask.runtime.backends.onnxruntime import OnnxRuntimeBackend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import run
from depthmask.runtime.sinks.base import source_dir_name
from depthmask.runtime.sinks.files import DEPTH_SCALE, png16_to_depth
from depthmask.sources import open_source
from depthmask.sources.fit import fit_frame

THREADS = 1  # two cores, shared with the other tests


def synthetic(frames: int, **options: Any) -> str:
    """A `synthetic:` source rendered small (the model fits frames to 64×96 anyway)."""
    extra = "".join(f",{k}={v}" for k, v in options.items())
    return f"synthetic:frames={frames},height=64,width=96,seed=3{extra}"


def config(model: Path, sources: list[str], out: Path, **overrides: Any) -> RunConfig:
    return RunConfig(sources=tuple(sources), model=model, out=out, threads=THREADS, **overrides)


def records(out: Path) -> list[dict[str, Any]]:
    """audit.jsonl, every line parsed (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]


def video_frames(path: Path) -> int:
    """Frames PyAV decodes from a video (it opens an MP4 only when its index was written)."""
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def pyav_frames(path: Path) -> int:
    """Frames PyAV's decoder yields from a (possibly damaged) video, going past damaged packets."""
    import av

    n = 0
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            try:
                n += len(packet.decode())
            except av.error.FFmpegError:  # a damaged packet: FFmpeg's decoder goes on with the next
                continue
    return n


def videos(summary: dict[str, Any]) -> dict[str, int]:
    """The overlay videos a run wrote and the frames it wrote to each (from summary.json)."""
    return next(o["videos"] for o in summary["outputs"] if "videos" in o)


def ort_outputs(model: Path, image: np.ndarray, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """ONNX Runtime on one source frame, preprocessed as the runtime does."""
    with OnnxRuntimeBackend(model, providers=["cpu"], threads=THREADS) as ort:
        return ort.infer(fit_frame(image, *size)[None])


def source_frame(source: str, index: int) -> np.ndarray:
    """Frame `index` of `source`, decoded by the runtime's own source."""
    with open_source(source) as s:
        for frame in s:
            if frame.index == index:
                return frame.image
    raise AssertionError(f"{source} has no frame {index}")


def write_clip(path: Path, n: int) -> Path:
    """An mp4v clip of `n` numbered 64×48 frames at 10 fps."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(n):
        frame = np.full((48, 64, 3), (i * 9) % 256, dtype=np.uint8)
        cv2.putText(frame, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return path


# -- a) every frame through, outputs equal to ONNX Runtime's ----------------------------------------


def test_synthetic_and_video_file_end_to_end(
    audit_model: Path, model_size: tuple[int, int], tmp_path: Path
) -> None:
    from depthmask.synthetic.config import SceneConfig
    from depthmask.synthetic.writers import write_video

    clip = write_video(SceneConfig(height=80, width=120, seed=4), tmp_path / "drive.mp4", 7)
    sources = [synthetic(6), str(clip)]
    out = tmp_path / "out"
    summary = run(config(audit_model, sources, out, batch=3, save=frozenset({"video", "depth", "mask"})))

    assert summary["exit_status"] == exits.OK and summary["counts"]["ok"] == summary["frames"] == 13
    assert summary["backend"]["providers"] == ["CPUExecutionProvider"]  # described while loaded
    recs = records(out)
    by_source = Counter(r["source"] for r in recs)
    assert [by_source[s] for s in sources] == [6, video_frames(clip)] == [6, 7]
    assert all(r["status"] == "ok" and isinstance(r["batch"], int) for r in recs)
    assert all(0.0 <= r["mask_mean"] <= 1.0 and r["depth_mean"] > 0 for r in recs)
    for i, (source, n) in enumerate(zip(sources, (6, 7), strict=True)):
        folder = out / source_dir_name(source, i)
        assert video_frames(folder / "overlay.mp4") == n
        assert len(list((folder / "depth").glob("*.png"))) == n

        k = n - 2  # a frame from the second batch
        want = ort_outputs(audit_model, source_frame(source, k), model_size)
        png = cv2.imread(str(folder / "depth" / f"{k:010d}.png"), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16 and png.shape == want["depth"].shape[2:] and (png > 0).mean() > 0.5
        # KITTI's convention: non-positive depth is written as 0 (no depth).
        expected = np.clip(want["depth"][0, 0], 0.0, None)
        assert np.abs(png16_to_depth(png) - expected).max() <= 1 / DEPTH_SCALE
        mask = cv2.imread(str(folder / "mask" / f"{k:010d}.png"), cv2.IMREAD_UNCHANGED)
        assert np.abs(mask / 255.0 - want["mask"][0, 0]).max() <= 1 / 255


# -- b) live policy against a backend slower than the source ----------------------------------------


class SlowOnnxRuntime(BackendBase):
    """The real ONNX Runtime backend, sleeping `delay_s` per batch (a model too slow for the camera)."""

    name = "slow-onnxruntime"

    def __init__(self, model: Path, *, delay_s: float = 0.1, **options: Any) -> None:
        self.inner = OnnxRuntimeBackend(model, providers=["cpu"], **options)
        self.delay_s = delay_s

    def load(self) -> None:
        self.inner.load()
        self.info = self.inner.info

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        time.sleep(self.delay_s)
        return self.inner.infer(frames)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "backend": self.name, "delay_s": self.delay_s}


@pytest.fixture
def slow_backend() -> Iterator[str]:
    register_backend(SlowOnnxRuntime.name, SlowOnnxRuntime)
    yield SlowOnnxRuntime.name
    BACKENDS.pop(SlowOnnxRuntime.name)


def test_live_policy_drops_and_counts_frames(audit_model: Path, tmp_path: Path, slow_backend: str) -> None:
    frames, fps = 30, 50.0  # 0.6 s of frames against ≤ 10 batches/s
    out = tmp_path / "out"
    cfg = config(
        audit_model, [synthetic(frames, fps=fps)], out,
        backend=slow_backend, policy="live", realtime=True, save=frozenset({"video"}),
    )  # fmt: skip
    summary = run(cfg)
    counts = summary["counts"]
    assert counts["dropped"] > 0 and counts["ok"] > 0, counts
    assert counts["ok"] + counts["dropped"] == summary["frames"] == frames
    assert summary["exit_status"] == exits.OK and list(summary["policies"].values()) == ["live"]
    assert summary["wall_s"] >= (frames - 1) / fps * 0.9  # paced at the source's rate, not as fast as read
    recs = records(out)
    assert sorted(r["frame"] for r in recs) == list(range(frames))  # one record per frame read
    dropped = [r for r in recs if r["status"] == "dropped"]
    assert len(dropped) == counts["dropped"] and all("live policy" in r["error"] for r in dropped)
    assert summary["backend"]["delay_s"] == 0.1
    # Live means the newest frames: each inferred frame waited at most about one batch (0.1 s), not the
    # growing backlog that `every` would build (30 frames at 0.1 s each, 3 s by the end).
    assert all("written" in r["age_ms"] for r in recs)
    ages = [r["age_ms"]["infer"] for r in recs if r["status"] == "ok"]
    assert max(ages) < 400, ages
    assert summary["age_ms"]["infer"]["count"] == counts["ok"]
    (sid,) = summary["drops_by_source"]
    assert summary["drops_by_source"][sid] == {
        "read": frames, "dropped": counts["dropped"], "rate": round(counts["dropped"] / frames, 4)
    }  # fmt: skip
    # The overlay plays at the source's speed: a dropped frame holds the last processed picture.
    (video,) = videos(summary)
    assert video_frames(Path(video)) == frames
    held = next(o["held_pictures"] for o in summary["outputs"] if "held_pictures" in o)
    assert counts["dropped"] - 1 <= held[video] <= counts["dropped"]  # the first may precede any picture


class FailingOnnxRuntime(SlowOnnxRuntime):
    """The real ONNX Runtime backend that fails on its third batch (a GPU lost mid-run, say)."""

    name = "failing-onnxruntime"

    def __init__(self, model: Path, **options: Any) -> None:
        super().__init__(model, delay_s=0.0, **options)
        self.calls = 0

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("device lost")
        return super().infer(frames)


def test_backend_failure_keeps_what_was_processed(audit_model: Path, tmp_path: Path) -> None:

    register_backend(FailingOnnxRuntime.name, FailingOnnxRuntime)
    try:
        out = tmp_path / "out"
        cfg = config(audit_model, [synthetic(12)], out, backend=FailingOnnxRuntime.name, batch=2,
                     save=frozenset({"video"}))  # fmt: skip
        with pytest.raises(RuntimeError, match="device lost"):
            run(cfg)
    finally:
        BACKENDS.pop(FailingOnnxRuntime.name)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_status"] == exits.USER_ERROR and "device lost" in summary["error"]
    assert summary["counts"]["ok"] == 4  # the two batches before the failure
    recs = records(out)
    assert sorted(r["frame"] for r in recs) == sorted({r["frame"] for r in recs})  # none twice
    assert Counter(r["status"] for r in recs)["ok"] == 4
    assert all("device lost" in r["error"] for r in recs if r["status"] == "skipped")
    (video,) = videos(summary)
    assert video_frames(Path(video)) == len(recs)  # finalised, playable, a placeholder per lost frame


# -- c) damaged input: records, a completed run, the documented exit status --------------------------


def test_damaged_input_becomes_records_and_exit_status_3(audit_model: Path, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 40)
    data = bytearray(clip.read_bytes())
    start, stop = len(data) // 3, 2 * len(data) // 3
    data[start:stop] = np.random.default_rng(0).integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    clip.write_bytes(bytes(data))
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((48, 64, 3), 60 * i, np.uint8))
    good = (folder / "0001.png").read_bytes()
    (folder / "0001.png").write_bytes(good[: len(good) // 2])
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"

    result = CliRunner().invoke(
        app,
        ["run", str(clip), str(folder), "--model", str(audit_model), "--out", str(out),
         "--threads", "1", "--batch", "4", "--save", "video,depth"],
    )  # fmt: skip
    assert result.exit_code == exits.FRAMES_FAILED == 3, result.output
    assert (out / "report.html").is_file() and "report:" in result.output  # every run leaves a report
    assert "Traceback" not in result.output and "decode_error" in result.output
    summary = json.loads((out / "summary.json").read_text())
    recs = records(out)
    by_source = Counter(r["source"] for r in recs)
    decoded = pyav_frames(clip)  # the independent count: what FFmpeg's decoder yields from the damage
    assert by_source[str(clip)] == decoded and 0 < decoded < 40 and by_source[str(folder)] == 5
    assert summary["frames"] == len(recs) == decoded + 5 and summary["counts"]["ok"] >= 3
    bad = [r for r in recs if r["status"] == "decode_error"]
    assert summary["counts"]["decode_error"] == len(bad) == 2  # no invented records for the video
    assert {r["frame"] for r in bad if r["source"] == str(folder)} == {1, 4}
    (clip_source,) = (d for d in summary["sources"] if d["uri"] == str(clip))
    assert clip_source["frames_read"] == decoded and "40" in (clip_source["end"] or "")
    assert all(r["error"] and "stats" not in r and "mask_mean" not in r for r in bad)
    assert video_frames(out / source_dir_name(str(folder), 1) / "overlay.mp4") == 5  # bad frames labelled


# -- d) Ctrl-C mid-run -------------------------------------------------------------------------------


def test_sigint_leaves_valid_outputs(audit_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # The console script's own entry point; SIGINT is reset to Python's handler because a child of a
    # non-interactive shell may inherit it as ignored.
    code = (
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from depthmask.cli import main; main()"
    )
    args = ["run", synthetic(100_000), "--model", str(audit_model), "--out", str(out),
            "--threads", "1", "--batch", "2", "--save", "video,depth"]  # fmt: skip
    log = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    try:
        audit = out / "audit.jsonl"
        deadline = time.time() + 60
        while not (audit.is_file() and len(audit.read_text().splitlines()) >= 8):
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.time() < deadline, "no frames written within 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
        log.close()
    assert rc == exits.INTERRUPTED_SIGINT == 130, (tmp_path / "stderr.txt").read_text()
    summary = json.loads((out / "summary.json").read_text())
    recs = records(out)
    assert summary["interrupted"] is True and summary["exit_status"] == 130
    assert summary["frames"] == len(recs) >= 8
    assert sorted(r["frame"] for r in recs) == list(range(len(recs)))  # none lost, none twice
    assert {r["status"] for r in recs} <= {"ok", "skipped"} and summary["counts"]["ok"] >= 8
    ((video, written),) = videos(summary).items()
    assert written == len(recs) and video_frames(Path(video)) == written


# -- e) the torch backend writes what ONNX Runtime writes ------------------------------------------


def test_torch_backend_matches_onnxruntime_through_run(audit_model: Path, tmp_path: Path) -> None:
    source = synthetic(5)
    kinds = frozenset({"depth"})
    ort = run(config(audit_model, [source], tmp_path / "ort", batch=2, save=kinds))
    rebuilt = run(config(audit_model, [source], tmp_path / "torch", batch=2, save=kinds, backend="torch"))
    assert rebuilt["backend"]["backend"] == "torch" and rebuilt["counts"]["ok"] == ort["counts"]["ok"] == 5
    folder = source_dir_name(source, 0)
    names = sorted(p.name for p in (tmp_path / "ort" / folder / "depth").glob("*.png"))
    assert len(names) == 5
    for name in names:
        a, b = (
            cv2.imread(str(tmp_path / k / folder / "depth" / name), cv2.IMREAD_UNCHANGED)
            for k in ("ort", "torch")
        )
        assert (a > 0).mean() > 0.5 and np.abs(a.astype(int) - b.astype(int)).max() <= 1  # ≤ 1/256 m
    for r_ort, r_torch in zip(records(tmp_path / "ort"), records(tmp_path / "torch"), strict=True):
        assert r_ort["frame"] == r_torch["frame"]
        assert r_torch["fid_rmse"] == pytest.approx(r_ort["fid_rmse"], abs=1e-4)
        assert r_torch["mask_mean"] == pytest.approx(r_ort["mask_mean"], abs=1e-4)


def test_cli_passes_torch_precision_to_the_backend(audit_model: Path, tmp_path: Path) -> None:
    from depthmask.runtime.backends.torch import cpu_bf16_supported

    if not cpu_bf16_supported():
        pytest.skip("this CPU has no native bf16 (needs AVX-512 BF16 or AMX)")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["run", synthetic(2), "--model", str(audit_model), "--out", str(out), "--threads", "1",
         "--backend", "torch", "--precision", "bf16", "--device", "cpu", "--save", "depth"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["config"]["precision"], summary["config"]["device"]) == ("bf16", "cpu")
    assert summary["backend"]["precision"] == "bf16" and summary["backend"]["model_precision"] == "fp32"
    assert summary["counts"]["ok"] == 2


# -- f) user errors: one line, exit 1, no traceback -----------------------------------------------


def _edited_model(audit_model: Path, path: Path, edit: Any) -> Path:
    import onnx

    from depthmask.contract.metadata import onnx_metadata, set_onnx_metadata

    model = onnx.load(str(audit_model))
    meta = onnx_metadata(model)
    edit(meta)
    set_onnx_metadata(model, meta)
    onnx.save(model, str(path))
    return path


def _taller(meta: dict[str, Any]) -> None:
    """Consistent in itself (input and mask both 48 high), but not with the graph's real input."""
    meta["input"]["height"] = 48
    for out in meta["outputs"]:
        if out["name"] == "mask":
            out["shape"][2] = 48


def _inconsistent(meta: dict[str, Any]) -> None:
    meta["input"]["height"] = 48  # the mask output still declares the old height


def _no_metadata(meta: dict[str, Any]) -> None:
    meta.clear()


@pytest.mark.parametrize(
    ("case", "extra", "message"),
    [
        ("missing model", [], r"nowhere\.onnx' does not exist; export one with `depthmask export`"),
        ("unreadable source", [], r"broken\.mp4 could not be opened as a video"),
        ("metadata of another model", [], r"metadata declares input 'frames' uint8 \['batch', 48, 96, 3\]"),
        (
            "metadata of another model",
            ["--backend", "torch"],
            r"metadata declares input 'frames' uint8 \['batch', 48, 96, 3\]",
        ),
        (
            "inconsistent metadata",
            [],
            r"outputs\.mask\.shape = \['batch', 1, 64, 96\] \(expected \['batch', 1, 48, 96\]",
        ),
        ("no metadata", [], r"metadata is missing format_version.*Re-export it"),
        ("precision for onnxruntime", ["--precision", "bf16"], r"--precision bf16 sets the torch backend"),
        ("unknown backend", ["--backend", "torhc"], r"unknown backend 'torhc'.*Did you mean 'torch'\?"),
    ],
)
def test_cli_user_errors(
    audit_model: Path, tmp_path: Path, case: str, extra: list[str], message: str
) -> None:
    model, source = audit_model, synthetic(2)
    if case == "missing model":
        model = tmp_path / "nowhere.onnx"
    elif case == "unreadable source":
        source = str(tmp_path / "broken.mp4")
        Path(source).write_bytes(b"\x00" * 100)
    elif case == "metadata of another model":
        model = _edited_model(audit_model, tmp_path / "other.onnx", _taller)
    elif case == "inconsistent metadata":
        model = _edited_model(audit_model, tmp_path / "other.onnx", _inconsistent)
    elif case == "no metadata":
        model = _edited_model(audit_model, tmp_path / "bare.onnx", _no_metadata)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["run", source, "--model", str(model), "--out", str(out), "--threads", "1", *extra]
    )
    assert result.exit_code == 1, result.output
    assert result.output.lstrip().startswith("error:") and "Traceback" not in result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    assert not (out / "summary.json").exists()


def test_max_frames_bounds_each_source(audit_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["run", synthetic(50), str(folder), "--model", str(audit_model), "--out", str(out), "--threads", "1",
         "--max-frames", "3", "--save", "depth"],
    )  # fmt: skip
    assert result.exit_code == exits.OK, result.output
    recs = records(out)
    by_source = {s: sorted(r["frame"] for r in recs if r["source"] == s) for s in {r["source"] for r in recs}}
    assert sorted(by_source.values()) == [[0, 1, 2], [0, 1, 2]]
    summary = json.loads((out / "summary.json").read_text())
    assert [d["frames_read"] for d in summary["sources"]] == [3, 3] and summary["config"]["max_frames"] == 3
