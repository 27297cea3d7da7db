"""Faults of a run, one test per class: signals, frames held in a filling batch, failing outputs, bad
options. Each counts the records against a count the runtime did not make (frame indices a synthetic
source yields in order, PyAV's decode of the video, the source's own length).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_run_e2e import THREADS, records, synthetic, video_frames, videos
from typer.testing import CliRunner

from depthmask.cli.app import app
from depthmask.contract import exits
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import run
from depthmask.runtime.sinks.base import source_dir_name

# The console script's entry point, with SIGINT reset to Python's handler (a child of a non-interactive
# shell may inherit it as ignored).
ENTRY = (
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from depthmask.cli import main; main()"
)


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def _wait_for(predicate: Any, proc: subprocess.Popen[bytes], log: Path, what: str, limit: float = 60) -> None:
    deadline = time.time() + limit
    while not predicate():
        assert proc.poll() is None, f"exited before {what}:\n{log.read_text()}"
        assert time.time() < deadline, f"no {what} within {limit} s:\n{log.read_text()}"
        time.sleep(0.05)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_finalises_every_output(audit_model: Path, tmp_path: Path, signum: int) -> None:
    """SIGTERM is handled as Ctrl-C: a record per frame read, summary.json, a playable video, 130/143."""
    out, log = tmp_path / "out", tmp_path / "log.txt"
    args = ["run", synthetic(100_000), "--model", str(audit_model), "--out", str(out),
            "--threads", "1", "--batch", "2", "--save", "video"]  # fmt: skip
    proc = _start(args, log)
    try:
        _wait_for(lambda: _lines(out / "audit.jsonl") >= 6, proc, log, "6 records")
        proc.send_signal(signum)
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert rc == exits.interrupted(signum) == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum], (
        log.read_text()
    )
    assert "Traceback" not in log.read_text()
    summary = json.loads((out / "summary.json").read_text())
    recs = records(out)
    assert summary["interrupted"] is True and summary["signal"] == signal.Signals(signum).name
    assert summary["exit_status"] == rc and summary["frames"] == len(recs) >= 6
    # The synthetic source yields frames 0, 1, 2, … in order: a lost record leaves a gap.
    assert sorted(r["frame"] for r in recs) == list(range(len(recs)))
    assert summary["sources"][0]["frames_read"] == len(recs)
    ((video, written),) = videos(summary).items()
    assert video_frames(Path(video)) == written == len(recs)


def test_frames_waiting_in_a_filling_batch_get_skipped_records(audit_model: Path, tmp_path: Path) -> None:
    """A batch of 64 at 10 frames/s (paced) never fills: every frame read is still waiting at SIGTERM."""
    out, log = tmp_path / "out", tmp_path / "log.txt"
    args = ["run", synthetic(1000), "--model", str(audit_model), "--out", str(out), "--threads", "1",
            "--batch", "64", "--max-wait-ms", "30000", "--realtime", "--save", "video"]  # fmt: skip
    proc = _start(args, log)
    try:
        _wait_for(lambda: (out / "audit.jsonl").is_file(), proc, log, "the audit log")
        time.sleep(2.0)  # ~20 frames read at the synthetic drive's 10 frames/s, none inferred yet
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
    assert rc == 143, log.read_text()
    recs = records(out)
    summary = json.loads((out / "summary.json").read_text())
    assert len(recs) >= 5 and {r["status"] for r in recs} == {"skipped"}
    assert sorted(r["frame"] for r in recs) == list(range(len(recs)))
    assert summary["counts"]["skipped"] == summary["sources"][0]["frames_read"] == len(recs)


def _stalling_stream(tmp_path: Path) -> tuple[str, Any]:
    """An HTTP MPEG-TS stream on 127.0.0.1 that sends 12 frames, then stalls with the connection open
    (as a camera behind a dead link does); returns its URL and a function that shuts it down."""
    import http.server
    import socketserver
    import threading

    from clips import write_clip

    data, done = write_clip(tmp_path / "live.ts", size=(64, 96)).read_bytes(), threading.Event()

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            done.wait(60)  # no more bytes, no close: the reader blocks in its read

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Stalling)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        done.set()
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/live.ts", stop


def test_a_second_signal_exits_at_once_with_the_log_intact(audit_model: Path, tmp_path: Path) -> None:
    """The first SIGTERM finds a reader blocked in a stalled stream, so finishing waits for it; the
    second exits at once (not after the reader's wait), and every line already in the log is whole."""
    url, stop = _stalling_stream(tmp_path)
    out, log = tmp_path / "out", tmp_path / "log.txt"
    proc = _start(["run", url, "--model", str(audit_model), "--out", str(out), "--threads", "1"], log)
    try:
        _wait_for(lambda: _lines(out / "audit.jsonl") >= 4, proc, log, "4 records")
        proc.send_signal(signal.SIGTERM)
        _wait_for(
            lambda: "finishing the outputs first" in log.read_text(), proc, log, "the first signal's note"
        )
        time.sleep(0.5)  # now waiting on the blocked reader
        assert proc.poll() is None, log.read_text()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        waited = time.monotonic() - sent
    finally:
        proc.kill()
        stop()
    text = log.read_text()
    assert rc == 143 and "SIGTERM again: exiting now" in text and "Traceback" not in text, text
    assert waited < 2.0, f"the second signal took {waited:.1f} s to end the run (the blocked read takes 5 s)"
    recs = records(out)  # every line parses: none was cut
    assert len(recs) >= 4 and len({(r["source"], r["frame"]) for r in recs}) == len(recs)


def _dir(out: Path, source: str) -> Path:
    return out / source_dir_name(source, 0)


def test_a_full_disk_under_the_video_is_recorded_and_the_audit_goes_on(
    audit_model: Path, tmp_path: Path
) -> None:
    """The overlay video is written to /dev/full (ENOSPC from the kernel, not a simulation)."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    source, out = synthetic(12), tmp_path / "out"
    _dir(out, source).mkdir(parents=True)
    (_dir(out, source) / "overlay.mp4").symlink_to("/dev/full")
    summary = run(
        RunConfig(sources=(source,), model=audit_model, out=out, threads=THREADS, batch=4, exist_ok=True)
    )
    assert summary["exit_status"] == exits.OK
    assert "No space left on device" in summary["failed_outputs"]["video"]
    assert summary["counts"]["ok"] == len(records(out)) == 12  # the synthetic source's length
    assert json.loads((out / "summary.json").read_text())["failed_outputs"] == summary["failed_outputs"]


def test_an_unwritable_depth_folder_is_recorded_and_the_audit_goes_on(
    audit_model: Path, tmp_path: Path
) -> None:
    source, out = synthetic(6), tmp_path / "out"
    _dir(out, source).mkdir(parents=True)
    (_dir(out, source) / "depth").write_text("a file where the depth folder goes")
    summary = run(
        RunConfig(
            sources=(source,),
            model=audit_model,
            out=out,
            threads=THREADS,
            save=frozenset({"depth"}),
            exist_ok=True,
        )
    )
    assert "open failed" in summary["failed_outputs"]["files"] and summary["counts"]["ok"] == 6 == len(
        records(out)
    )


def test_a_full_disk_under_the_audit_log_ends_the_run_with_one_line(
    audit_model: Path, tmp_path: Path
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    out = tmp_path / "out"
    out.mkdir()
    (out / "audit.jsonl").symlink_to("/dev/full")
    result = CliRunner().invoke(
        app,
        ["run", synthetic(6), "--model", str(audit_model), "--out", str(out), "--threads", "1", "--exist-ok"],
    )
    assert result.exit_code == exits.USER_ERROR, result.output
    assert result.output.lstrip().startswith("error:") and "Traceback" not in result.output
    assert "audit.jsonl" in result.output and "No space left on device" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_status"] == exits.USER_ERROR and "No space left" in summary["error"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--threads", "5000", r"--threads must be a whole number from 1 to \d+ \(\d+ cores here\), got 5000"),
        ("--threads", "0", r"--threads must be a whole number from 1"),
        ("--max-wait-ms", "inf", r"--max-wait-ms must be a number from 0 to 60000, got inf"),
        ("--max-wait-ms", "nan", r"--max-wait-ms must be a number from 0 to 60000, got nan"),
        ("--max-wait-ms", "-1", r"--max-wait-ms must be a number from 0"),
        ("--batch", "100000", r"--batch must be a whole number from 1 to 1024, got 100000"),
        ("--depth-range", "0,inf", r"--depth-range must be MIN,MAX in metres"),
        ("--save", "vidoe", r"--save vidoe: unknown.*Did you mean 'video'\?"),
        ("--max-frames", "0", r"--max-frames must be a whole number from 1 to 1e\+09, got 0"),
        ("--out", "FILE", r"--out .*out\.txt is an existing file; name a folder"),
        ("--out", "UNDER_FILE", r"--out .*out\.txt/sub cannot be written"),
    ],
)
def test_options_are_checked_before_anything_runs(
    audit_model: Path, tmp_path: Path, option: str, value: str, message: str
) -> None:
    import re

    blocker = tmp_path / "out.txt"
    blocker.write_text("not a folder")
    value = {"FILE": str(blocker), "UNDER_FILE": str(blocker / "sub")}.get(value, value)
    args = ["run", synthetic(2), "--model", str(audit_model), option, value]
    if option != "--out":
        args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == exits.USER_ERROR, result.output
    assert result.output.lstrip().startswith("error:") and "Traceback" not in result.output
    assert re.search(message, " ".join(result.output.split())), result.output
    assert not (tmp_path / "out" / "audit.jsonl").exists()


def test_a_folder_of_damaged_images_gets_one_record_per_file(audit_model: Path, tmp_path: Path) -> None:
    """150 damaged files (cut, flipped, absurd declared sizes, noise, wrong suffixes) through the whole
    pipeline under --fit letterbox: one record per file that `os.listdir` lists."""
    import numpy as np

    from damaged_images import damaged

    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(5)
    for i in range(150):
        data, suffix = damaged(rng)
        (folder / f"{i:04d}{suffix}").write_bytes(data)
    listed = len(os.listdir(folder))
    summary = run(
        RunConfig(sources=(str(folder),), model=audit_model, out=tmp_path / "out", threads=THREADS, batch=8,
                  fit="letterbox", save=frozenset({"video", "mask"}))
    )  # fmt: skip
    recs = records(tmp_path / "out")
    assert len(recs) == summary["frames"] == listed == 150
    assert sorted(r["frame"] for r in recs) == list(range(listed))
    assert summary["counts"]["ok"] + summary["counts"]["decode_error"] == listed
    assert summary["exit_status"] == (exits.FRAMES_FAILED if summary["counts"]["decode_error"] else exits.OK)
    assert not summary["failed_outputs"]


def _swap_columns(meta: dict[str, Any]) -> None:
    cols = meta["stats_columns"]
    cols[0], cols[4] = cols[4], cols[0]  # far_attention would be reported under the name mask_mean


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_swap_columns, r"stats_columns = \['far_attention', .*\] \(expected \['mask_mean'"),
        (
            lambda m: m.update(format_version=99),
            r"format_version = 99 \(expected 1, the format this depthmask reads\)",
        ),
        (lambda m: m.update(mode="bogus"), r"mode = 'bogus' \(expected one of mask, masked, audit\)"),
        (lambda m: m.update(depth_units="mm"), r"depth_units = 'mm' \(expected 'm'\)"),
        (lambda m: m.update(epsilon="small"), r"epsilon = 'small' \(expected a number in \[0, 1\)\)"),
        (lambda m: m.update(input=[]), r"input = \[\] \(expected an object"),
        (lambda m: m["input"].update(height=-4), r"input\.height = -4 \(expected an int in 1…16384\)"),
        (lambda m: m.update(outputs="mask"), r"outputs = 'mask' \(expected a list of"),
        (lambda m: m.pop("checkpoints"), r"metadata is missing checkpoints"),
    ],
    ids=[
        "swapped columns",
        "format",
        "mode",
        "units",
        "epsilon type",
        "input type",
        "height",
        "outputs",
        "missing",
    ],
)
def test_run_refuses_what_check_refuses_with_the_same_line(
    audit_model: Path, tmp_path: Path, edit: Any, message: str
) -> None:
    import re

    from test_run_e2e import _edited_model

    model = _edited_model(audit_model, tmp_path / "edited.onnx", edit)
    outputs = []
    for args in (
        ["run", synthetic(2), "--model", str(model), "--out", str(tmp_path / "out"), "--threads", "1"],
        ["run", synthetic(2), "--model", str(model), "--out", str(tmp_path / "out"), "--backend", "torch"],
        ["check", str(model), "--frames", "1"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == exits.USER_ERROR, result.output
        text = " ".join(result.output.split())
        assert text.startswith("error:") and "Traceback" not in text and "edited.onnx" in text, text
        assert re.search(message, text), text
        outputs.append(text)
    assert outputs[0] == outputs[1] == outputs[2]  # one validator: the same words from run, torch and check
    assert not (tmp_path / "out" / "audit.jsonl").exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 400 kB tmpfs mounted for the test: a real full disk (needs root, as CI and these machines are)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_disk_that_fills_up_ends_the_run_cleanly(
    audit_model: Path, small_disk: Path, tmp_path: Path
) -> None:
    """Every output on one small disk that fills mid-run: no crash, whole lines only, one error line."""
    out, log = small_disk / "out", tmp_path / "log.txt"
    args = ["run", synthetic(400), "--model", str(audit_model), "--out", str(out), "--threads", "1",
            "--batch", "4", "--save", "video,depth,depth_masked,mask,samples"]  # fmt: skip
    proc = _start(args, log)
    try:
        rc = proc.wait(timeout=300)
    finally:
        proc.kill()
    text = log.read_text()
    assert rc == exits.USER_ERROR, text  # not a signal (a segfault is rc -11) and not a traceback
    assert "Traceback" not in text and "error:" in text and "No space left on device" in text, text
    recs = records(out)  # every line parses: none was cut by the full disk
    assert 0 < len(recs) < 400
    assert sorted(r["frame"] for r in recs) == list(range(len(recs)))
    if (out / "summary.json").is_file():  # written when the disk still had room for it
        summary = json.loads((out / "summary.json").read_text())
        assert summary["frames"] == len(recs) and summary["exit_status"] == exits.USER_ERROR


class _Failing:
    """A source of two good frames that then raises (or, with `at_start`, raises before any frame)."""

    default_policy = "every"
    end_note = None

    def __init__(self, source_id: str, at_start: bool) -> None:
        self.source_id, self.at_start = source_id, at_start

    def __iter__(self) -> Any:
        if self.at_start:
            raise OSError("device unplugged")  # from iter() itself: not a generator
        return self._frames()

    def _frames(self) -> Any:
        import numpy as np

        from depthmask.sources import Frame

        for i in range(2):
            yield Frame(i, float(i), np.zeros((48, 64, 3), np.uint8), self.source_id)
        raise RuntimeError("decoder crashed")

    def open(self) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        return {"kind": "test", "uri": self.source_id}


def test_a_source_that_fails_ends_once_with_a_note_and_the_run_goes_on(audit_model: Path) -> None:
    from depthmask.runtime.backends.onnxruntime import OnnxRuntimeBackend
    from depthmask.runtime.pipeline import Pipeline, PipelineOptions
    from depthmask.sources import open_source

    good = open_source(synthetic(5))
    sources = [_Failing("mid-stream", at_start=False), _Failing("at-start", at_start=True), good]
    results: list[Any] = []
    with OnnxRuntimeBackend(audit_model, providers=["cpu"], threads=THREADS) as backend:
        report = Pipeline(sources, ["every"] * 3, backend, [], PipelineOptions(batch=2), results.append).run()
    assert report.read == [2, 0, 5] and report.counts["ok"] == len(results) == 7  # no invented records
    assert (
        "decoder crashed" in report.end_notes["mid-stream"]
        and "after 2 frames" in report.end_notes["mid-stream"]
    )
    assert "device unplugged" in report.end_notes["at-start"]
