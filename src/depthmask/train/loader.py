"""Batches for training: reproducible per sample, resumable mid-epoch, and honest about bad samples.

- `SeededSamples` wraps a dataset so that sample i of epoch e is produced under RNG seeds derived from
  (seed, epoch, i) alone: random augmentation gives the same result whichever worker, rank or resumed run
  loads it, and the main process's RNG streams are left untouched.
- `ResumableSampler` is a `DistributedSampler` (shuffled by seed + epoch, one share per rank) that can
  start part-way through an epoch.
- A sample whose loading raises a `DepthmaskError` (an unreadable image: the dataset layer names the
  file) becomes a `BadSample` record; the training loop stops on it or skips and counts it.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate

from depthmask.errors import DepthmaskError


@dataclass(frozen=True)
class BadSample:
    """A sample the dataset could not produce: its index and the dataset's message (naming the file)."""

    index: int
    error: str
    message: str


@dataclass
class Batch:
    """A collated batch (None when every sample in it was bad), the samples' indices and the bad ones."""

    data: dict[str, torch.Tensor] | None
    indices: list[int]
    bad: list[BadSample]
    names: list[str]  # where each good sample came from (the dataset's `path`, else its index)

    def pin_memory(self) -> Batch:
        """Page-locked copies of the tensors (DataLoader's pin_memory calls this on custom batch types)."""
        if self.data is not None:
            self.data = {k: v.pin_memory() for k, v in self.data.items()}
        return self


class SeededSamples(Dataset):
    """A dataset whose every sample is drawn under RNG seeds fixed by (seed, epoch, index)."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        """Augmentation differs between epochs; call before building the epoch's loader."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Any] | BadSample:
        seed = _mix(self.seed, self.epoch, index)
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                random.seed(seed)
                np.random.seed(seed % 2**32)
                sample = self.dataset[index]
        except DepthmaskError as exc:
            # Not raised here: from a worker process it would come back wrapped in a traceback dump.
            return BadSample(index, type(exc).__name__, str(exc))
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        return {**sample, "index": index}


class ResumableSampler(DistributedSampler):
    """DistributedSampler that skips the first `start` indices of its share (resuming mid-epoch)."""

    def __init__(
        self, dataset: Dataset, *, num_replicas: int, rank: int, seed: int, shuffle: bool = True
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return max(self.num_samples - self.start, 0)


def collate(samples: list[dict[str, Any] | BadSample]) -> Batch:
    """Stack the good samples; keep the bad ones aside for the training loop to judge."""
    good = [s for s in samples if not isinstance(s, BadSample)]
    bad = [s for s in samples if isinstance(s, BadSample)]
    data = None
    indices = [int(s["index"]) for s in good]
    names = [str(s.get("path", s["index"])) for s in good]
    if good:
        keys = [k for k in good[0] if k != "index" and isinstance(good[0][k], torch.Tensor)]
        data = default_collate([{k: s[k] for k in keys} for s in good])
    return Batch(data, indices, bad, names)


def batches_per_epoch(sampler: ResumableSampler, batch_size: int) -> int:
    """Batches in a whole epoch of one rank (the last may be short)."""
    return math.ceil(sampler.num_samples / batch_size)


def epoch_loader(
    samples: SeededSamples,
    sampler: ResumableSampler,
    *,
    epoch: int,
    start_batch: int,
    batch_size: int,
    workers: int,
    pin_memory: bool,
    seed: int,
) -> DataLoader:
    """The DataLoader of one epoch, starting after `start_batch` batches already trained on."""
    samples.set_epoch(epoch)
    sampler.set_epoch(epoch)
    sampler.start = start_batch * batch_size
    # Its own generator, so creating the loader draws nothing from the global RNG (exact resume).
    generator = torch.Generator().manual_seed(_mix(seed, epoch, -1))
    return DataLoader(
        samples,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        generator=generator,
        drop_last=False,
    )


def _mix(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed from three integers (SeedSequence mixes them well; no collisions between epochs)."""
    return int(
        np.random.SeedSequence([seed & 0xFFFFFFFF, epoch & 0xFFFFFFFF, index & 0xFFFFFFFF]).generate_state(
            2, np.uint64
        )[0]
        >> 1
    )
