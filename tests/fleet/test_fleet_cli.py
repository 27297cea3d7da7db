"""`depthmask fleet` as a user runs it: its own local Ray (started and stopped with every process), a
Ctrl-C that finalises what is done and a rerun that finishes the rest, and one line when Ray is missing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from conftest import assert_no_ray_left, drive, ray_processes
from depthmask.cli.app import app
from depthmask.contract import exits

ENTRY = (  # SIGINT as a terminal's Ctrl-C delivers it (a non-interactive shell's child may ignore it)
    "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from depthmask.cli import main; main()"
)


def _fleet(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, "fleet", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


def test_ctrl_c_finalises_what_is_done_and_a_rerun_finishes(audit_model: Path, tmp_path: Path) -> None:
    before = ray_processes()
    out, log = tmp_path / "fleet", tmp_path / "log.txt"
    drives = [drive(30 + i, 16) for i in range(4)]  # about a second each on one worker
    args = [*drives, "--model", str(audit_model), "--out", str(out), "--workers", "1", "--save", "mask"]
    proc = _fleet(args, log)
    deadline = time.time() + 90
    while not list((out / "drives").glob("*/complete.json")):
        assert proc.poll() is None, log.read_text()
        assert time.time() < deadline, log.read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == exits.INTERRUPTED_SIGINT, log.read_text()
    assert (out / "fleet.json").is_file(), log.read_text()
    result = json.loads((out / "fleet.json").read_text())
    assert result["interrupted"] and result["signal"] == "SIGINT"
    done = result["totals"]["drives"]["complete"]
    assert 1 <= done < 4 and result["totals"]["drives"]["pending"] == 4 - done
    for row in result["drives"]:
        if row["status"] == "complete":
            lines = (out / row["folder"] / "audit.jsonl").read_text().splitlines()
            assert len(lines) == 16
    assert not (out / "drives" / ".partial").exists()
    assert_no_ray_left(before)
    # The rerun audits only the drives not done, and ends with all four.
    proc = _fleet(args, log)
    assert proc.wait(180) == exits.OK, log.read_text()
    assert f"{done} drives complete from an earlier run: skipped" in log.read_text()
    result = json.loads((out / "fleet.json").read_text())
    assert result["totals"]["drives"]["complete"] == 4 and result["totals"]["frames"] == 64
    assert result["totals"]["drives"]["resumed"] == done
    assert (out / "report.html").is_file()
    assert_no_ray_left(before)


def test_sigterm_stops_a_fleet_the_same_way(audit_model: Path, tmp_path: Path) -> None:
    """Ray's init sets its own SIGTERM handler (exit at once); the fleet takes the signal back."""
    before = ray_processes()
    out, log = tmp_path / "fleet", tmp_path / "log.txt"
    drives = [drive(40 + i, 16) for i in range(4)]
    proc = _fleet(
        [*drives, "--model", str(audit_model), "--out", str(out), "--workers", "1", "--save", "mask"], log
    )
    deadline = time.time() + 90
    while not list((out / "drives").glob("*/complete.json")):
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == exits.INTERRUPTED_SIGTERM, log.read_text()
    result = json.loads((out / "fleet.json").read_text())
    assert result["signal"] == "SIGTERM" and result["totals"]["drives"]["complete"] >= 1
    assert_no_ray_left(before)


def test_without_ray_one_line_says_what_to_install(audit_model: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    result = CliRunner().invoke(
        app, ["fleet", drive(1, 2), "--model", str(audit_model), "--out", str(tmp_path / "f")]
    )
    assert result.exit_code == exits.USER_ERROR
    assert "pip install 'depthmask[fleet]'" in result.output
    assert "Traceback" not in result.output
