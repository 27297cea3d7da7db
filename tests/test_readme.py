"""The README's commands are real: every `depthmask …` line in its code blocks parses with the CLI as it
is (subcommands, options, choices, value types), its set-up commands are the ones CI runs, the numbers it
quotes are the shipped models', and every command form it shows is run by a test with small sizes."""

from __future__ import annotations

import ast
import json
import re
import shlex
from pathlib import Path

import pytest
import typer

from depthmask.cli import app
from depthmask.demo import shipped_provenance

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SEPARATORS = {"&&", "||", ";", "|"}
# typer ≥ 0.26 parses with its own copy of click (older ones with click itself); the public
# typer.BadParameter leads to the exception classes of whichever copy is in use.
_CLICK = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
UsageError, ClickException = _CLICK["UsageError"], _CLICK["ClickException"]

# Every command form the README shows → the tests that run it end to end with small sizes. A README
# command whose form is missing here fails `test_every_command_form_is_run_by_a_test`.
RUN_BY = {
    ("demo",): [
        "tests/test_demo.py::test_demo_end_to_end",
        "tests/test_demo.py::test_demo_on_a_runtime_only_install",
    ],
    ("report",): ["tests/test_demo.py::test_report_command_rewrites_the_report"],
    ("run",): [
        "tests/test_demo.py::test_run_streams_a_kitti_drive_through_the_shipped_model",
        "tests/runtime/test_run_e2e.py::test_cli_user_errors",
        "tests/runtime/test_regions.py::test_the_command_line_takes_boxes_and_a_region_file",
    ],
    ("info",): ["tests/test_demo.py::test_info_describes_a_shipped_checkpoint"],
    ("fleet",): ["tests/fleet/test_fleet_cli.py::test_ctrl_c_finalises_what_is_done_and_a_rerun_finishes"],
    ("convert",): ["tests/train/test_checkpoint.py::test_convert_and_info_cli"],
    ("train", "depth"): ["tests/train/test_training_cli.py::test_cli_trains_n_then_g_and_resumes"],
    ("train", "mask"): ["tests/train/test_training_cli.py::test_cli_trains_n_then_g_and_resumes"],
    ("eval",): ["tests/train/test_evaluate.py::test_cli_eval_writes_tables_and_exits_cleanly"],
    ("export",): ["tests/export/test_export_cli.py::test_export_then_check_round_trip"],
    ("check",): ["tests/export/test_export_cli.py::test_export_then_check_round_trip"],
    ("bench",): ["tests/bench/test_bench_run.py::test_model_file_through_the_cli"],
    ("golden", "record"): [
        "tests/test_golden.py::test_record_writes_the_frames_outputs_and_a_portable_description"
    ],
    ("golden", "verify"): ["tests/test_golden.py::test_a_worse_artefact_fails_the_gate_naming_the_limit"],
}


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)


def shell_lines(text: str) -> list[str]:
    """The command lines of the README's shell blocks (continuations joined)."""
    lines = []
    for lang, body in code_blocks(text):
        if lang in ("bash", "sh", "shell", "console"):
            lines += [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]
    return lines


def depthmask_commands(text: str) -> list[list[str]]:
    """The argv (after `depthmask`) of every depthmask invocation in the README's shell blocks, also
    inside `a && b` chains and behind launchers such as `torchrun … --no-python depthmask …`."""
    commands = []
    for line in shell_lines(text):
        segment: list[str] = []
        for token in [*shlex.split(line, comments=True), ";"]:
            if token not in SEPARATORS:
                segment.append(token)
                continue
            starts = [i for i, t in enumerate(segment) if t == "depthmask" or t.endswith("/depthmask")]
            if starts:
                commands.append(segment[starts[0] + 1 :])
            segment = []
    return commands


def parse(argv: list[str]) -> tuple[tuple[str, ...], typer.Context]:
    """Parse `depthmask ARGV` with the real CLI, nothing run: (the subcommand path, its context).

    click checks every option name, choice, type and required argument (UsageError otherwise).
    """
    command = typer.main.get_command(app)
    ctx = command.make_context("depthmask", list(argv))
    path: list[str] = []
    while hasattr(command, "resolve_command"):  # a group: the next word names a subcommand
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
        name, command, rest = command.resolve_command(ctx, [*protected, *ctx.args])
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    return tuple(path), ctx


def test_the_set_up_commands_come_first_and_match_ci() -> None:
    blocks = [body.strip() for lang, body in code_blocks(README.read_text()) if lang == "bash"]
    assert blocks[0] == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/depthmask demo"
    ci = [
        line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3 -m venv")
    ]
    assert (
        blocks[1]
        == ci[0]
        == ('python3 -m venv .venv && .venv/bin/pip install -e ".[train,dev]" && .venv/bin/python -m pytest')
    )


def test_the_extraction_finds_chains_and_launchers() -> None:
    text = (
        "```bash\na && .venv/bin/depthmask demo --frames 3  # tail\n"
        "torchrun --x 1 depthmask \\\n  info\n```\n"
    )
    assert depthmask_commands(text) == [["demo", "--frames", "3"], ["info"]]


def test_every_readme_command_parses_with_the_real_cli() -> None:
    commands = depthmask_commands(README.read_text())
    assert len(commands) >= 25, "the README's examples were not found"
    problems = []
    for argv in commands:
        try:
            parse(argv)
        except ClickException as exc:
            problems.append(f"depthmask {shlex.join(argv)}\n    → {exc.format_message()}")
    assert not problems, "README commands the CLI refuses:\n" + "\n".join(problems)


def test_a_wrong_option_would_be_caught() -> None:
    with pytest.raises(UsageError, match="No such option: --frame"):
        parse(["demo", "--frame", "3"])
    with pytest.raises(typer.BadParameter, match="sometimes"):
        parse(["run", "x.mp4", "--model", "m.onnx", "--policy", "sometimes"])
    with pytest.raises(UsageError, match="No such command 'dept'"):
        parse(["train", "dept", "--data", "synthetic:"])
    with pytest.raises(UsageError, match="Missing parameter: model"):
        parse(["run", "x.mp4"])


def test_every_command_form_is_run_by_a_test() -> None:
    forms = {parse(argv)[0] for argv in depthmask_commands(README.read_text())}
    missing = sorted(forms - set(RUN_BY))
    assert not missing, (
        f"README command forms no test runs: {missing}; add a small test and list it in RUN_BY"
    )
    for form in sorted(forms):
        for node in RUN_BY[form]:
            file, _, name = node.partition("::")
            path = ROOT / file
            assert path.is_file(), f"{' '.join(form)}: {file} does not exist"
            if name:
                tree = ast.parse(path.read_text())
                names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
                assert name in names, f"{' '.join(form)}: {file} has no test {name}"


def test_quoted_demo_numbers_are_the_shipped_models() -> None:
    """The README's table of held-out numbers says what demo-provenance.json says."""
    metrics = shipped_provenance()["metrics"]
    depth, mask = metrics["depth"], metrics["mask"]
    text = README.read_text()
    table = text[text.index("| N (`hu2019_tiny`") :].split("\n\n")[0]
    expected = {
        "abs_rel": f"{depth['abs_rel']:.3f}",
        "δ1": f"{depth['delta1']:.3f}",
        "RMSE": f"{depth['rmse']:.2f} m",
        "far_attention": f"{mask['far_attention']:.3f}",
        "mask_mean · mask_keep": f"{mask['mask_mean']:.3f} · {mask['mask_keep']:.3f}",
        "fid_rmse · fid_abs_rel": f"{mask['fid_rmse']:.2f} m · {mask['fid_abs_rel']:.3f}",
    }
    for label, value in expected.items():
        assert f"| {label} | {value} |" in table, f"README says otherwise for {label}: expected {value}"
    edges = metrics["edges_baseline"]
    assert f"stays {mask['fid_rmse']:.0f} m RMSE from N(I)" in text.replace("\n", " ")
    assert f"moves it by {edges['fid_rmse']:.0f} m" in text.replace("\n", " ")
    training = shipped_provenance()["training"]
    assert f"λ = {training['mask']['lambda']:g}, then ranked at λ = {training['rank']['lam']:g}" in table
    assert f"μ = {training['rank']['mu']:g}" in table
    size = shipped_provenance()["input_size"]
    assert f"{size[0]}×{size[1]}" in table
    json.dumps(metrics)  # the provenance stays plain JSON
