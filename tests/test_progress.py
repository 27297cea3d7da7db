"""Progress on any output: rich bars on a terminal, plain lines every few seconds in a log or a pipe."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

import depthmask.cli.export as cli_export
import depthmask.cli.run as cli_run
from depthmask.cli.progress import FrameProgress, step_spinner
from depthmask.errors import ConfigError
from depthmask.progress import Meter, duration


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _console(terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=200)


def _lines(console: Console) -> list[str]:
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_plain_lines_every_interval_with_count_percent_rate_and_eta() -> None:
    console, clock = _console(False), Clock()
    with Meter(console, "run", unit="frames", total=20, interval_s=5, get_time=clock,
               detail="dropped {task.fields[dropped]}", dropped=0) as meter:  # fmt: skip
        for _ in range(20):
            clock.now += 1.0
            meter.update(advance=1)
    assert _lines(console) == [
        "run: 5/20 frames (25 %) · 1.0 frames/s · ETA 15 s · dropped 0",
        "run: 10/20 frames (50 %) · 1.0 frames/s · ETA 10 s · dropped 0",
        "run: 15/20 frames (75 %) · 1.0 frames/s · ETA 5.0 s · dropped 0",
        "run: 20/20 frames (100 %) · 1.0 frames/s · ETA 0.0 s · dropped 0",
        "run: 20/20 frames (100 %) · 1.0 frames/s · elapsed 20 s · dropped 0",  # the last line, on stop
    ]


def test_an_unknown_total_counts_until_it_becomes_known() -> None:
    console, clock = _console(False), Clock()
    with Meter(console, "run", unit="frames", interval_s=2, get_time=clock) as meter:
        for _ in range(2):
            clock.now += 1.0
            meter.update(advance=1)
        meter.update(total=10)
        for _ in range(2):
            clock.now += 1.0
            meter.update(advance=1)
    lines = _lines(console)
    assert lines[0] == "run: 2 frames · 1.0 frames/s"  # no percent, no ETA
    assert lines[1].startswith("run: 4/10 frames (40 %) · ") and "ETA" in lines[1], lines


def test_begin_restarts_the_clock_and_sets_the_total() -> None:
    console, clock = _console(False), Clock()
    meter = Meter(console, "run", unit="frames", get_time=clock)
    clock.now = 30.0  # loading the model: not part of the frames' elapsed time
    meter.begin(8)
    assert meter.task.total == 8 and meter.task.elapsed == 0.0


def test_a_terminal_gets_a_rich_bar_with_the_percent() -> None:
    console = _console(True)
    with Meter(console, "run", unit="frames", total=10) as meter:
        for _ in range(5):
            meter.update(advance=1)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "5/10" in text and "50%" in text and "ETA" in text and "\x1b[" in text, text


def test_durations_read_as_seconds_minutes_hours() -> None:
    assert [duration(s) for s in (3.24, 34, 125, 3725)] == ["3.2 s", "34 s", "2 min 05 s", "1 h 02 min"]


def _fake_core(statuses: list[str]) -> Any:
    def core(cfg: Any, on_result: Any = None, on_start: Any = None) -> dict[str, Any]:
        on_start(len(statuses))
        for status in statuses:
            on_result(SimpleNamespace(status=status))
        return {"cfg": cfg}

    return core


def test_run_with_progress_ends_with_the_total_and_the_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    console = _console(False)
    monkeypatch.setattr(cli_run, "console", console)
    statuses = ["ok"] * 8 + ["dropped", "decode_error"]
    assert cli_run.run_with_progress("cfg", core=_fake_core(statuses)) == {"cfg": "cfg"}
    (line,) = _lines(console)
    assert line.startswith("run: 10/10 frames (100 %) · ") and line.endswith(" · dropped 1 · failed 1"), line


def test_run_with_progress_leaves_nothing_when_it_fails_before_a_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console = _console(False)
    monkeypatch.setattr(cli_run, "console", console)

    def core(cfg: Any, on_result: Any = None, on_start: Any = None) -> dict[str, Any]:
        raise ConfigError("no such model")

    with pytest.raises(ConfigError):
        cli_run.run_with_progress("cfg", core=core)
    assert _lines(console) == []


def test_frame_progress_plain_lines_while_frames_come() -> None:
    console, clock = _console(False), Clock()
    with FrameProgress(console, "demo", interval_s=5, get_time=clock) as bar:
        bar.begin(600)
        for _ in range(40):
            clock.now += 0.25
            bar.count("ok")
    want = "demo: 20/600 frames (3 %) · 4.0 frames/s · ETA 2 min 25 s · dropped 0 · failed 0"
    assert _lines(console)[0] == want


def test_a_step_prints_its_start_and_its_time() -> None:
    console, clock = _console(False), Clock()
    with step_spinner(console, "onnx fp32", get_time=clock):
        clock.now += 12.3
    assert _lines(console) == ["  onnx fp32 …", "  onnx fp32: 12.3 s"]


def test_a_failed_step_says_when_it_stopped() -> None:
    console, clock = _console(False), Clock()
    with pytest.raises(RuntimeError), step_spinner(console, "engine fp16", get_time=clock):
        clock.now += 2.0
        raise RuntimeError("builder failed")
    assert _lines(console) == ["  engine fp16 …", "  engine fp16: stopped after 2.0 s"]


def test_a_step_on_a_terminal_spins_then_leaves_its_line() -> None:
    console, clock = _console(True), Clock()
    with step_spinner(console, "onnx int8", get_time=clock):
        clock.now += 1.5
    assert "  onnx int8: 1.5 s" in console.file.getvalue()  # type: ignore[attr-defined]


def test_export_reports_every_step_as_it_starts_and_ends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The pipeline's own steps, with the networks and the ONNX writer replaced by stand-ins."""
    import depthmask.contract.metadata as metadata
    import depthmask.export.onnx as onnx_export
    from depthmask.export.config import ExportConfig

    out = tmp_path / "m.onnx"
    monkeypatch.setattr(onnx_export, "graph_from_config", lambda cfg: "graph")
    monkeypatch.setattr(onnx_export, "default_output", lambda cfg, graph, kind: out)
    monkeypatch.setattr(onnx_export, "onnx_from_graph", lambda graph, path, cfg: path)
    monkeypatch.setattr(metadata, "read_metadata", lambda path: {"mode": "mask"})
    console = _console(False)
    monkeypatch.setattr(cli_export, "console", console)
    cfg = ExportConfig(mask_net="mask_drn_tiny", mode="mask", random_weights=True, check=False, output=out)
    result = cli_export.run_export(cfg)
    assert result.artefacts == (out,) and set(result.seconds) == {"load networks", "onnx fp32"}
    lines = [line.rpartition(":")[0] or line for line in _lines(console)]  # the times vary
    assert lines == ["  load networks …", "  load networks", "  onnx fp32 …", "  onnx fp32"], lines


def test_training_prints_plain_lines_off_a_terminal(tmp_path: Path) -> None:
    from depthmask.train.monitor import Monitor

    console = _console(False)
    monitor = Monitor(
        tmp_path, total_steps=4, done_steps=1, progress=True, tensorboard=False, console=console,
        interval_s=0.0,
    )  # fmt: skip
    with monitor:
        for step in (2, 3, 4):
            monitor.advance(epoch=0, loss=0.25, samples=4)
            monitor.record({"event": "step", "step": step, "loss": 0.25})
    lines = _lines(console)
    assert lines[0].startswith("epoch 1: 2/4 steps (50 %)") and "loss 0.2500" in lines[0], lines
    assert "samples/s" in lines[1] and "ETA" in lines[2], lines
    assert lines[-1].startswith("epoch 1: 4/4 steps (100 %)") and "elapsed" in lines[-1], lines


def test_training_on_a_terminal_shows_percent_and_eta(tmp_path: Path) -> None:
    from depthmask.train.monitor import Monitor

    console = _console(True)
    monitor = Monitor(
        tmp_path, total_steps=4, done_steps=0, progress=True, tensorboard=False, console=console
    )
    with monitor:
        monitor.advance(epoch=0, loss=0.5, samples=2)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "1/4" in text and "25%" in text and "ETA" in text and "loss 0.5000" in text, text
