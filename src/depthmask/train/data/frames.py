"""Frames without ground truth — what G trains on: any source of the runtime's grammar as a Dataset.

Image sequences (a folder, a glob, a `.txt` list, a KITTI drive) are read lazily, one file per sample.
Other sources (a video file, `synthetic:`, a camera or stream with `max_frames`) are decoded once, up
front, fitted to the input size and kept in memory as uint8 (frames × H × W × 3 bytes: 1,000 frames at
228×304 take 208 MB); `stride` and `max_frames` bound that.

Unreadable frames: `on_error="raise"` (default) raises a SourceError naming the file when the sample is
read (the training loop then stops or skips it by its own --on-bad-input); `on_error="skip"` drops them
while the dataset is built — image sequences are decoded once for that — and lists them in `skipped`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from depthmask.errors import ConfigError, SourceError, closest
from depthmask.sources import ImageSequenceSource, Source, open_source, read_image
from depthmask.sources.fit import FITS, Fit
from depthmask.train.data.transforms import fit_image, image_from_bgr

log = logging.getLogger("depthmask.data")

OnError = Literal["raise", "skip"]


class Frames(Dataset):
    """Samples with `image` only (plus `index`, `path`, `timestamp`) from a source string or Source."""

    def __init__(
        self,
        source: str | Source,
        *,
        input_size: tuple[int, int],
        fit: Fit = "resize",
        on_error: OnError = "raise",
        stride: int = 1,
        max_frames: int | None = None,
        augment: bool = False,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        for name, value in (("stride", stride), ("max_frames", max_frames)):
            if value is None and name == "max_frames":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive whole number (e.g. ?{name}=3), got {value!r}")
        if not isinstance(augment, bool):
            raise ConfigError(f"augment must be true or false, got {augment!r}")
        if fit not in FITS:
            raise ConfigError(f"fit must be one of {', '.join(FITS)}, got {fit!r}" + closest(str(fit), FITS))
        self.source = open_source(source) if isinstance(source, str) else source
        self.input_size = tuple(input_size)
        self.fit = fit
        self.on_error = on_error
        self.augment = augment
        self.skipped: list[tuple[str, str]] = []  # (frame, reason) dropped under on_error="skip"
        self.paths: list[Path] | None = None
        self.timestamps: list[float | None] = []
        self.names: list[str] = []
        self.frames: np.ndarray | None = None
        if isinstance(self.source, ImageSequenceSource):
            self._index_files(self.source, stride, max_frames)
        else:
            self._decode_stream(self.source, stride, max_frames)
        if not len(self):
            raise SourceError(
                f"{self.source.source_id}: no readable frames ({len(self.skipped)} skipped; first: "
                f"{self.skipped[0][1] if self.skipped else 'none'})"
            )
        if self.skipped:
            log.warning("%s: %d unreadable frames skipped", self.source.source_id, len(self.skipped))

    def _index_files(self, source: ImageSequenceSource, stride: int, max_frames: int | None) -> None:
        picks = list(range(0, len(source.paths), stride))[:max_frames]
        self.paths = []
        for i in picks:
            path = source.paths[i]
            if self.on_error == "skip":
                image, error = read_image(path)
                if image is None:
                    self.skipped.append((str(path), error or "unreadable"))
                    continue
            self.paths.append(path)
            self.names.append(str(path))
            self.timestamps.append(source.timestamps[i] if source.timestamps is not None else None)

    def _decode_stream(self, source: Source, stride: int, max_frames: int | None) -> None:
        if source.default_policy == "live" and max_frames is None:
            raise ConfigError(
                f"{source.source_id} is a live camera or stream with no end; give max_frames to record "
                "that many frames for training"
            )
        h, w = self.input_size
        kept: list[np.ndarray] = []
        with source:
            for frame in source:
                if frame.index % stride:
                    continue
                name = f"{source.source_id}#{frame.index}"
                if frame.image is None:
                    if self.on_error == "raise":
                        raise SourceError(
                            f"frame {frame.index} of {source.source_id} cannot be read: {frame.error}; "
                            "skip unreadable frames with on_error=skip"
                        )
                    self.skipped.append((name, frame.error or "unreadable"))
                    continue
                kept.append(fit_image(frame.image, (h, w), self.fit))
                self.names.append(name)
                self.timestamps.append(frame.timestamp)
                if max_frames is not None and len(kept) >= max_frames:
                    break
        self.frames = np.stack(kept) if kept else np.zeros((0, h, w, 3), np.uint8)

    def __len__(self) -> int:
        return len(self.paths) if self.paths is not None else len(self.names)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.paths is not None:
            path = self.paths[index]
            bgr, error = read_image(path)
            if bgr is None:
                raise SourceError(f"cannot read image {error}")
            bgr = fit_image(bgr, self.input_size, self.fit)
        else:
            assert self.frames is not None
            bgr = self.frames[index]
        image = image_from_bgr(bgr)
        if self.augment and torch.rand(()) < 0.5:
            image = image.flip(-1)
        sample: dict[str, Any] = {"image": image, "index": index, "path": self.names[index]}
        if self.timestamps[index] is not None:
            sample["timestamp"] = self.timestamps[index]
        return sample
