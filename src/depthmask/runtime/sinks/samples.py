"""A few evenly spaced sample frames (input, mask, masked input, depth, masked depth) for the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.runtime.overlay import DepthColorizer, mask_heatmap
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

    def open(self) -> None:
        """Create the folder."""
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, result: Result) -> None:
        """Save this frame's panels if it is one of the samples."""
        if result.status != "ok" or result.item.input is None or len(self.kept) >= self.count:
            return
        if result.frame.index % self.stride:
            return
        image = result.item.input
        h, w = image.shape[:2]
        panels: dict[str, np.ndarray] = {"input": image}
        if "mask" in result.outputs:
            m = cv2.resize(result.outputs["mask"][0], (w, h))
            panels["mask"] = mask_heatmap(m, image)
            panels["masked"] = (image * m[..., None] + MEAN_BGR * (1 - m[..., None])).astype(np.uint8)
        depths = {k: result.outputs[k][0] for k in ("depth", "depth_masked") if k in result.outputs}
        if depths:
            # One fixed range for both depth panels, so they compare by colour.
            both = np.concatenate([d.ravel() for d in depths.values()])
            lo, hi = np.percentile(both[np.isfinite(both)], [2, 98])
            colorizer = DepthColorizer((float(lo), float(max(hi, lo + 1e-3))))
            for k, d in depths.items():
                panels[k] = cv2.resize(colorizer.colorize(d), (w, h), interpolation=cv2.INTER_NEAREST)
        stem = f"{result.item.source_index:02d}_{result.frame.index:010d}"
        files = {}
        for name, img in panels.items():
            path = self.dir / f"{stem}_{name}.png"
            cv2.imwrite(str(path), img)
            files[name] = path.name
        self.kept.append({"source": result.frame.source_id, "frame": result.frame.index, "files": files})

    def close(self) -> None:
        """Nothing buffered."""

    def describe(self) -> dict[str, Any]:
        """The samples kept (the report reads this from summary.json)."""
        return {"samples": self.kept}
