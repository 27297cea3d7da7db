"""What a fleet's SOURCES expand to, the names of the drives' folders, the settings' checks, and the
completion marker's rules (no Ray: these are the contract the workers are given)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from depthmask.errors import ConfigError, DepthmaskError, SourceError
from depthmask.fleet.config import FleetConfig
from depthmask.fleet.drives import expand_drives
from depthmask.fleet.marker import MARKER, is_complete, write_marker
from depthmask.runtime.config import RunConfig


def _drive_folders(root: Path, names: list[str]) -> list[Path]:
    folders = []
    for name in names:
        (root / name / "image_02" / "data").mkdir(parents=True)
        folders.append(root / name)
    return folders


def test_a_list_a_glob_and_a_source_expand_to_one_drive_each(tmp_path: Path) -> None:
    _drive_folders(tmp_path / "kitti", ["2011_09_26_drive_0001_sync", "2011_09_26_drive_0002_sync"])
    listing = tmp_path / "lists" / "drives.txt"
    listing.parent.mkdir()
    listing.write_text("# two drives\n../kitti/2011_09_26_drive_0001_sync\n\nsynthetic:frames=3\n")
    drives = expand_drives([str(listing), str(tmp_path / "kitti" / "*_sync"), "synthetic:frames=4"])
    specs = [d.spec for d in drives]
    assert specs == [
        str(listing.parent / "../kitti/2011_09_26_drive_0001_sync"),
        "synthetic:frames=3",
        str(tmp_path / "kitti" / "2011_09_26_drive_0001_sync"),
        str(tmp_path / "kitti" / "2011_09_26_drive_0002_sync"),
        "synthetic:frames=4",
    ]
    names = [d.name for d in drives]
    assert len(set(names)) == len(names)  # the drive listed and globbed twice gets two distinct names
    assert names[3] == "2011_09_26_drive_0002_sync" and names[1] == "synthetic_frames=3"
    assert [d.listed for d in drives] == [True, True, True, True, False]


def test_images_are_one_drive_as_run_reads_them(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(b"")
    (tmp_path / "frames.txt").write_text("0.png\n1.png\n")
    assert [d.spec for d in expand_drives([str(tmp_path / "*.png")])] == [str(tmp_path / "*.png")]
    assert [d.spec for d in expand_drives([str(tmp_path / "frames.txt")])] == [str(tmp_path / "frames.txt")]


def test_a_named_drive_is_checked_before_any_cluster(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no_such_drive"):
        expand_drives([str(tmp_path / "no_such_drive")])
    (tmp_path / "a_sync").mkdir()
    (tmp_path / "notes.md").write_text("")
    with pytest.raises(SourceError, match="narrow it"):
        expand_drives([str(tmp_path / "*")])
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(SourceError, match="lists no drives"):
        expand_drives([str(tmp_path / "empty.txt")])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("workers", 0, "--workers"),
        ("retries", -1, "--retries"),
        ("cpus_per_worker", 0.0, "--cpus-per-worker"),
        ("gpus_per_worker", float("nan"), "--gpus-per-worker"),
        ("address", "http://head", "--address"),
    ],
)
def test_settings_that_cannot_work_are_refused(option: str, value: object, message: str) -> None:
    run = RunConfig(sources=("synthetic:",), model=Path("m.onnx"))
    with pytest.raises(ConfigError, match=message):
        FleetConfig(run=run, **{option: value})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=4))
def test_any_typed_sources_give_drives_or_a_clear_error(specs: list[str]) -> None:
    """Whatever a user types, expansion gives uniquely named drives or a DepthmaskError, nothing else."""
    try:
        drives = expand_drives(specs)
    except DepthmaskError:
        return
    names = [d.name for d in drives]
    assert len(set(names)) == len(names) and all(n and "/" not in n and n not in (".", "..") for n in names)


def test_the_marker_holds_only_for_the_same_model_settings_and_log(tmp_path: Path) -> None:
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "audit.jsonl").write_text('{"frame": 0}\n{"frame": 1}\n')
    (folder / "summary.json").write_text("{}")
    run = RunConfig(sources=("synthetic:",), model=Path("m.onnx"), depth_range=(0.0, 80.0))
    marker = write_marker(folder, "synthetic:", "abc", run, {"attempts": 1})
    assert marker["records"] == 2 and (folder / MARKER).is_file()
    assert is_complete(folder, "synthetic:", "abc", run)
    assert not is_complete(folder, "synthetic:", "other-model", run)
    assert not is_complete(folder, "synthetic:frames=3", "abc", run)
    assert not is_complete(
        folder, "synthetic:", "abc", RunConfig(sources=("x",), model=Path("m"), fit="crop")
    )
    threads = RunConfig(sources=("x",), model=Path("m"), depth_range=(0.0, 80.0), threads=2, out=tmp_path)
    assert is_complete(folder, "synthetic:", "abc", threads)  # how fast or where, not what
    (folder / "audit.jsonl").write_text('{"frame": 0}\n')
    assert not is_complete(folder, "synthetic:", "abc", run)


def test_a_second_fleet_into_the_same_folder_is_refused(tmp_path: Path) -> None:
    import fcntl
    import os

    from depthmask.errors import OutputError
    from depthmask.fleet.core import LOCK, fleet

    model = tmp_path / "m.onnx"
    model.write_bytes(b"not read: the folder is refused first")
    out = tmp_path / "fleet"
    out.mkdir()
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242")
    fcntl.flock(fd, fcntl.LOCK_EX)  # another fleet holds the folder
    try:
        cfg = FleetConfig(run=RunConfig(sources=("synthetic:frames=2",), model=model, out=out))
        with pytest.raises(OutputError, match="another depthmask fleet \\(pid 4242\\)"):
            fleet(cfg)
    finally:
        os.close(fd)


def test_a_worker_resolves_backend_auto_as_run_does(
    audit_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fleet --backend auto`: each worker probes (or reads the cache) once, and says what it chose."""
    import depthmask.runtime.auto as auto
    from depthmask.fleet.worker import DriveAuditor

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(auto, "PROBE_SECONDS", 0.05)
    template = RunConfig(sources=("synthetic:frames=2",), model=audit_model, backend="auto", threads=1,
                         save=frozenset(), out=tmp_path)  # fmt: skip
    worker = DriveAuditor(template)
    try:
        who = worker.load()
        assert who["backend_auto"]["label"] in [p["label"] for p in who["backend_auto"]["probes"]]
        out = worker.audit("synthetic:frames=2,height=64,width=96", str(tmp_path / "d"), 1, report=False)
        assert out["counts"]["ok"] == 2
    finally:
        worker.close()
