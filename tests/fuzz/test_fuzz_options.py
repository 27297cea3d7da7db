"""Fuzzed option values of `depthmask run`: the settings object and the command line. Every case is
accepted or refused with a typed error (exit 1, one `error:` line) or typer's usage error (exit 2)."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

from fuzzing import CASES, OUTCOMES, ends_typed, fuzz
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from depthmask.cli.app import app
from depthmask.errors import ConfigError
from depthmask.runtime.config import RunConfig

FUZZ = fuzz(cases=150, deadline_ms=3000)
numbers = (
    st.integers(1, 64)  # in range often enough that accepted settings are checked too
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
)


FIELDS: dict[str, Any] = {
    "batch": numbers,
    "max_wait_ms": numbers,
    "buffer": numbers,
    "threads": st.none() | numbers,
    "depth_range": st.none() | st.tuples(numbers, numbers),
    "save": st.frozensets(st.sampled_from(["video", "depth", "mask", "samples", "depth_masked", "vid", ""])),
    "fit": st.sampled_from(["resize", "crop", "letterbox", "stretch", ""]),
    "policy": st.sampled_from([None, "every", "live", "newest"]),
    "precision": st.sampled_from([None, "fp32", "bf16", "fp16", "int8"]),
    "sources": st.lists(
        st.sampled_from(["synthetic:", "clip.mp4", "0"]) | st.text(max_size=12), max_size=3
    ).map(tuple),
}


@FUZZ
@given(data=st.data(), changed=st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=3, unique=True))
def test_run_settings_are_accepted_or_refused(data: st.DataObject, changed: list[str]) -> None:
    """Valid settings with one to three fields replaced by anything."""
    fields: dict[str, Any] = {"sources": ("synthetic:",)}
    for name in changed:
        fields[name] = data.draw(FIELDS[name], label=name)
    result = ends_typed("run settings", lambda: RunConfig(model=Path("m.onnx"), **fields))
    if isinstance(result, RunConfig):
        assert 1 <= result.batch <= 1024 and math.isfinite(result.max_wait_ms)
        assert all(s.strip() for s in result.sources)
    else:
        assert isinstance(result, ConfigError)


option_values = st.sampled_from(
    ["0", "-1", "1", "8", "5000", "1e9", "inf", "-inf", "nan", "abc", "", " ", "1,2", "0,inf", "3,1", "\x00"]
) | st.text(max_size=8)


@FUZZ
@given(
    option=st.sampled_from(
        [
            "--batch",
            "--max-wait-ms",
            "--threads",
            "--depth-range",
            "--save",
            "--fit",
            "--policy",
            "--precision",
            "--backend",
            "--device",
            "--out",
        ]
    ),
    value=option_values,
)
def test_run_command_line_values_end_in_a_message(tmp_path_factory: Any, option: str, value: str) -> None:
    """With a model that does not exist, a value that passes still stops before any frame: exit 1."""
    folder = Path(tmp_path_factory.mktemp("cli"))
    args = ["run", "synthetic:frames=2", "--model", str(folder / "absent.onnx"), option, value]
    if option != "--out":
        args += ["--out", str(folder / "out")]
    CASES["run command line"] += 1
    with contextlib.chdir(folder):  # a relative --out value is created here, not in the checkout
        result = CliRunner().invoke(app, args)
    assert result.exit_code in (1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    if result.exit_code == 1:
        assert result.output.lstrip().startswith("error:"), (args, result.output)
        OUTCOMES["exit 1"] += 1
    else:
        OUTCOMES["exit 2 (usage)"] += 1
    assert not (folder / "out" / "audit.jsonl").exists()
