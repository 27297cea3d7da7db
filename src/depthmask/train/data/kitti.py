"""KITTI raw drives + annotated depth as a torch Dataset, listed from the annotations or an Eigen split file.

Folders (any of these layouts; annotations are searched in this order):
- raw frames: `<raw>/<date>/<date>_drive_<NNNN>_sync/image_02/data/<10 digits>.png` (+ `timestamps.txt`);
- annotated depth: `<depth>/{train,val}/<drive>/proj_depth/groundtruth/image_02/<10 digits>.png`,
  `<depth>/<drive>/proj_depth/…`, or inside the raw drive folder `<raw>/<date>/<drive>/proj_depth/…`.
  `<depth>` defaults to `<raw>` and then `<raw>/data_depth_annotated`.

Without a split file, split "train" takes every annotated frame under `train/` and "test" every one under
`val/` (the depth benchmark's own split). With a split file (Eigen's lines
`2011_09_26/2011_09_26_drive_0002_sync 0000000069 l`; `r` selects image_03) its frames are taken in file
order; frames without annotated depth are skipped and counted (`skipped`), a missing raw frame is an error.

Ground truth is sparse (the lidar's projected points, 0 = no measurement). N is trained on it with a
validity mask — unlike the paper, which trained on depth densified with the NYU toolbox's colourisation.

Geometry: optionally crop to the benchmark's 352×1216 (bottom rows, centre columns) → resize the image
to `input_size` exactly as the runtime fits frames (`fit_frame`, a stretch) → depth and validity resized
nearest-neighbour (sparse points keep their measured values; none are blended with the zeros). For split
"test" the depth stays at its native resolution by default and the validity mask also applies the
evaluation crop (Garg by default) and caps (min_depth < g < max_depth): metrics upsample the prediction
to the ground truth, as the standard protocol does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from depthmask.errors import ConfigError, SourceError
from depthmask.sources import kitti_drive_source
from depthmask.train.data.depthfiles import read_frame, read_kitti_depth
from depthmask.train.data.transforms import (
    fit_image,
    hflip_sample,
    image_from_bgr,
    kb_crop_box,
    resize_nearest,
)
from depthmask.train.metrics import Crop, crop_mask

log = logging.getLogger("depthmask.data")

Split = Literal["train", "test"]
CAMERAS = {"l": "image_02", "r": "image_03"}
_SPLIT_FOLDER = {"train": "train", "test": "val"}


@dataclass(frozen=True)
class KittiEntry:
    """One frame: its raw image, its annotated depth, and its drive timestamp (None without one)."""

    drive: str  # '2011_09_26/2011_09_26_drive_0002_sync'
    frame: str  # '0000000069'
    camera: str  # 'image_02' or 'image_03'
    image: Path
    depth: Path
    timestamp: float | None


def parse_split_file(path: Path) -> list[tuple[str, str, str]]:
    """Eigen-style split lines → (drive, frame, camera); SourceError names the first malformed line."""
    if not path.is_file():
        raise SourceError(f"KITTI split file {str(path)!r} does not exist")
    out: list[tuple[str, str, str]] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        side = parts[2] if len(parts) > 2 else "l"
        if len(parts) not in (2, 3) or "/" not in parts[0] or not parts[1].isdigit() or side not in CAMERAS:
            raise SourceError(
                f"{path}:{n}: {line.strip()!r} is not a split line like "
                "'2011_09_26/2011_09_26_drive_0002_sync 0000000069 l'"
            )
        out.append((parts[0].strip("/"), f"{int(parts[1]):010d}", CAMERAS[side]))
    if not out:
        raise SourceError(f"KITTI split file {path} lists no frames")
    return out


def _depth_roots(raw: Path, depth: Path | None) -> list[Path]:
    bases = [depth] if depth is not None else [raw, raw / "data_depth_annotated"]
    return [b for b in bases if b.is_dir()]


def _annotation(roots: list[Path], raw: Path, drive: str, frame: str, camera: str) -> Path | None:
    name = drive.split("/")[-1]
    tail = Path("proj_depth", "groundtruth", camera, f"{frame}.png")
    candidates = [r / sub / name / tail for r in roots for sub in ("train", "val")]
    candidates += [r / name / tail for r in roots] + [raw / drive / tail]
    return next((c for c in candidates if c.is_file()), None)


def _annotated_frames(roots: list[Path], split: Split, camera: str) -> list[tuple[str, str, str]]:
    """(drive, frame, camera) of every annotation under the split's folder, in drive and frame order."""
    out = []
    for root in roots:
        folder = root / _SPLIT_FOLDER[split]
        for gt in sorted(folder.glob(f"*_drive_*_sync/proj_depth/groundtruth/{camera}/*.png")):
            name = gt.parents[3].name
            out.append((f"{name[:10]}/{name}", gt.stem, camera))
    return out


class _DriveIndex:
    """Frame paths and timestamps of each drive's cameras, read once through the runtime's KITTI source."""

    def __init__(self, raw: Path) -> None:
        self.raw = raw
        self.cache: dict[tuple[str, str], dict[str, tuple[Path, float | None]]] = {}

    def lookup(self, drive: str, camera: str, frame: str) -> tuple[Path, float | None]:
        key = (drive, camera)
        if key not in self.cache:
            folder = self.raw / drive
            if not (folder / camera / "data").is_dir():
                raise SourceError(
                    f"KITTI raw drive {str(folder)!r} has no {camera}/data/; download and extract the raw "
                    f"drive {drive.split('/')[-1]} (or fix the raw root, now {str(self.raw)!r})"
                )
            source = kitti_drive_source(folder, camera)
            stamps = source.timestamps or [None] * len(source.paths)
            self.cache[key] = {p.stem: (p, t) for p, t in zip(source.paths, stamps, strict=True)}
        frames = self.cache[key]
        if frame not in frames:
            raise SourceError(
                f"KITTI frame {self.raw / drive / camera / 'data' / (frame + '.png')} does not exist "
                f"(the drive has {len(frames)} frames); the raw drive is incomplete or the list is wrong"
            )
        return frames[frame]


class KittiDepth(Dataset):
    """KITTI frames with sparse annotated depth; samples follow `depthmask.train.data`'s schema."""

    def __init__(
        self,
        raw_root: str | Path,
        *,
        input_size: tuple[int, int],
        split: Split = "train",
        depth_root: str | Path | None = None,
        split_file: str | Path | None = None,
        camera: str = "image_02",
        depth_size: tuple[int, int] | None = None,
        kb_crop: bool = False,
        eval_crop: Crop | Literal["default"] | None = "default",
        min_depth: float = 1e-3,
        max_depth: float = 80.0,
        augment: bool | None = None,
    ) -> None:
        self.raw = Path(raw_root).expanduser()
        if not self.raw.is_dir():
            raise SourceError(f"KITTI raw root {str(self.raw)!r} is not a folder")
        if split not in _SPLIT_FOLDER:
            raise ConfigError(f"KITTI split must be 'train' or 'test', got {split!r}")
        if not 0 < min_depth < max_depth:
            raise ConfigError(
                f"KITTI depth range needs 0 < min_depth < max_depth, got {min_depth}, {max_depth}"
            )
        self.split = split
        self.input_size = tuple(input_size)
        self.depth_size = tuple(depth_size) if depth_size is not None else None
        self.kb_crop = kb_crop
        self.eval_crop: Crop | None = (
            ("garg" if split == "test" else None) if eval_crop == "default" else eval_crop
        )
        self.min_depth, self.max_depth = min_depth, max_depth
        self.augment = split == "train" if augment is None else augment
        roots = _depth_roots(self.raw, Path(depth_root).expanduser() if depth_root is not None else None)
        if depth_root is not None and not roots:
            raise SourceError(f"KITTI depth root {str(depth_root)!r} is not a folder")
        if split_file is not None:
            wanted = parse_split_file(Path(split_file).expanduser())
        else:
            wanted = _annotated_frames(roots, split, camera)
            if not wanted:
                looked = ", ".join(str(r / _SPLIT_FOLDER[split]) for r in roots) or str(self.raw)
                raise SourceError(
                    f"no KITTI annotated depth for split {split!r} under {looked}; point depth= at the "
                    "folder holding train/ and val/ of the annotated depth release, or give a split file"
                )
        drives = _DriveIndex(self.raw)
        self.entries: list[KittiEntry] = []
        self.skipped: list[tuple[str, str]] = []  # (frame, reason): split-file frames without annotation
        for drive, frame, cam in wanted:
            gt = _annotation(roots, self.raw, drive, frame, cam)
            if gt is None:
                self.skipped.append((f"{drive} {frame} {cam}", "no annotated depth"))
                continue
            image, stamp = drives.lookup(drive, cam, frame)
            self.entries.append(KittiEntry(drive, frame, cam, image, gt, stamp))
        if self.skipped:
            log.warning("KITTI: %d listed frames have no annotated depth and are skipped", len(self.skipped))
        if not self.entries:
            raise SourceError(
                f"none of the {len(wanted)} listed KITTI frames has annotated depth; looked under "
                f"{', '.join(map(str, roots)) or self.raw} (train/, val/, <drive>/proj_depth/)"
            )

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.entries[index]
        bgr = read_frame(entry.image)
        depth = read_kitti_depth(entry.depth)
        if depth.shape != bgr.shape[:2]:
            raise SourceError(
                f"{entry.depth} is {depth.shape[0]}×{depth.shape[1]} but its frame {entry.image} is "
                f"{bgr.shape[0]}×{bgr.shape[1]}; the annotation belongs to another camera or drive"
            )
        if self.kb_crop:
            top, left, h, w = kb_crop_box(*depth.shape)
            bgr, depth = bgr[top : top + h, left : left + w], depth[top : top + h, left : left + w]
        depth_size = self.depth_size or (depth.shape if self.split == "test" else self.input_size)
        depth = resize_nearest(depth, depth_size)
        d = torch.from_numpy(np.ascontiguousarray(depth))[None]
        valid = (d > self.min_depth) & (d < self.max_depth)
        if self.eval_crop is not None:
            valid &= crop_mask(d.shape[-2], d.shape[-1], self.eval_crop)
        sample: dict[str, Any] = {
            "image": image_from_bgr(fit_image(bgr, self.input_size)),
            "depth": d,
            "valid": valid,
        }
        if self.augment and torch.rand(()) < 0.5:
            sample = hflip_sample(sample)
        sample |= {"index": index, "path": str(entry.image), "depth_path": str(entry.depth)}
        if entry.timestamp is not None:
            sample["timestamp"] = entry.timestamp
        return sample
