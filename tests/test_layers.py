"""Layers point down (contracts §7): an AST scan of every import, those inside functions included.

contract → sources → nets (torch) → train | runtime | export → bench, report, demo, fleet → cli. `runtime`
reaches `nets` only lazily (inside a function: its torch backend) and never imports `export` or
`train`; `train` never imports `runtime` or `export`; the torch-free layers never import torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "depthmask"

BOTTOM = {"__init__", "errors", "settings", "environment", "contract", "progress"}
# What each top-level part of the package may import (besides itself); anything else is upward.
ALLOWED: dict[str, set[str]] = {
    "__init__": {"errors"},
    "errors": set(),
    "settings": {"errors"},
    "environment": {"__init__", "errors"},
    "contract": {"__init__", "errors"},
    "progress": set(),  # rich only: the bars and plain progress lines of train and cli
    "synthetic": BOTTOM,
    "sources": BOTTOM | {"synthetic"},
    "nets": BOTTOM | {"sources", "synthetic"},
    "train": BOTTOM | {"sources", "synthetic", "nets"},
    "runtime": BOTTOM | {"sources", "synthetic", "nets"},
    "export": BOTTOM | {"sources", "synthetic", "nets", "runtime"},
    "report": BOTTOM,
    "bench": BOTTOM | {"sources", "synthetic", "nets", "train", "runtime", "export", "report"},
    "describe": BOTTOM | {"nets"},
    "demo": BOTTOM | {"sources", "synthetic", "runtime", "report"},
    "golden": BOTTOM | {"sources", "synthetic", "runtime", "export"},  # torch-free: export.parity's metrics
    "fleet": BOTTOM | {"sources", "synthetic", "runtime", "report"},  # runtime's run core on Ray workers
    "cli": {*BOTTOM, "sources", "synthetic", "nets", "train", "runtime", "export", "report", "bench"}
    | {"describe", "demo", "golden", "fleet"},
}
LAZY_ONLY = {("runtime", "nets")}  # allowed inside a function only
TORCH_FREE = {
    "contract", "sources", "synthetic", "errors", "settings", "environment", "report", "progress", "golden",
    "fleet",
}  # fmt: skip
TORCH_LAZY = {"runtime", "demo", "cli"}  # may import torch inside a function (an optional path)
TORCH = ("torch", "torchvision", "timm", "safetensors")


def _part(module: str) -> str:
    """`depthmask.runtime.sources.x` → `runtime`; `depthmask` → `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import statement in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base) + (f".{child.module}" if child.module else "")
                else:
                    target = child.module or ""
                out.append((target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return out


def _files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_the_scan_sees_every_part() -> None:
    parts = {_part(_module_of(p)) for p in _files()}
    assert parts <= set(ALLOWED), f"parts without a layer: {parts - set(ALLOWED)}"
    assert {"contract", "sources", "nets", "train", "runtime", "export", "bench", "cli"} <= parts


def _violations(path: Path, module: str) -> list[str]:
    here = _part(module)
    wrong = []
    for target, line, in_function in _imports(path, module):
        if target.split(".")[0] in TORCH:
            if here in TORCH_FREE or (here in TORCH_LAZY and not in_function):
                wrong.append(f"line {line}: imports {target} (the {here} layer runs without torch)")
            continue
        if target != "depthmask" and not target.startswith("depthmask."):
            continue
        there = _part(target)
        if there == here:
            continue
        if there not in ALLOWED[here]:
            wrong.append(f"line {line}: {here} imports {target} (upward or sideways)")
        elif (here, there) in LAZY_ONLY and not in_function:
            wrong.append(f"line {line}: {here} imports {target} at module level (only lazily, in a function)")
    return wrong


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    wrong = _violations(path, _module_of(path))
    assert not wrong, f"{path.relative_to(PACKAGE)}:\n" + "\n".join(wrong)


def test_the_scan_catches_upward_imports_inside_functions(tmp_path: Path) -> None:
    """The checker itself can fail: imports hidden in function bodies, relative ones too, are seen."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import numpy\n"
        "from depthmask.nets import graph\n"
        "def f():\n"
        "    from depthmask.export.onnx import onnx_from_graph\n"
        "    from ..train import loop\n"
        "    import torch\n"
        "    from depthmask.nets.rebuild import graph_from_metadata\n"
    )
    wrong = _violations(probe, "depthmask.runtime.probe")
    assert any("line 4: runtime imports depthmask.export.onnx" in w for w in wrong), wrong
    assert any("line 5: runtime imports depthmask.train" in w for w in wrong), wrong
    assert any("line 2:" in w and "module level" in w for w in wrong), wrong
    assert len(wrong) == 3, wrong  # a lazy torch import and a lazy nets import are allowed here
    assert _violations(probe, "depthmask.contract.probe")  # the contract may import none of these
