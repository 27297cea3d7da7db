"""Fleet audits on a local Ray (2 CPUs): each drive's records are `run`'s for that drive alone, the merged
counts are the sum, a worker killed mid-drive leaves every drive complete without a duplicate record, a
drive that keeps failing is reported while the rest finish, and a rerun skips what is complete.

Every count is checked against one the fleet did not make: the frames each synthetic drive was asked for,
the lines of the audit logs, or `run`'s own output for the same drive.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import drive
from depthmask.cli.app import app
from depthmask.contract import exits
from depthmask.fleet.config import FleetConfig
from depthmask.fleet.core import DriveState, fleet
from depthmask.fleet.marker import MARKER
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import run

TIMING = ("latency_ms", "age_ms", "stages_ms")  # the fields that differ between any two runs
SAVE = frozenset({"depth", "mask"})


def config(model: Path, out: Path, drives: list[str], **fleet_options: Any) -> FleetConfig:
    run_cfg = RunConfig(sources=tuple(drives), model=model, out=out, save=SAVE, threads=1, exist_ok=True)
    return FleetConfig(run=run_cfg, workers=2, reports=fleet_options.pop("reports", False), **fleet_options)


def records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]


def untimed(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in recs]


def test_each_drive_has_runs_records_and_the_merge_is_their_sum(
    local_ray: Any, audit_model: Path, tmp_path: Path
) -> None:
    frames = {drive(1, 5): 5, drive(2, 7): 7, drive(3, 4): 4, drive(4, 6): 6}
    cfg = config(audit_model, tmp_path / "fleet", list(frames), reports=True)
    result = fleet(cfg)
    assert result["exit_status"] == exits.OK
    rows = {r["drive"]: r for r in result["drives"]}
    for spec, n in frames.items():
        folder = tmp_path / "fleet" / rows[spec]["folder"]
        alone = run(
            RunConfig(sources=(spec,), model=audit_model, out=tmp_path / "alone", save=SAVE, threads=1)
        )
        theirs = records(Path(alone["out"]))
        mine = records(folder)
        assert len(mine) == n and [r["frame"] for r in mine] == list(range(n))
        assert untimed(mine) == untimed(theirs)
        for kind in ("depth", "mask"):  # the per-frame files are those of `run`, byte for byte
            a = sorted((folder).rglob(f"{kind}/*.png"))
            b = sorted(Path(alone["out"]).rglob(f"{kind}/*.png"))
            assert len(a) == n and [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
        assert json.loads((folder / MARKER).read_text())["records"] == n
        page = (folder / "report.html").read_text()
        assert str(folder) in page and ".partial" not in page  # it names where the drive is now
        assert json.loads((folder / "summary.json").read_text())["out"] == str(folder)
    totals = result["totals"]
    assert totals["frames"] == sum(frames.values()) == totals["counts"]["ok"]
    assert totals["drives"] == {"total": 4, "complete": 4, "resumed": 0, "failed": 0, "pending": 0}
    every = [r["mask_keep"] for spec in frames for r in records(tmp_path / "fleet" / rows[spec]["folder"])]
    assert result["stats"]["mask_keep"]["count"] == len(every)
    assert result["stats"]["mask_keep"]["max"] == pytest.approx(max(every), abs=1e-3)
    assert result["cluster"]["workers"] == 2
    on_disk = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    assert on_disk["totals"] == totals
    page = (tmp_path / "fleet" / "report.html").read_text()
    for spec in frames:
        assert f"href='{rows[spec]['report']}'" in page
    assert not (tmp_path / "fleet" / "drives" / ".partial").exists()


def test_a_rerun_skips_complete_drives_and_redoes_a_cut_one(
    local_ray: Any, audit_model: Path, tmp_path: Path
) -> None:
    drives = [drive(5, 3), drive(6, 4), drive(7, 2)]
    cfg = config(audit_model, tmp_path / "fleet", drives)
    first = fleet(cfg)
    folders = {r["drive"]: tmp_path / "fleet" / r["folder"] for r in first["drives"]}
    stamps = {d: (folders[d] / "audit.jsonl").stat().st_mtime_ns for d in drives}
    told: list[tuple[int, int]] = []
    again = fleet(cfg, on_start=lambda due, done: told.append((due, done)))
    assert told == [(0, 3)]
    assert again["totals"]["drives"]["resumed"] == 3 and again["cluster"] is None  # no Ray needed
    assert {d: (folders[d] / "audit.jsonl").stat().st_mtime_ns for d in drives} == stamps
    assert again["totals"]["frames"] == first["totals"]["frames"] == 9
    # A cut audit log (a disk that filled after the marker) makes that drive due again, and only it.
    cut = folders[drives[1]] / "audit.jsonl"
    cut.write_text(cut.read_text().splitlines(keepends=True)[0])
    told.clear()
    third = fleet(cfg, on_start=lambda due, done: told.append((due, done)))
    assert told == [(1, 2)]
    assert len(records(folders[drives[1]])) == 4 and third["totals"]["frames"] == 9
    # Another model (or other settings) is another audit: nothing is skipped.
    other = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, fit="letterbox"))
    told.clear()
    fleet(other, on_start=lambda due, done: told.append((due, done)))
    assert told == [(3, 0)]


def test_a_worker_killed_mid_drive_leaves_every_drive_whole(
    local_ray: Any, audit_model: Path, tmp_path: Path
) -> None:
    """SIGKILL of a worker process half-way through a drive: the drive is redone on a new worker, and the
    final outputs hold each frame once."""
    frames = {drive(11, 24, fps=16): 24, drive(12, 24, fps=16): 24, drive(13, 8, fps=16): 8}
    out = tmp_path / "fleet"
    cfg = config(audit_model, out, list(frames))
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, realtime=True))  # 1.5 s a drive
    killed: list[dict[str, Any]] = []

    def kill_one() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for audit in (out / "drives" / ".partial").glob("*/audit.jsonl"):
                if len(audit.read_text().splitlines()) >= 4:
                    worker = json.loads((audit.parent / "worker.json").read_text())
                    os.kill(worker["pid"], signal.SIGKILL)
                    killed.append(worker)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one)
    killer.start()
    result = fleet(cfg)
    killer.join()
    assert killed, "no drive was seen mid-way"
    rows = {r["drive"]: r for r in result["drives"]}
    hit = rows[killed[0]["drive"]]
    assert hit["attempts"] == 2 and "worker lost" in hit["errors"][0]
    for spec, n in frames.items():
        recs = records(out / rows[spec]["folder"])
        assert [r["frame"] for r in recs] == list(range(n)), spec  # each frame once, none missing
        assert all(r["status"] == "ok" for r in recs)
    assert result["totals"]["frames"] == sum(frames.values())
    assert result["cluster"]["workers_replaced"] == 1
    assert not (out / "drives" / ".partial").exists()


def test_a_drive_that_keeps_failing_is_reported_and_the_rest_finish(
    local_ray: Any, audit_model: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "drives.txt"
    listing.write_text(f"{drive(21, 3)}\nmissing_drive_sync\n{drive(22, 2)}\n")
    cfg = config(audit_model, tmp_path / "fleet", [str(listing)], retries=1, reports=True)
    finished: list[DriveState] = []
    result = fleet(cfg, on_drive=finished.append)
    rows = {r["name"]: r for r in result["drives"]}
    bad = rows["missing_drive_sync"]
    assert bad["status"] == "failed" and bad["attempts"] == 2
    assert all("missing_drive_sync" in e for e in bad["errors"])
    assert result["totals"]["drives"]["complete"] == 2 and result["totals"]["frames"] == 5
    assert result["exit_status"] == exits.FRAMES_FAILED
    assert sorted(s.status for s in finished) == ["complete", "complete", "failed"]
    page = (tmp_path / "fleet" / "report.html").read_text()
    assert "missing_drive_sync" in page and "failed" in page
    (tmp_path / "fleet" / "report.html").unlink()  # `depthmask report` rebuilds a fleet's page too
    assert CliRunner().invoke(app, ["report", str(tmp_path / "fleet")]).exit_code == 0
    assert "depthmask fleet report" in (tmp_path / "fleet" / "report.html").read_text()


def test_a_model_no_worker_can_load_stops_the_fleet_with_its_error(
    local_ray: Any, audit_model: Path, tmp_path: Path
) -> None:
    from depthmask.errors import DepthmaskError

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an ONNX file")
    with pytest.raises(DepthmaskError, match="could not load the model") as caught:
        fleet(config(bad, tmp_path / "fleet", [drive(41, 2)]))
    assert "bad.onnx" in str(caught.value)
    written = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    assert written["exit_status"] == exits.USER_ERROR and "bad.onnx" in written["error"]
    assert written["drives"][0]["status"] == "pending"


def test_a_commit_that_fails_costs_that_attempt_only(
    local_ray: Any, audit_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while a finished drive is moved into place: the attempt is redone, nothing is lost."""
    import errno

    import depthmask.fleet.core as core

    real, failures = os.replace, []

    def full_once(src: Any, dst: Any) -> None:
        if not failures:
            failures.append(dst)
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(core.os, "replace", full_once)
    result = fleet(config(audit_model, tmp_path / "fleet", [drive(51, 3)]))
    row = result["drives"][0]
    assert failures and row["status"] == "complete" and row["attempts"] == 2
    assert "No space left" in row["errors"][0]
    assert [r["frame"] for r in records(tmp_path / "fleet" / row["folder"])] == [0, 1, 2]
