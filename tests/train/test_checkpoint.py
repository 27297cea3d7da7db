"""Our checkpoint format: safetensors + JSON config, rebuilt without unpickling; `convert` and `info`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from depthmask.cli import app
from depthmask.errors import CheckpointError
from depthmask.nets.authors import to_authors_layout
from depthmask.nets.checkpoint import read_config, save_checkpoint
from depthmask.nets.loading import load_network
from depthmask.nets.models import create_model

runner = CliRunner()


def test_round_trip_rebuilds_the_network_from_the_file_alone(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = create_model("mask_drn_tiny", width=16).eval()
    path = save_checkpoint(g, tmp_path / "g.safetensors", **{"lambda": 5.0, "metrics": {"mask_mean": 0.3}})
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]  # no temp file left behind

    config = read_config(path)
    assert config["network"] == "mask_drn_tiny"
    assert config["kwargs"] == {"width": 16}
    assert config["lambda"] == 5.0 and config["metrics"] == {"mask_mean": 0.3}
    assert config["format"].startswith("depthmask-checkpoint/")

    loaded = load_network(None, path)
    assert loaded.depthmask_kwargs == {"width": 16}
    assert len(loaded.depthmask_sha256) == 64
    x = torch.randn(2, 3, 40, 56)
    with torch.no_grad():
        assert torch.equal(g(x), loaded(x))


def test_role_mismatch_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(create_model("mask_drn_tiny"), tmp_path / "g.safetensors")
    with pytest.raises(Exception, match="is a mask network, but a depth net N was asked for"):
        load_network(None, path, role="depth")


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nowhere\.safetensors"):
        load_network("hu2019_tiny", tmp_path / "nowhere.safetensors")


def test_convert_and_info_cli(tmp_path: Path) -> None:
    torch.manual_seed(0)
    n = create_model("hu2019_densenet_tiny").eval()
    src = tmp_path / "model_densenet_tiny"
    torch.save(to_authors_layout(n.state_dict()), src, _use_new_zipfile_serialization=False)
    out = tmp_path / "n.safetensors"

    result = runner.invoke(app, ["convert", str(src), str(out), "--network", "hu2019_densenet_tiny"])
    assert result.exit_code == 0, result.output
    with safe_open(str(out), framework="pt") as f:
        config = json.loads(f.metadata()["depthmask"])
    assert config["network"] == "hu2019_densenet_tiny"
    assert config["converted_from"] == str(src)

    loaded = load_network(None, out)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(n(x), loaded(x))

    result = runner.invoke(app, ["info", str(out)])
    assert result.exit_code == 0, result.output
    assert "hu2019_densenet_tiny" in result.output
    assert "depthmask checkpoint" in result.output
    params = sum(p.numel() for p in n.parameters())
    assert f"{params:,}" in result.output

    result = runner.invoke(app, ["info", str(src)])
    assert result.exit_code == 0, result.output
    assert "authors' layout" in result.output


def test_user_errors_exit_1_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(tmp_path / "absent"), str(tmp_path / "x.safetensors")])
    assert result.exit_code == 1
    assert "error:" in result.output and "absent" in result.output
    assert "Traceback" not in result.output
