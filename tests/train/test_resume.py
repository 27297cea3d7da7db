"""A run killed mid-epoch and resumed ends with exactly the weights of a run never interrupted (CPU)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from depthmask.errors import CheckpointError, ConfigError, OutputError
from depthmask.nets.checkpoint import read_config
from depthmask.train.config import DepthTrainConfig, MaskTrainConfig
from depthmask.train.monitor import read_metrics
from depthmask.train.state import load_state
from depthmask.train.trainer import StepInfo, train_depth, train_mask


class Killed(Exception):
    """Stands for the process dying: raised from the step callback, nothing is saved afterwards."""


def _kill_at(step: int):
    def on_step(info: StepInfo) -> None:
        if info.step == step:
            raise Killed(step)

    return on_step


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def _depth_cfg(out: Path, **kw) -> DepthTrainConfig:
    base = {
        "network": "hu2019_tiny",
        "data": "synthetic:frames=24,seed=0",  # augmented: random flips from torch's global RNG
        "input_size": (32, 48),
        "batch_size": 4,
        "epochs": 2,
        "lr": 1e-3,
        "schedule": "step",
        "lr_step_epochs": 1,  # the schedule's state matters to the comparison
        "workers": 0,
        "deterministic": True,
        "checkpoint_every": 4,
        "log_every": 1,
        "progress": False,
        "out": out,
    }
    return DepthTrainConfig(**{**base, **kw})


# With a worker process, augmentation runs outside the main process's RNG streams: exactness then rests on
# the loader's per-sample seeding alone.
@pytest.mark.parametrize("workers", [0, 1])
def test_kill_mid_epoch_and_resume_gives_identical_weights(tmp_path: Path, workers: int) -> None:
    straight = train_depth(_depth_cfg(tmp_path / "a", workers=workers))  # 6 batches an epoch
    assert straight.step == 12 and straight.finished

    cfg = _depth_cfg(tmp_path / "b", workers=workers)
    with pytest.raises(Killed):
        train_depth(cfg, on_step=_kill_at(10))  # last checkpoint: step 8, epoch 2 batch 2
    state = load_state(tmp_path / "b")
    assert (state["step"], state["epoch"], state["batch"]) == (8, 1, 2)
    assert read_config(tmp_path / "b" / "last.safetensors")["step"] == 8

    # Starting over into a folder that holds a run is refused, not silently overwritten.
    with pytest.raises(OutputError, match="--resume"):
        train_depth(cfg)

    resumed = train_depth(dataclasses.replace(cfg, resume=tmp_path / "b"))
    assert resumed.step == 12 and resumed.finished
    _assert_same_weights(straight.model, resumed.model)
    # The steps redone after the checkpoint appear once in the metrics, with the same values as before.
    a_steps = [r for r in read_metrics(tmp_path / "a") if r["event"] == "step"]
    b_steps = [r for r in read_metrics(tmp_path / "b") if r["event"] == "step"]
    assert [r["step"] for r in b_steps] == list(range(1, 13))
    assert [r["loss"] for r in a_steps] == [r["loss"] for r in b_steps]


def test_max_steps_stop_and_resume_mask_net(tmp_path: Path) -> None:
    n_path = tmp_path / "n.safetensors"
    from depthmask.nets.checkpoint import save_checkpoint
    from depthmask.nets.models import create_model

    torch.manual_seed(0)
    save_checkpoint(create_model("hu2019_tiny"), n_path)
    base = MaskTrainConfig(
        network="mask_drn_tiny",
        depth_checkpoint=n_path,
        data="synthetic:frames=12,seed=1",  # 3 batches an epoch
        input_size=(32, 48),
        batch_size=4,
        epochs=2,
        lr=1e-3,
        lam=2.0,
        workers=0,
        deterministic=True,
        checkpoint_every=0,
        progress=False,
        out=tmp_path / "a",
    )
    straight = train_mask(base)
    first = train_mask(dataclasses.replace(base, out=tmp_path / "b", max_steps=4))
    assert (first.step, first.epochs_completed, first.finished) == (4, 1, False)
    resumed = train_mask(dataclasses.replace(base, out=tmp_path / "b", resume=tmp_path / "b"))
    assert resumed.step == 6 and resumed.finished
    _assert_same_weights(straight.model, resumed.model)


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    cfg = _depth_cfg(tmp_path / "r", epochs=1, data="synthetic:frames=8")
    train_depth(cfg)
    with pytest.raises(ConfigError, match=r"lr: 0\.001 → 0\.01"):
        train_depth(dataclasses.replace(cfg, lr=1e-2, resume=tmp_path / "r"))
    with pytest.raises(CheckpointError, match="no training state"):
        train_depth(dataclasses.replace(cfg, out=tmp_path / "s", resume=tmp_path / "nothing"))
    # More epochs is allowed: the run continues where it ended.
    more = train_depth(dataclasses.replace(cfg, epochs=2, resume=tmp_path / "r"))
    assert more.step == 4 and more.epochs_completed == 2
