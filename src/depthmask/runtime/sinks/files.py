"""Per-frame files: depth as 16-bit PNG in KITTI's convention (metres × 256, 0 = none) and mask PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.errors import OutputError
from depthmask.runtime.records import Result
from depthmask.runtime.sinks.base import source_dir_name

DEPTH_SCALE = 256.0  # KITTI: uint16 value = metres × 256


def depth_to_png16(depth: np.ndarray) -> np.ndarray:
    """Metres → uint16 KITTI encoding; values beyond 255.996 m saturate, non-positive/NaN → 0 (invalid)."""
    d = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(np.rint(d * DEPTH_SCALE), 0, 65535).astype(np.uint16)


def png16_to_depth(png: np.ndarray) -> np.ndarray:
    """uint16 KITTI encoding → metres (0 stays 0 = invalid)."""
    return png.astype(np.float32) / DEPTH_SCALE


class FrameFilesSink:
    """Writes `<out>/<source>/depth/<index>.png`, `depth_masked/` and `mask/` for each ok frame."""

    def __init__(self, out_dir: Path, kinds: set[str], source_ids: list[str]) -> None:
        self.out_dir = Path(out_dir)
        self.kinds = kinds
        self.dirs = {sid: self.out_dir / source_dir_name(sid, i) for i, sid in enumerate(source_ids)}
        self.written = 0

    def open(self) -> None:
        """Create the folders."""
        for d in self.dirs.values():
            for kind in self.kinds:
                (d / kind).mkdir(parents=True, exist_ok=True)

    def write(self, result: Result) -> None:
        """Write this frame's files (nothing for frames without outputs)."""
        if result.status != "ok":
            return
        base = self.dirs[result.frame.source_id]
        name = f"{result.frame.index:010d}.png"
        for kind in ("depth", "depth_masked"):
            if kind in self.kinds and kind in result.outputs:
                _imwrite(base / kind / name, depth_to_png16(result.outputs[kind][0]))
        if "mask" in self.kinds and "mask" in result.outputs:
            mask = np.clip(np.rint(result.outputs["mask"][0] * 255.0), 0, 255).astype(np.uint8)
            _imwrite(base / "mask" / name, mask)
        self.written += 1

    def close(self) -> None:
        """Nothing buffered."""

    def describe(self) -> dict[str, Any]:
        """Folders and count."""
        return {
            "frames_written": self.written,
            "kinds": sorted(self.kinds),
            "dirs": [str(d) for d in self.dirs.values()],
        }


def _imwrite(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OutputError(f"could not write {path} (disk full or folder not writable?)")
