"""`depthmask train` end to end on CPU: real runs through the CLI, configs saved beside the weights."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import torch
from typer.testing import CliRunner

from depthmask.cli import app
from depthmask.nets.checkpoint import read_config, save_checkpoint
from depthmask.nets.loading import load_network
from depthmask.nets.models import create_model
from depthmask.train.config import MaskTrainConfig, config_from_dict, load_config

runner = CliRunner()


def test_cli_trains_n_then_g_and_resumes(tmp_path: Path) -> None:
    n_out, g_out = tmp_path / "n", tmp_path / "g"
    result = runner.invoke(
        app,
        shlex.split(
            f"train depth -n hu2019_tiny -d synthetic:frames=8 --size 32x48 -b 4 --epochs 1 "
            f"--device cpu --workers 0 --no-progress -o {n_out}"
        ),
    )
    assert result.exit_code == 0, result.output
    assert "finished after 2 steps (1 epochs)" in result.output
    assert read_config(n_out / "last.safetensors")["role"] == "depth"

    n = n_out / "last.safetensors"
    args = (
        f"train mask -d synthetic:frames=8,seed=5 --depth-checkpoint {n} -n mask_drn_tiny --size 32x48 "
        f"-b 4 --epochs 2 --max-steps 3 --lam 2 --device cpu --workers 0 --no-progress -o {g_out}"
    )
    result = runner.invoke(app, shlex.split(args))
    assert result.exit_code == 0, result.output
    assert "stopped at --max-steps after 3 steps" in result.output
    expected = MaskTrainConfig(
        data="synthetic:frames=8,seed=5",
        depth_checkpoint=n,
        network="mask_drn_tiny",
        input_size=(32, 48),
        batch_size=4,
        epochs=2,
        max_steps=3,
        lam=2.0,
        device="cpu",
        workers=0,
        progress=False,
        out=g_out,
    )
    assert load_config(g_out / "config.json") == expected
    header = read_config(g_out / "last.safetensors")
    assert (header["network"], header["lambda"], header["step"]) == ("mask_drn_tiny", 2.0, 3)
    assert config_from_dict(header["training"]) == expected

    # The same command without the step limit, plus --resume, finishes the run.
    result = runner.invoke(app, [*shlex.split(args.replace("--max-steps 3 ", "")), "--resume", str(g_out)])
    assert result.exit_code == 0, result.output
    assert "finished after 4 steps (2 epochs)" in result.output
    summary = json.loads((g_out / "summary.json").read_text())
    assert summary["finished"] and summary["step"] == 4
    g = load_network(None, g_out / "last.safetensors", role="mask")
    with torch.no_grad():
        assert g(torch.zeros(1, 3, 32, 48)).shape == (1, 1, 32, 48)


def test_cli_names_a_missing_dataset(tmp_path: Path) -> None:
    torch.manual_seed(0)
    n = save_checkpoint(create_model("hu2019_tiny"), tmp_path / "n.safetensors")
    result = runner.invoke(
        app,
        ["train", "mask", "-d", str(tmp_path / "nowhere"), "--depth-checkpoint", str(n), "--device", "cpu"],
    )
    assert result.exit_code == 1 and "error:" in result.output and "nowhere" in result.output
    assert "Traceback" not in result.output
