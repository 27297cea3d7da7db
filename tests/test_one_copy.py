"""One copy of every rule: the contract's validators are defined once, and every command documents the
same exit statuses (contracts §6)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from depthmask.cli.app import app
from depthmask.contract import exits

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "depthmask"
ONCE = {
    "validate_metadata": "contract/metadata.py",
    "check_io": "contract/metadata.py",
    "check_frames": "contract/metadata.py",
    "build_metadata": "contract/metadata.py",
    "read_sidecar": "contract/sidecar.py",
    "sidecar_path": "contract/sidecar.py",
    "check_engine_compatible": "contract/compat.py",
    "graph_spec": "contract/spec.py",
    "graph_from_metadata": "nets/rebuild.py",
    "parse_size": "settings.py",
    "sha256_of": "contract/hashing.py",
    "placement": "sources/fit.py",
    "mask_iou": "contract/fidelity.py",  # parity, golden, temporal stability, robustness, backend auto
    "compare_depth": "contract/fidelity.py",
    "expand_path": "sources/grammar.py",
    "top_share": "train/faithfulness.py",  # the curves and the Figure 5 edge baseline
}
CONSTANTS = {
    "EPSILON", "FAR_FRACTION", "FID_MIN_DEPTH", "IMAGENET_MEAN", "IMAGENET_STD", "AUTHORS_LAMBDA",
    "MASK_EMPTY_KEEP", "MASK_FULL_KEEP",
}  # fmt: skip


def _definitions() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    functions: dict[str, list[str]] = {}
    constants: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module-level functions (a method may delegate to one)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.setdefault(node.name, []).append(rel)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name) and t.id in CONSTANTS:
                        constants.setdefault(t.id, []).append(rel)
    return functions, constants


def test_the_contract_rules_are_defined_once() -> None:
    functions, constants = _definitions()
    for name, home in ONCE.items():
        assert functions.get(name) == [home], f"{name} defined in {functions.get(name)}; only in {home}"
    for name in CONSTANTS:
        assert constants.get(name) == ["contract/constants.py"], f"{name} assigned in {constants.get(name)}"


def _commands() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands if c.callback is not None)


@pytest.mark.parametrize("command", _commands())
def test_every_command_documents_the_exit_statuses(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert " ".join(exits.HELP.split()) in text, f"`depthmask {command} --help` lacks the exit statuses"


def test_the_statuses_are_the_contracts() -> None:
    assert (exits.OK, exits.USER_ERROR, exits.USAGE_ERROR, exits.FRAMES_FAILED, exits.CHECK_FAILED) == (
        0,
        1,
        2,
        3,
        4,
    )
    assert (exits.INTERRUPTED_SIGINT, exits.INTERRUPTED_SIGTERM) == (130, 143)
