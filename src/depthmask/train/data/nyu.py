"""NYU-v2, the preprocessed CSV release the authors trained on (DenseDepth's `nyu_data.zip`).

`data/nyu2_train.csv` / `data/nyu2_test.csv`: one "rgb_path,depth_path" row per sample, the paths relative
to the folder that holds `data/` (or to the CSV's own folder; `root=` overrides). Training depth is an
8-bit PNG (metres = value / 255 × 10), test depth a 16-bit PNG in millimetres; the reader tells them apart
by bit depth. Samples go through the authors' transforms (`NyuTransform`): for training the depth comes
out at half the input size (114×152 for 228×304, N's output size), for testing at the input size.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from depthmask.errors import ConfigError, SourceError
from depthmask.train.data.depthfiles import read_frame, read_nyu_depth
from depthmask.train.data.transforms import NYU_INPUT_SIZE, NyuTransform

Split = Literal["train", "test"]


def nyu_depth_size(
    split: Split, input_size: tuple[int, int], depth_size: tuple[int, int] | None
) -> tuple[int, int]:
    """The depth size a NYU sample carries: as asked, else half the input (train) or the input (test)."""
    if depth_size is not None:
        return tuple(depth_size)
    return (input_size[0] // 2, input_size[1] // 2) if split == "train" else tuple(input_size)


def nyu_transform(
    split: Split,
    input_size: tuple[int, int],
    depth_size: tuple[int, int] | None,
    augment: bool | None,
    short_side: int | None,
) -> NyuTransform:
    """The authors' train transform when augmenting (default for split 'train'), else their test one."""
    if split not in ("train", "test"):
        raise ConfigError(f"NYU split must be 'train' or 'test', got {split!r}")
    return NyuTransform(
        train=split == "train" if augment is None else augment,
        input_size=input_size,
        depth_size=nyu_depth_size(split, input_size, depth_size),
        short_side=short_side,
    )


def nyu_sample(
    transform: NyuTransform, bgr: np.ndarray, depth: np.ndarray, min_depth: float, max_depth: float | None
) -> dict[str, torch.Tensor]:
    """Transform one pair and add the validity mask (min_depth < g, and g < max_depth when capped)."""
    image, d = transform(bgr, depth)
    valid = d > min_depth
    if max_depth is not None:
        valid &= d < max_depth
    return {"image": image, "depth": d, "valid": valid}


def read_csv_rows(csv_path: Path, root: Path | None) -> list[tuple[Path, Path]]:
    """(rgb, depth) paths of a NYU CSV, resolved against `root`, the CSV's parent folder or its own folder."""
    if not csv_path.is_file():
        raise SourceError(
            f"NYU CSV {str(csv_path)!r} does not exist; point at data/nyu2_train.csv or nyu2_test.csv"
        )
    with csv_path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    for n, row in enumerate(rows, 1):
        if len(row) < 2:
            raise SourceError(f"{csv_path}:{n}: {','.join(row)!r} is not a 'rgb_path,depth_path' row")
    if not rows:
        raise SourceError(f"NYU CSV {csv_path} has no rows")
    bases = [root] if root is not None else [csv_path.parent.parent, csv_path.parent]
    first = Path(rows[0][0].strip())
    base = next((b for b in bases if (b / first).is_file()), None)
    if base is None and first.is_absolute() and first.is_file():
        base = Path("/")
    if base is None:
        tried = ", ".join(str(b / first) for b in bases)
        raise SourceError(
            f"the first image of {csv_path} ({rows[0][0]!r}) is not at {tried}; pass root= the folder "
            "the CSV's paths are relative to (the one holding data/)"
        )
    return [(base / r[0].strip(), base / r[1].strip()) for r in rows]


class NyuCsv(Dataset):
    """NYU-v2 pairs listed by a CSV of the preprocessed release; samples follow the package schema."""

    def __init__(
        self,
        csv_path: str | Path,
        *,
        split: Split = "train",
        input_size: tuple[int, int] = NYU_INPUT_SIZE,
        depth_size: tuple[int, int] | None = None,
        root: str | Path | None = None,
        augment: bool | None = None,
        short_side: int | None = None,
        min_depth: float = 1e-3,
        max_depth: float | None = None,
    ) -> None:
        self.csv_path = Path(csv_path).expanduser()
        self.rows = read_csv_rows(self.csv_path, Path(root).expanduser() if root is not None else None)
        self.transform = nyu_transform(split, input_size, depth_size, augment, short_side)
        self.split = split
        self.min_depth, self.max_depth = min_depth, max_depth

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rgb_path, depth_path = self.rows[index]
        if not depth_path.is_file():
            raise SourceError(
                f"NYU depth file {depth_path} (row {index + 1} of {self.csv_path}) does not exist"
            )
        bgr, depth = read_frame(rgb_path), read_nyu_depth(depth_path)
        sample = nyu_sample(self.transform, bgr, depth, self.min_depth, self.max_depth)
        return sample | {"index": index, "path": str(rgb_path), "depth_path": str(depth_path)}
