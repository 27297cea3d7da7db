"""Training configs: the authors' defaults, validation messages, JSON round trip, and the exact config each
`depthmask train` command builds from its options."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from depthmask.cli import app
from depthmask.cli import train as cli_train
from depthmask.errors import ConfigError
from depthmask.train import config as config_module
from depthmask.train.config import DepthTrainConfig, MaskTrainConfig, config_from_dict, load_config

runner = CliRunner()


def test_defaults_are_the_authors() -> None:
    n = DepthTrainConfig(data="nyu-csv:x.csv")
    assert (n.network, n.epochs, n.lr, n.weight_decay, n.batch_size) == ("hu2019_resnet50", 20, 1e-4, 1e-4, 8)
    assert (n.schedule, n.lr_step_epochs, n.lr_gamma) == ("step", 5, 0.1)
    g = MaskTrainConfig(data="frames/", depth_checkpoint=Path("model_resnet"))
    assert (g.network, g.epochs, g.lr, g.weight_decay, g.batch_size) == ("mask_drn_d_22", 10, 1e-4, 1e-4, 8)
    assert (g.schedule, g.lam) == ("constant", 5.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amp": "fp61"}, r"--amp 'fp61' is not one of none, bf16, fp16\. Did you mean 'fp16'\?"),
        ({"device": "gpu"}, "--device 'gpu' is not one of auto, cpu, cuda"),
        ({"batch_size": 0}, "--batch-size must be at least 1, got 0"),
        ({"lr": 0.0}, "--lr must be positive"),
        ({"lr_gamma": 2.0}, r"--lr-gamma must be in \(0, 1\]"),
        ({"workers": -1}, "--workers must be ≥ 0"),
        ({"max_steps": 0}, "--max-steps must be at least 1"),
        ({"input_size": (4, 300)}, "--size must be HxW with both at least 8"),
        ({"deterministic": True, "cudnn_benchmark": True}, "contradict"),
        ({"pretrained": True, "checkpoint": "n.safetensors"}, "pass only one"),
        ({"loss": "l2"}, "--loss 'l2' is not one of hu2019, fcrn"),
        ({"data": ""}, "no training data given"),
    ],
)
def test_depth_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DepthTrainConfig(**{"data": "synthetic:", **kwargs})


def test_mask_config_needs_a_trained_n() -> None:
    with pytest.raises(ConfigError, match="--depth-checkpoint"):
        MaskTrainConfig(data="frames/")
    with pytest.raises(ConfigError, match="randomly initialised N"):
        MaskTrainConfig(data="frames/", depth_network="hu2019_resnet50")
    with pytest.raises(ConfigError, match="--lam must be ≥ 0"):
        MaskTrainConfig(data="frames/", depth_checkpoint="n.safetensors", lam=-1)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="--rank-weight must be a finite number"):
            MaskTrainConfig(data="frames/", depth_checkpoint="n.safetensors", rank_weight=bad)
    # A module:factory N may build its own weights.
    assert MaskTrainConfig(data="frames/", depth_network="pkg.nets:build").depth_checkpoint is None


def test_json_round_trip(tmp_path: Path) -> None:
    cfg = MaskTrainConfig(data="kitti:/d", depth_checkpoint="n.safetensors", input_size=(96, 320), lam=3.0)
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    cfg.save_json(tmp_path / "config.json", effective={"device": "cpu"})
    assert load_config(tmp_path / "config.json") == cfg
    assert isinstance(cfg.depth_checkpoint, Path) and cfg.input_size == (96, 320)


def test_cli_choices_match_the_config() -> None:
    assert tuple(c.value for c in cli_train.DeviceChoice) == config_module.DEVICES
    assert tuple(c.value for c in cli_train.AmpChoice) == config_module.AMP_MODES
    assert tuple(c.value for c in cli_train.ScheduleChoice) == config_module.SCHEDULES
    assert sorted(c.value for c in cli_train.BadInputChoice) == sorted(config_module.BAD_INPUT_POLICIES)
    assert tuple(c.value for c in cli_train.LossChoice) == config_module.DEPTH_LOSS_NAMES
    from depthmask.train.losses import DEPTH_LOSSES

    assert tuple(DEPTH_LOSSES) == config_module.DEPTH_LOSS_NAMES


def _dry_run(command: str) -> dict:
    result = runner.invoke(app, [*shlex.split(command), "--dry-run"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_train_depth_builds_the_exact_config() -> None:
    built = _dry_run(
        "train depth -d synthetic:frames=64 -n hu2019_tiny --size 64x96 -b 4 --epochs 3 "
        "--max-steps 50 --lr 3e-4 --weight-decay 0 --schedule cosine --seed 7 --device cpu --amp bf16 "
        "--channels-last --deterministic --workers 0 -o runs/n --checkpoint-every 20 --log-every 5 "
        "--on-bad-input skip --no-progress --no-tensorboard --loss fcrn"
    )
    expected = DepthTrainConfig(
        network="hu2019_tiny",
        data="synthetic:frames=64",
        input_size=(64, 96),
        batch_size=4,
        epochs=3,
        max_steps=50,
        lr=3e-4,
        weight_decay=0.0,
        schedule="cosine",
        seed=7,
        device="cpu",
        amp="bf16",
        channels_last=True,
        deterministic=True,
        workers=0,
        out=Path("runs/n"),
        checkpoint_every=20,
        log_every=5,
        on_bad_input="skip",
        progress=False,
        tensorboard=False,
        loss="fcrn",
    )
    assert config_from_dict(built) == expected
    # Options left out keep the config's defaults.
    assert config_from_dict(_dry_run("train depth -d kitti:/k")) == DepthTrainConfig(data="kitti:/k")


def test_cli_train_mask_builds_the_exact_config() -> None:
    built = _dry_run(
        "train mask -d drive.mp4 --depth-checkpoint model_resnet --lam 2 -n mask_drn_tiny "
        "--checkpoint g0.safetensors --resume runs/g --amp fp16 --cudnn-benchmark --lr-step-epochs 3 "
        "--lr-gamma 0.5 --schedule step"
    )
    expected = MaskTrainConfig(
        data="drive.mp4",
        depth_checkpoint=Path("model_resnet"),
        lam=2.0,
        network="mask_drn_tiny",
        checkpoint=Path("g0.safetensors"),
        resume=Path("runs/g"),
        amp="fp16",
        cudnn_benchmark=True,
        lr_step_epochs=3,
        lr_gamma=0.5,
        schedule="step",
    )
    assert config_from_dict(built) == expected
    built = _dry_run("train mask -d f/ --depth-network pkg.nets:build --pretrained")
    assert config_from_dict(built) == MaskTrainConfig(
        data="f/", depth_network="pkg.nets:build", pretrained=True
    )


def test_cli_reports_config_errors_without_traceback() -> None:
    result = runner.invoke(app, ["train", "mask", "-d", "frames/", "--dry-run"])
    assert result.exit_code == 1
    assert "error:" in result.output and "--depth-checkpoint" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", "depth", "-d", "x", "--size", "64", "--dry-run"])
    assert result.exit_code == 1 and "--size takes HxW" in result.output


def test_cli_help_ends_with_examples() -> None:
    for kind in ("depth", "mask"):
        result = runner.invoke(app, ["train", kind, "--help"])
        assert result.exit_code == 0
        tail = result.output[result.output.index("Examples:") :]
        assert f"depthmask train {kind}" in tail and "torchrun" in tail
