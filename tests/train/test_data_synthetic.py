"""The procedural scene as a dataset: exact depth, deterministic by seed, held out by a different seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthmask.errors import ConfigError, SourceError
from depthmask.synthetic.scene import SceneConfig, render_frame
from depthmask.train.data import Frames, SyntheticDepth, dataset_from_spec
from depthmask.train.data.transforms import fit_image, image_from_bgr, resize_nearest


def test_samples_are_the_renderer_frames_with_exact_depth() -> None:
    ds = dataset_from_spec("synthetic:frames=3,seed=3", split="train", input_size=(48, 64), augment=False)
    assert isinstance(ds, SyntheticDepth) and len(ds) == 3
    s = ds[2]
    ref = render_frame(SceneConfig(height=48, width=64, seed=3), 2)
    assert s["image"].shape == (3, 48, 64) and s["depth"].shape == (1, 48, 64)
    assert torch.allclose(s["image"], image_from_bgr(ref.image))
    np.testing.assert_array_equal(s["depth"][0].numpy(), np.nan_to_num(ref.depth.astype(np.float32)))
    assert s["valid"].dtype == torch.bool and float(s["valid"].float().mean()) > 0.9
    assert s["timestamp"] == pytest.approx(ref.timestamp) and s["path"] == "synthetic:seed=3#2"


def test_deterministic_and_held_out_by_seed() -> None:
    a = dataset_from_spec("synthetic:frames=2,seed=5", split="train", input_size=(32, 48), augment=False)[1]
    b = dataset_from_spec("synthetic:frames=2,seed=5", split="train", input_size=(32, 48), augment=False)[1]
    assert all(torch.equal(a[k], b[k]) for k in ("image", "depth", "valid"))
    test = dataset_from_spec("synthetic:frames=2,seed=5", split="test", input_size=(32, 48))
    assert test.config.seed == 1005 and not test.augment
    assert not torch.equal(test[1]["image"], a["image"])
    chosen = dataset_from_spec("synthetic:frames=2,seed=5,test_seed=9", split="test", input_size=(32, 48))
    ref = render_frame(SceneConfig(height=32, width=48, seed=9), 0)
    assert torch.allclose(chosen[0]["image"], image_from_bgr(ref.image))


def test_render_size_fit_and_half_size_depth() -> None:
    ds = dataset_from_spec(
        "synthetic:frames=1,seed=1,height=64,width=96,depth_size=16x24",
        split="train",
        input_size=(32, 48),
        augment=False,
    )
    s = ds[0]
    ref = render_frame(SceneConfig(height=64, width=96, seed=1), 0)
    assert s["image"].shape == (3, 32, 48)
    expected = resize_nearest(np.nan_to_num(ref.depth.astype(np.float32)), (16, 24))
    np.testing.assert_array_equal(s["depth"][0].numpy(), expected)
    np.testing.assert_array_equal(
        s["depth"][0].numpy(), np.nan_to_num(ref.depth)[::4, ::4]
    )  # nearest, factor 4


def test_flip_moves_image_and_depth_together() -> None:
    plain = SyntheticDepth(input_size=(32, 48), frames=1, seed=2, augment=False)[0]
    aug = SyntheticDepth(input_size=(32, 48), frames=1, seed=2, augment=True)
    seen = set()
    for seed in range(10):
        torch.manual_seed(seed)
        s = aug[0]
        flipped = torch.equal(s["depth"], plain["depth"].flip(-1))
        ref = {k: plain[k].flip(-1) if flipped else plain[k] for k in ("image", "depth", "valid")}
        assert all(torch.equal(s[k], ref[k]) for k in ref)
        seen.add(flipped)
    assert seen == {True, False}


def test_options_are_checked_and_frames_only_drops_depth() -> None:
    with pytest.raises(ConfigError, match=r"unknown option\(s\) sed.*Did you mean 'seed'"):
        dataset_from_spec("synthetic:sed=1", split="train", input_size=(32, 48))
    for frames in ("0", "abc", "1.5"):  # the synthetic source's own rule (depthmask.sources.synthetic)
        with pytest.raises(SourceError, match=f"frames={frames} must be a whole number of frames"):
            dataset_from_spec(f"synthetic:frames={frames}", split="train", input_size=(32, 48))
    frames = dataset_from_spec("frames:synthetic:frames=2,seed=4", split="test", input_size=(32, 48))
    assert isinstance(frames, Frames) and len(frames) == 2 and "depth" not in frames[1]
    ref = render_frame(SceneConfig(seed=4), 1)  # the source renders at the scene's own size, then fits
    assert torch.allclose(frames[1]["image"], image_from_bgr(fit_image(ref.image, (32, 48))))
