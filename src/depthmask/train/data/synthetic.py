"""The built-in procedural driving scene with its exact depth, as a torch Dataset.

Every sample is a pure function of (scene settings, seed, frame index): the same spec gives the same
images and depth on every machine. Split "train" renders frames 0…frames−1 of the scene `seed`; split
"test" renders the same number of frames of a different scene, `test_seed` (default seed + 1000), so
held-out frames share no geometry with the training ones. Frames are rendered at the input size unless
`height`/`width` are given, in which case they are fitted to it like any frame (image through the
runtime's `fit_frame`, depth nearest-neighbour). Depth is dense: `valid` is every finite pixel deeper
than `min_depth`. Augmentation (default for "train"): a random horizontal flip.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from depthmask.errors import ConfigError, closest
from depthmask.sources.synthetic import frame_count
from depthmask.train.data.transforms import fit_image, hflip_sample, image_from_bgr, resize_nearest

Split = Literal["train", "test"]
DEFAULT_FRAMES = 200
TEST_SEED_OFFSET = 1000


class SyntheticDepth(Dataset):
    """`frames` rendered frames with exact depth; samples follow `depthmask.train.data`'s schema."""

    def __init__(
        self,
        *,
        input_size: tuple[int, int],
        split: Split = "train",
        frames: int = DEFAULT_FRAMES,
        test_seed: int | None = None,
        depth_size: tuple[int, int] | None = None,
        augment: bool | None = None,
        min_depth: float = 1e-3,
        **scene: Any,
    ) -> None:
        from depthmask.synthetic.scene import SceneConfig

        fields = {f.name for f in dataclasses.fields(SceneConfig)}
        unknown = sorted(set(scene) - fields)
        if unknown:
            known = ["frames", "test_seed", "depth_size", "augment", "min_depth", *sorted(fields)]
            raise ConfigError(
                f"synthetic: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}."
                + closest(unknown[0], known)
            )
        frames = frame_count(frames)
        if split not in ("train", "test"):
            raise ConfigError(f"synthetic split must be 'train' or 'test', got {split!r}")
        self.input_size = tuple(input_size)
        self.depth_size = tuple(depth_size) if depth_size is not None else self.input_size
        render = {"height": self.input_size[0], "width": self.input_size[1], **scene}
        base = SceneConfig(**render)
        if split == "test":
            seed = test_seed if test_seed is not None else base.seed + TEST_SEED_OFFSET
            base = dataclasses.replace(base, seed=seed)
        self.config = base
        self.frames = frames
        self.split = split
        self.augment = split == "train" if augment is None else augment
        self.min_depth = min_depth

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: int) -> dict[str, Any]:
        from depthmask.synthetic.scene import render_frame

        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} of a {self.frames}-frame synthetic dataset")
        frame = render_frame(self.config, index)
        bgr = fit_image(frame.image, self.input_size)
        depth = resize_nearest(np.asarray(frame.depth, dtype=np.float32), self.depth_size)
        d = torch.from_numpy(np.ascontiguousarray(depth))[None]
        valid = torch.isfinite(d) & (d > self.min_depth)
        sample: dict[str, Any] = {"image": image_from_bgr(bgr), "depth": torch.nan_to_num(d), "valid": valid}
        if self.augment and torch.rand(()) < 0.5:
            sample = hflip_sample(sample)
        name = f"synthetic:seed={self.config.seed}#{index}"
        return sample | {"index": index, "path": name, "timestamp": float(frame.timestamp)}
