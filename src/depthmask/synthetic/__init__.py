"""A procedural driving scene with exact depth (numpy only): the project's own data for tests and demos.

Example: `render_frame(SceneConfig(seed=3), 42)` gives frame 42's BGR uint8 image, float32 Z-depth in
metres and per-pixel material labels. Modules: `config` (SceneConfig, intrinsics), `layout` (what stands
where), `textures` (colours), `scene` (ray casting and shading), `writers` (KITTI layout and .mp4 video;
imports OpenCV, so it is not imported here).
"""

from __future__ import annotations

from depthmask.synthetic.config import SKY_DEPTH_M, Intrinsics, SceneConfig
from depthmask.synthetic.layout import Material
from depthmask.synthetic.scene import SyntheticFrame, iter_frames, render_frame

__all__ = [
    "SKY_DEPTH_M",
    "Intrinsics",
    "Material",
    "SceneConfig",
    "SyntheticFrame",
    "iter_frames",
    "render_frame",
]
