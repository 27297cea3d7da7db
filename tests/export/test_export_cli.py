"""`depthmask export` and `depthmask check`: the config each option builds, refusals, and a round trip."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import onnx
import pytest
import typer
from export_nets import SIZE
from typer.testing import CliRunner

import depthmask.cli.export as cli_export
from depthmask.cli.app import app
from depthmask.export.config import ExportConfig

runner = CliRunner()


def capture_config(monkeypatch: pytest.MonkeyPatch) -> list[ExportConfig]:
    """Record the config `depthmask export` builds, and stop before exporting."""
    seen: list[ExportConfig] = []

    def record(cfg: ExportConfig) -> None:
        seen.append(cfg)
        raise typer.Exit(0)

    monkeypatch.setattr(cli_export, "run_export", record)
    return seen


def test_options_build_the_config(monkeypatch: pytest.MonkeyPatch, checkpoints: tuple[Path, Path]) -> None:
    seen = capture_config(monkeypatch)
    n, g = checkpoints
    args = ["export", "--backbone", "densenet161", "--checkpoint-n", str(n), "--checkpoint-g", str(g),
            "--mode", "masked", "--size", "256x832", "--batch-profile", "1,8,32",
            "--format", "both", "--precision", "int8", "--calibration", "drive/", "--opset", "19",
            "-o", "m.onnx", "--no-check", "--channel-order", "rgb"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == [
        ExportConfig(
            depth_net="hu2019_densenet161", checkpoint_n=n, checkpoint_g=g, mode="masked", height=256,
            width=832, batch_profile=(1, 8, 32), format="both", precision="int8", calibration="drive/",
            opset=19, output=Path("m.onnx"), check=False, channel_order="rgb",
        )
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no weights given (--checkpoint-n and --checkpoint-g missing)"),
        (["--backbone", "resnet50", "--depth-net", "x"], "give --backbone or --depth-net, not both"),
        (["--random-weights", "--precision", "int8"], "--precision int8 needs --calibration SOURCE"),
        (["--random-weights", "--batch-profile", "4,2,8"], "--batch-profile needs 1 ≤ min ≤ opt ≤ max"),
        (
            ["--random-weights", "--mode", "mask", "--depth-net", "hu2019_tiny"],
            "mode 'mask' runs the mask net G",
        ),
    ],
)
def test_refusals(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["export", *args], terminal_width=300)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_engine_without_tensorrt_says_how_to_install() -> None:
    pytest.importorskip("torch")
    from depthmask.errors import module_available

    if module_available("tensorrt"):
        pytest.skip("TensorRT is installed here")
    result = runner.invoke(
        app,
        ["export", "--random-weights", "--format", "engine", "--depth-net", "hu2019_tiny"],
        terminal_width=300,
    )
    assert result.exit_code == 1
    assert "pip install 'depthmask[gpu]'" in result.output and "need a CUDA GPU" in result.output


def test_export_then_check_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["export", "--mask-net", "mask_drn_tiny", "--mode", "mask", "--size", f"{SIZE[0]}x{SIZE[1]}",
            "--random-weights", "--seed", "3", "-o", "tiny.onnx"]  # fmt: skip
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "UNTRAINED" in result.output and "PASS" in result.output
    assert Path("tiny.onnx").is_file()
    # check rebuilds the reference from the metadata (random weights: from the recorded seed)
    result = runner.invoke(
        app, ["check", "tiny.onnx", "--frames", "3", "--json", "parity.json"], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output and json.loads(Path("parity.json").read_text())["passed"] is True


def test_check_of_a_tampered_file_exits_4(exported: dict, tmp_path: Path) -> None:
    model = onnx.load(str(exported["audit"][0]))
    for weights in [t for t in model.graph.initializer if len(t.dims) == 4]:  # every convolution, +10 %
        weights.CopyFrom(
            onnx.numpy_helper.from_array(1.1 * onnx.numpy_helper.to_array(weights), weights.name)
        )
    onnx.save(model, str(tmp_path / "tampered.onnx"))
    result = runner.invoke(
        app, ["check", str(tmp_path / "tampered.onnx"), "--frames", "2"], terminal_width=200
    )
    assert result.exit_code == 4, result.output  # contracts §6: a parity check failed
    assert "FAIL" in result.output and "beyond tolerance: mask max-abs" in result.output
    untouched = runner.invoke(app, ["check", str(exported["audit"][0]), "--frames", "2"], terminal_width=200)
    assert untouched.exit_code == 0, untouched.output


def test_check_refuses_other_weights(exported: dict, tmp_path: Path) -> None:
    from depthmask.nets.checkpoint import save_checkpoint
    from depthmask.nets.models import create_model

    other = save_checkpoint(create_model("mask_drn_tiny"), tmp_path / "other.safetensors")
    path = str(exported["audit"][0])
    result = runner.invoke(app, ["check", path, "--checkpoint-g", str(other)], terminal_width=300)
    assert result.exit_code == 1
    assert (
        "the rebuilt weights" in result.output and "pass the checkpoint it was exported from" in result.output
    )


def test_help_works_without_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        class _Blocker:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
        sys.meta_path.insert(0, _Blocker())
        from typer.testing import CliRunner
        from depthmask.cli import app
        for cmd in ("export", "check"):
            r = CliRunner().invoke(app, [cmd, "--help"], terminal_width=200)
            assert r.exit_code == 0 and "Examples" in r.output, r.output
        r = CliRunner().invoke(app, ["--help"], terminal_width=200)
        assert "export" in r.output and "check" in r.output
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr
