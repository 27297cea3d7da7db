"""The CLI on a runtime-only install: `--help`, `--version` and `info` work without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from depthmask import __version__
from depthmask.cli import app

runner = CliRunner()

# Makes `import torch` fail the way it does where torch is not installed.
_NO_TORCH = textwrap.dedent(
    """
    import sys
    class _Blocker:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None
    sys.meta_path.insert(0, _Blocker())
    """
)


def test_help_and_info_without_torch() -> None:
    code = _NO_TORCH + textwrap.dedent(
        """
        import depthmask
        from typer.testing import CliRunner
        from depthmask.cli import app
        r = CliRunner().invoke(app, ["--help"])
        assert r.exit_code == 0, r.output
        assert "info" in r.output and "convert" in r.output
        r = CliRunner().invoke(app, ["info"])
        assert r.exit_code == 0, r.output
        assert "not installed" in r.output, r.output
        assert "torch" not in sys.modules
        r = CliRunner().invoke(app, ["convert", "a", "b"])
        assert r.exit_code == 1 and "pip install 'depthmask[train]'" in r.output, r.output
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")


def test_info_describes_models_and_engines_without_torch(tmp_path) -> None:
    """`info` on the shipped ONNX and on an engine's sidecar in a base install: inputs, outputs, metadata."""
    import json
    from pathlib import Path

    import depthmask

    model = Path(depthmask.__file__).parent / "assets" / "demo-audit.onnx"
    engine = tmp_path / "demo.engine"
    engine.write_bytes(b"engine bytes are TensorRT's own; info reads the sidecar")
    h, w = json.loads((model.parent / "demo-provenance.json").read_text())["input_size"]
    code = _NO_TORCH + textwrap.dedent(
        f"""
        import json
        from typer.testing import CliRunner
        from depthmask.cli import app
        from depthmask.contract.metadata import from_props
        from depthmask.contract.sidecar import engine_metadata, write_sidecar
        import onnxruntime as ort
        r = CliRunner().invoke(app, ["info", {str(model)!r}], terminal_width=200)
        assert r.exit_code == 0, r.output
        for text in ("ONNX model", "frames tensor(uint8) ['batch', {h}, {w}, 3]", "stats tensor(float)",
                     "valid: `depthmask run` and `check` accept it", "hu2019_tiny", "gflop per frame"):
            assert text in r.output, (text, r.output)
        meta = from_props(dict(ort.InferenceSession({str(model)!r}).get_modelmeta().custom_metadata_map))
        side = engine_metadata(meta, tensorrt_version="10.9.0", gpu="NVIDIA H200", batch_profile=(1, 4, 8),
                               precision="fp16", builder_flags=["FP16"])
        write_sidecar({str(engine)!r}, side)
        r = CliRunner().invoke(app, ["info", {str(engine)!r}], terminal_width=200)
        assert r.exit_code == 0, r.output
        for text in ("TensorRT engine", "NVIDIA H200", "10.9.0", "fp16", "valid: "):
            assert text in r.output, (text, r.output)
        broken = json.loads(open({str(engine) + ".json"!r}).read())
        broken["mode"] = "bogus"
        open({str(engine) + ".json"!r}, "w").write(json.dumps(broken))
        r = CliRunner().invoke(app, ["info", {str(engine)!r}], terminal_width=200)
        assert r.exit_code == 0 and "refused by the runtime" in r.output and "bogus" in r.output, r.output
        assert "torch" not in sys.modules
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
    assert json.loads((tmp_path / "demo.engine.json").read_text())["mode"] == "bogus"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"depthmask {__version__}"


def test_short_help_and_hand_written_defaults_are_shown() -> None:
    """`-h` is `--help`, and brackets in help texts ("[default: 120]", "[train]") survive the rendering."""
    result = runner.invoke(app, ["demo", "-h"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())  # the panel's borders wrap long lines
    assert "[default: 120, 12 s at 10 frames/s]" in text and "(needs the [train] extra)" in text, text


def test_commands_that_need_torch_say_so_in_one_line_without_it(tmp_path) -> None:
    """A base install (no torch): each torch command ends in one `error:` line with the install command."""
    model = str(Path(__file__).resolve().parents[1] / "src" / "depthmask" / "assets" / "demo-audit.onnx")
    code = _NO_TORCH + textwrap.dedent(
        f"""
        from typer.testing import CliRunner
        from depthmask.cli import app
        commands = [
            ["export", "--random-weights", "--mask-net", "mask_drn_tiny", "--mode", "mask", "-o", "m.onnx"],
            ["check", {model!r}],
            ["train", "depth", "-d", "synthetic:frames=2"],
            ["eval", "-d", "synthetic:frames=2", "--depth-checkpoint", "n.safetensors"],
            ["run", "synthetic:frames=2", "--model", {model!r}, "--backend", "torch", "--out", "out"],
        ]
        for args in commands:
            r = CliRunner().invoke(app, args)
            last = r.output.strip().splitlines()[-1]
            assert r.exit_code == 1 and "Traceback" not in r.output, (args, r.output)
            assert last.startswith("error:") and "depthmask[train]" in last, (args, r.output)
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
