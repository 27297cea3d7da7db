"""The CLI on a runtime-only install: `--help`, `--version` and `info` work without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"depthmask {__version__}"
