"""A few evenly spaced sample frames (input, mask, masked input, depth, masked depth) for the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.runtime.overlay import DepthColorizer, mask_heatmap, picture_of
from depthmask.runtime.records import Result

# ImageNet mean colour in BGR: what a masked-out pixel becomes once the normalised image is multiplied by M.
MEAN_BGR = np.array([0.406, 0.456, 0.485]) * 255.0
PANELS = ("input", "mask", "masked", "depth", "depth_masked")


class SamplesSink:
    """Keeps up to `count` frames spread over the run (evenly when the length is known)."""

    def __init__(self, out_dir: Path, expected_frames: int | None, count: int = 6) -> None:
        self.dir = Path(out_dir) / "samples"
        self.count = count
        self.stride = max(1, (expected_frames or 0) // count) if expected_frames else 25
        self.kept: list[dict[str, Any]] = []
        self.ranges: list[tuple[float, float]] = []  # each kept sample's depth colour range (metres)

    def open(self) -> None:
        """Create the folder."""
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, result: Result) -> None:
        """Save this frame's panels if it is one of the samples."""
        if len(self.kept) >= self.count or result.frame.index % self.stride:
            return
        drawn = picture_of(result)
        if drawn is None:
            return
        image, maps = drawn  # at the footage's own aspect, like the overlay video
        panels: dict[str, np.ndarray] = {"input": image}
        if "mask" in maps:
            m = maps["mask"][..., None]
            panels["mask"] = mask_heatmap(maps["mask"], image)
            panels["masked"] = (image * m + MEAN_BGR * (1 - m)).astype(np.uint8)
        depths = {k: maps[k] for k in ("depth", "depth_masked") if k in maps}
        finite = np.concatenate([d[np.isfinite(d)] for d in depths.values()]) if depths else np.empty(0)
        if finite.size:
            # One fixed range for both depth panels, so they compare by colour.
            lo, hi = np.percentile(finite, [2, 98])
            colorizer = DepthColorizer((float(lo), float(max(hi, lo + 1e-3))))
            for k, d in depths.items():
                panels[k] = colorizer.colorize(d)
            self.ranges.append((float(lo), float(max(hi, lo + 1e-3))))
        stem = f"{result.item.source_index:02d}_{result.frame.index:010d}"
        files = {}
        for name, img in panels.items():
            path = self.dir / f"{stem}_{name}.png"
            cv2.imwrite(str(path), img)
            files[name] = path.name
        entry = {"source": result.frame.source_id, "frame": result.frame.index, "files": files}
        if "depth" in panels or "depth_masked" in panels:
            entry["depth_range_m"] = [round(v, 3) for v in self.ranges[-1]]
        self.kept.append(entry)

    def close(self) -> None:
        """Nothing buffered."""

    def describe(self) -> dict[str, Any]:
        """The samples kept (the report reads this from summary.json)."""
        return {"samples": self.kept}
