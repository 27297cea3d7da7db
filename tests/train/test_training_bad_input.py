"""Bad input: a non-finite loss stops the run and keeps the last good checkpoint; unreadable samples
stop the run naming the file, or are skipped and counted (--on-bad-input)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import pytest
import torch
from torch.utils.data import Dataset

from depthmask.errors import SourceError
from depthmask.nets.checkpoint import read_config, save_checkpoint
from depthmask.nets.loading import load_network
from depthmask.nets.models import create_model
from depthmask.synthetic import SceneConfig, render_frame
from depthmask.train.config import DepthTrainConfig, MaskTrainConfig
from depthmask.train.data import dataset_from_spec
from depthmask.train.state import load_state
from depthmask.train.trainer import TrainingError, train_depth, train_mask


class Poisoned(Dataset):
    """A dataset whose chosen samples carry NaN pixels or fail to load the way an unreadable file does."""

    def __init__(
        self, base: Dataset, nan: set[int] = frozenset(), unreadable: set[int] = frozenset()
    ) -> None:
        self.base, self.nan, self.unreadable = base, nan, unreadable

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if i in self.unreadable:
            raise SourceError(f"cannot read image /data/frames/{i:06d}.png: not a PNG file")
        sample = self.base[i]
        if i in self.nan:
            sample["image"][:, 3:6, 3:6] = float("nan")
        return sample


def synthetic(frames: int) -> Dataset:
    return dataset_from_spec(f"synthetic:frames={frames}", split="train", input_size=(32, 48))


def write_frames(folder: Path, count: int, broken: str | None = None) -> Path:
    """PNG frames of the synthetic drive, plus one file that is not an image when `broken`."""
    folder.mkdir(parents=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:04d}.png"), render_frame(SceneConfig(height=32, width=48), i).image)
    if broken is not None:
        (folder / broken).write_bytes(b"this is not a PNG")
    return folder


def _cfg(out: Path, **kw) -> DepthTrainConfig:
    base = {
        "network": "hu2019_tiny",
        "data": "synthetic (poisoned)",
        "input_size": (32, 48),
        "batch_size": 2,
        "epochs": 1,
        "workers": 0,
        "checkpoint_every": 1,
        "progress": False,
        "out": out,
    }
    return DepthTrainConfig(**{**base, **kw})


def test_nan_sample_stops_with_step_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    data = Poisoned(synthetic(16), nan={11})
    with pytest.raises(TrainingError, match=r"loss is nan at step (\d+)") as info:
        train_depth(_cfg(tmp_path), dataset=data)
    message = str(info.value)
    bad_step = int(message.split("at step ")[1].split()[0])
    assert "synthetic:seed=0#11" in message.split("samples on this process: ")[1]  # names the sample
    assert bad_step > 1  # the shuffle puts sample 11 after the first batch with seed 0
    assert f"last good checkpoint is {tmp_path / 'last.safetensors'} (step {bad_step - 1})" in message
    # The files on disk are from the step before: finite weights that load, and a state to resume from.
    assert read_config(tmp_path / "last.safetensors")["step"] == bad_step - 1
    net = load_network(None, tmp_path / "last.safetensors")
    assert all(torch.isfinite(p).all() for p in net.state_dict().values() if p.is_floating_point())
    state = load_state(tmp_path)
    assert state["step"] == bad_step - 1
    for k, v in net.state_dict().items():
        assert torch.equal(v, state["model"][k])


def test_unreadable_sample_stops_naming_the_file(tmp_path: Path) -> None:
    data = Poisoned(synthetic(8), unreadable={5})
    with pytest.raises(TrainingError, match=r"sample 5 .*/data/frames/000005\.png.*--on-bad-input skip"):
        train_depth(_cfg(tmp_path), dataset=data)


def test_unreadable_samples_skipped_and_counted(tmp_path: Path) -> None:
    data = Poisoned(synthetic(8), unreadable={2, 5})
    result = train_depth(_cfg(tmp_path / "a", on_bad_input="skip", batch_size=4, workers=1), dataset=data)
    assert result.finished and result.step == 2  # both batches trained, lighter by the bad samples
    assert sorted(s["index"] for s in result.skipped) == [2, 5]
    assert all("not a PNG file" in s["message"] for s in result.skipped)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert sorted(s["index"] for s in summary["skipped"]) == [2, 5]
    # Three bad samples of four in batches of two: one batch is empty and is skipped as a whole.
    data = Poisoned(synthetic(4), unreadable={0, 1, 2})
    result = train_depth(_cfg(tmp_path / "b", on_bad_input="skip"), dataset=data)
    assert result.finished and result.step == 1 and len(result.skipped) == 3


@pytest.fixture
def depth_net(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(create_model("hu2019_tiny"), tmp_path / "n.safetensors")


def test_unreadable_frame_from_the_data_layer(tmp_path: Path, depth_net: Path) -> None:
    """A corrupt PNG in a frames folder (read by dataset_from_spec): stop names it, skip counts it."""
    folder = write_frames(tmp_path / "frames", 7, broken="0003b.png")
    cfg = MaskTrainConfig(
        network="mask_drn_tiny",
        depth_checkpoint=depth_net,
        data=str(folder),
        input_size=(32, 48),
        batch_size=4,
        epochs=1,
        workers=0,
        progress=False,
        out=tmp_path / "stop",
    )
    with pytest.raises(TrainingError, match=r"0003b\.png: .*--on-bad-input skip"):
        train_mask(cfg)
    result = train_mask(dataclasses.replace(cfg, on_bad_input="skip", out=tmp_path / "skip"))
    assert result.finished and result.step == 2
    assert [Path(s["message"].split(":")[0]).name for s in result.skipped] == ["0003b.png"]
