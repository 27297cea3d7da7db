"""KITTI raw drives + annotated depth (or projected Velodyne scans) as a torch Dataset.

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

`gt="velodyne"` takes it instead from the raw scans, `<raw>/<date>/<drive>/velodyne_points/data/<10
digits>.bin`, projected with the date folder's `calib_cam_to_cam.txt` and `calib_velo_to_cam.txt` exactly
as the Eigen-split evaluations of Godard's monodepth and Monodepth2 do (`velodyne.depth_map_from_scan`:
depth = the point's Velodyne x, pixel = round(P·X) − 1, nearest point per pixel): the ground truth of the
697-frame Eigen test split most papers report. `raw_root` may then also be one drive folder; without a
split file every frame with a scan is taken (of every drive under the root, or of that drive); split-file
frames without a scan are skipped and counted.

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

from depthmask.errors import ConfigError, SourceError, closest
from depthmask.sources import kitti_drive_source
from depthmask.sources.kitti import is_kitti_drive
from depthmask.train.data.depthfiles import read_frame, read_kitti_depth
from depthmask.train.data.transforms import (
    fit_image,
    hflip_sample,
    image_from_bgr,
    kb_crop_box,
    resize_nearest,
)
from depthmask.train.data.velodyne import (
    CAM_TO_CAM,
    SCAN_FOLDER,
    VeloProjection,
    depth_map_from_scan,
    load_projection,
    read_scan,
)
from depthmask.train.metrics import Crop, crop_mask

log = logging.getLogger("depthmask.data")

Split = Literal["train", "test"]
GroundTruth = Literal["annotated", "velodyne"]
GROUND_TRUTHS = ("annotated", "velodyne")
CAMERAS = {"l": "image_02", "r": "image_03"}
_SPLIT_FOLDER = {"train": "train", "test": "val"}


@dataclass(frozen=True)
class KittiEntry:
    """One frame: its raw image, its ground truth, and its drive timestamp (None without one)."""

    drive: str  # '2011_09_26/2011_09_26_drive_0002_sync'
    frame: str  # '0000000069'
    camera: str  # 'image_02' or 'image_03'
    image: Path
    depth: Path  # the annotated depth PNG, or (gt="velodyne") the scan's .bin
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


def _raw_and_drive(path: Path) -> tuple[Path, str | None]:
    """A raw root as it is, or a drive folder `<raw>/<date>/<drive>` → (<raw>, '<date>/<drive>')."""
    if not is_kitti_drive(path):
        return path, None
    drive = path.resolve()
    return drive.parent.parent, f"{drive.parent.name}/{drive.name}"


def _scan(raw: Path, drive: str, frame: str) -> Path | None:
    path = raw / drive / SCAN_FOLDER / f"{frame}.bin"
    return path if path.is_file() else None


def _scanned_frames(raw: Path, drive: str | None, camera: str) -> list[tuple[str, str, str]]:
    """(drive, frame, camera) of every Velodyne scan of `drive` (None: of every drive under `raw`)."""
    if drive is not None:
        drives = [drive]
    else:
        found = raw.glob(f"*/*_drive_*_sync/{SCAN_FOLDER.as_posix()}")
        drives = sorted(f"{p.parents[2].name}/{p.parents[1].name}" for p in found if p.is_dir())
    return [
        (name, scan.stem, camera)
        for name in drives
        for scan in sorted((raw / name / SCAN_FOLDER).glob("*.bin"))
    ]


class KittiDepth(Dataset):
    """KITTI frames with sparse annotated or Velodyne depth; samples in `depthmask.train.data`'s schema."""

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
        gt: GroundTruth = "annotated",
    ) -> None:
        self.raw = Path(raw_root).expanduser()
        if not self.raw.is_dir():
            raise SourceError(f"KITTI raw root {str(self.raw)!r} is not a folder")
        if gt not in GROUND_TRUTHS:
            raise ConfigError(
                f"KITTI ground truth gt={gt!r} is not one of {', '.join(GROUND_TRUTHS)}."
                + closest(str(gt), GROUND_TRUTHS)
            )
        if gt == "velodyne" and depth_root is not None:
            raise ConfigError(
                "gt=velodyne reads the raw drives' velodyne_points/ and calibration; depth= names the "
                "annotated depth release, which it does not use: drop one of the two"
            )
        self.gt: GroundTruth = gt
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
        self.projections: dict[tuple[str, str], VeloProjection] = {}  # (date, camera) → projection
        if gt == "velodyne":
            self._list_scans(split_file, camera)
            return
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

    def _list_scans(self, split_file: str | Path | None, camera: str) -> None:
        """Entries from the Velodyne scans (gt="velodyne"), and each date folder's projection."""
        self.raw, drive = _raw_and_drive(self.raw)
        if split_file is not None:
            wanted = parse_split_file(Path(split_file).expanduser())
        else:
            wanted = _scanned_frames(self.raw, drive, camera)
            if not wanted:
                where = self.raw / drive if drive else self.raw / "<date>" / "<drive>"
                raise SourceError(
                    f"no KITTI Velodyne scans under {where / SCAN_FOLDER}; gt=velodyne needs the raw drives' "
                    "velodyne_points/data/*.bin (or use gt=annotated with the annotated depth release)"
                )
        drives = _DriveIndex(self.raw)
        self.entries, self.skipped = [], []
        for name, frame, cam in wanted:
            scan = _scan(self.raw, name, frame)
            if scan is None:
                self.skipped.append((f"{name} {frame} {cam}", "no velodyne scan"))
                continue
            image, stamp = drives.lookup(name, cam, frame)
            self.entries.append(KittiEntry(name, frame, cam, image, scan, stamp))
        if self.skipped:
            log.warning("KITTI: %d listed frames have no Velodyne scan and are skipped", len(self.skipped))
        if not self.entries:
            raise SourceError(
                f"none of the {len(wanted)} listed KITTI frames has a Velodyne scan under "
                f"{self.raw}/<date>/<drive>/{SCAN_FOLDER.as_posix()}/"
            )
        for date, cam in sorted({(e.drive.split("/")[0], e.camera) for e in self.entries}):
            self.projections[date, cam] = load_projection(self.raw / date, cam)

    def __len__(self) -> int:
        return len(self.entries)

    def _ground_truth(self, entry: KittiEntry, shape: tuple[int, int]) -> np.ndarray:
        """The frame's depth in metres at the image's size (0 = no measurement)."""
        if self.gt == "velodyne":
            projection = self.projections[entry.drive.split("/")[0], entry.camera]
            if projection.size is not None and projection.size != shape:
                raise SourceError(
                    f"{projection.where}/{CAM_TO_CAM} gives {entry.camera} a {projection.size[0]}×"
                    f"{projection.size[1]} rectified image but {entry.image} is {shape[0]}×{shape[1]}; "
                    "the calibration belongs to another date or camera"
                )
            return depth_map_from_scan(read_scan(entry.depth), projection, shape)
        depth = read_kitti_depth(entry.depth)
        if depth.shape != shape:
            raise SourceError(
                f"{entry.depth} is {depth.shape[0]}×{depth.shape[1]} but its frame {entry.image} is "
                f"{shape[0]}×{shape[1]}; the annotation belongs to another camera or drive"
            )
        return depth

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.entries[index]
        bgr = read_frame(entry.image)
        depth = self._ground_truth(entry, bgr.shape[:2])
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
