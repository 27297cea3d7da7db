"""Help that helps: every command's --help shows its defaults, sorts its options into the shared panels,
shows flags without a value, ends with examples; and a frame size is `--size HxW` on every command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import depthmask.cli.bench as cli_bench
import depthmask.cli.export as cli_export
from depthmask.cli import app
from depthmask.cli.app import PANELS
from depthmask.errors import ConfigError
from depthmask.settings import parse_size

runner = CliRunner()
WIDE = {"COLUMNS": "200"}  # rows do not wrap, so each option's row is found whole
DEFAULT_PANELS = ("Arguments", "Options", "Commands")  # typer's own: arguments, --help, a group's commands
SIZE_COMMANDS = [("export",), ("bench",), ("train", "depth"), ("train", "mask"), ("eval",)]


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _walk(sub, (*path, name))
    return found


COMMANDS = _walk(typer.main.get_command(app))
IDS = [" ".join(path) or "depthmask" for path, _ in COMMANDS]


def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], env=WIDE, terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def _panels(text: str) -> list[str]:
    return re.findall(r"^╭─ (.+?) ─", text, flags=re.M)


def _row(text: str, name: str) -> str:
    """The help row of option `name` (its continuation lines included), borders removed."""
    lines = text.splitlines()
    start = re.compile(rf"^│\s*(\*\s+)?{re.escape(name)}\s")
    begins = [i for i, line in enumerate(lines) if start.match(line)]
    assert len(begins) == 1, f"{name}: {len(begins)} rows in\n{text}"
    row = [lines[begins[0]]]
    for line in lines[begins[0] + 1 :]:
        if not line.startswith("│") or re.match(r"^│\s*(\*\s+)?-", line):
            break
        row.append(line)
    return " ".join(" ".join(row).replace("│", " ").split())


def test_every_command_and_group_is_walked() -> None:
    assert {"depthmask", "export", "bench", "train", "train depth", "train mask", "eval", "run"} <= set(IDS)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_ends_with_examples_and_shows_no_flag_values(path: tuple[str, ...], command: Any) -> None:
    text = _help(path)
    assert "Examples:" in text, f"`depthmask {' '.join(path)} --help` has no examples"
    assert text.rindex("Examples:") > text.rindex("╰"), "the examples come after the options"
    for noise in ("BOOLEAN", "<bool>"):
        assert noise not in text, f"`depthmask {' '.join(path)} --help` shows {noise}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_default_is_shown(path: tuple[str, ...], command: Any) -> None:
    text = _help(path)
    missing = []
    for param in command.params:
        if param.param_type_name != "option" or param.hidden or param.is_eager or param.default is None:
            continue
        name = next(o for o in param.opts if o.startswith("--"))
        if "[default:" not in _row(text, name):
            missing.append(name)
    assert not missing, f"`depthmask {' '.join(path)} --help` hides the default of {', '.join(missing)}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_panels_are_the_shared_ones_in_their_order(path: tuple[str, ...], command: Any) -> None:
    panels = _panels(_help(path))
    own = [p for p in panels if p not in DEFAULT_PANELS]
    assert set(own) <= set(PANELS), f"unknown panels {set(own) - set(PANELS)}; use {PANELS}"
    assert own == sorted(own, key=PANELS.index), f"panels {own} are not in the order {PANELS}"


@pytest.mark.parametrize("path", [("export",), ("bench",)])
def test_long_commands_are_split_into_panels(path: tuple[str, ...]) -> None:
    own = [p for p in _panels(_help(path)) if p not in DEFAULT_PANELS]
    assert len(own) > 1, own


def test_a_size_is_spelled_one_way_everywhere() -> None:
    for path, command in COMMANDS:
        names = {o for p in command.params for o in getattr(p, "opts", [])}
        assert not names & {"--height", "--width", "--input-size"}, (path, names)
        for param in command.params:
            if param.name.endswith("size") and param.name != "batch_size":
                assert param.metavar == "HxW", (path, param.name)
    assert all("--size" in _help(path) for path in SIZE_COMMANDS)


def test_the_size_parser() -> None:
    assert parse_size("228x304") == (228, 304)
    assert parse_size(" 256×832 ") == parse_size("256X832") == (256, 832)
    assert parse_size(None) is None
    for bad in ("228", "axb", "0x10", "228,304", "1x2x3", "-4x8"):
        with pytest.raises(ConfigError, match=rf"--size takes .*HxW.*e\.g\. 228x304; got '{bad}'"):
            parse_size(bad)
    with pytest.raises(ConfigError, match=r"^--depth-size takes"):
        parse_size("12", "--depth-size")


def _capture(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    seen: list[Any] = []

    def record(cfg: Any) -> None:
        seen.append(cfg)
        raise typer.Exit(0)

    monkeypatch.setattr(module, name, record)
    return seen


def test_size_reaches_export_and_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    exported = _capture(monkeypatch, cli_export, "run_export")
    result = runner.invoke(app, ["export", "--random-weights", "--size", "228x304"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert (exported[0].height, exported[0].width) == (228, 304)
    benched = _capture(monkeypatch, cli_bench, "run_bench")
    result = runner.invoke(app, ["bench", "--depth-net", "hu2019_tiny", "--size", "228x304"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert benched[0].size == (228, 304)


@pytest.mark.parametrize("kind", ["depth", "mask"])
def test_size_reaches_training(kind: str) -> None:
    args = ["train", kind, "-d", "synthetic:", "--size", "228x304", "--dry-run"]
    args += ["--depth-checkpoint", "n.safetensors"] if kind == "mask" else []  # read only when training
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input_size"] == [228, 304]


def test_size_reaches_eval(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import depthmask.train.evaluate as core

    seen = _capture(monkeypatch, core, "evaluate")
    args = ["eval", "-d", "synthetic:", "--depth-network", "hu2019_tiny", "--size", "228x304"]
    args += ["--depth-size", "114x152", "-o", str(tmp_path)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert (seen[0].input_size, seen[0].depth_size) == ((228, 304), (114, 152))


@pytest.mark.parametrize("path", SIZE_COMMANDS, ids=[" ".join(p) for p in SIZE_COMMANDS])
@pytest.mark.parametrize("bad", ["228", "axb", "0x10"])
def test_a_bad_size_names_the_value_and_the_form(path: tuple[str, ...], bad: str) -> None:
    required = {"train": ["-d", "synthetic:", "--dry-run"], "eval": ["-d", "synthetic:"]}.get(path[0], [])
    result = runner.invoke(app, [*path, *required, "--size", bad], env=WIDE)
    assert result.exit_code in (1, 2), result.output
    text = " ".join(result.output.split())
    assert "--size takes" in text and "HxW" in text and f"'{bad}'" in text, text
