"""The fused graph described as data (contracts §1): names, modes, dynamic axes, stats columns.

Torch-free, so metadata writing, artefact validation and the runtime read the same declaration that
`depthmask.nets.graph.AuditGraph` is built from. Change a name here and every user follows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from depthmask.errors import ConfigError, closest

Mode = Literal["mask", "masked", "audit"]
ChannelOrder = Literal["bgr", "rgb"]

MODES: tuple[str, ...] = ("mask", "masked", "audit")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")  # an artefact's numeric precision
CHANNEL_ORDERS: tuple[str, ...] = ("bgr", "rgb")

INPUT_NAME = "frames"
BATCH_AXIS = "batch"  # the symbolic batch dimension's name in the graph and in the metadata
# The optional second input of an audit graph: float32 weight maps [batch, regions, H, W] over the input
# frame. Map 0 is the frame's content (0 on letterbox padding), which every statistic is restricted to;
# maps 1… are the user's regions of interest (boxes). Exported only when asked (`export --regions`).
REGIONS_NAME = "regions"
REGION_AXIS = "regions"  # the symbolic number of maps
REGION_STATS_NAME = "region_stats"
# Columns of region_stats [batch, regions, K], per map, all restricted to the frame's content:
REGION_COLUMNS: tuple[str, ...] = (
    "area",  # Σ w / Σ content: the share of the frame's content the region covers
    "mask_share",  # Σ M·w / Σ M·content: the share of the mask's mass inside the region
    "mask_mean",  # mean M inside
    "mask_keep",  # fraction of pixels inside with M > ε
    "fid_abs_rel",  # mean |Y − Ŷ| / max(Y, 1 mm) inside (the region's weights resized to N's output)
    "depth_mean",  # mean Y inside, metres
)

# The stats output's columns, in order. The first five are the contract's; the two means give the
# runtime a depth scale without shipping the depth maps.
STATS_COLUMNS: tuple[str, ...] = (
    "mask_mean",  # mean M (relaxed sparseness)
    "mask_keep",  # fraction of pixels with M > ε
    "fid_rmse",  # sqrt(mean (Y − Ŷ)²), metres
    "fid_abs_rel",  # mean |Y − Ŷ| / max(Y, 1 mm)
    "far_attention",  # Σ M over the farthest 20 % of pixels (by Y resized to the mask) / Σ M
    "depth_mean",  # mean Y, metres
    "depth_masked_mean",  # mean Ŷ, metres
)

# The optional faithfulness curve of an audit graph (`export --curve K1,K2,…`): for each method and kept
# share k, N(I ⊗ M_k) against N(I), where M_k keeps the top k of the method's scores.
CURVE_NAME = "curve"
CURVE_METHODS: tuple[str, ...] = ("G", "random", "edges")  # G's mask, a fixed random map, I's edge map
CURVE_COLUMNS: tuple[str, ...] = ("keep", "delta1", "abs_rel")  # share kept, δ1 agreement, abs_rel
MAX_CURVE_POINTS = 16

OUTPUTS_BY_MODE: dict[str, tuple[str, ...]] = {
    "mask": ("mask",),
    "masked": ("mask", "depth_masked"),
    "audit": ("mask", "depth", "depth_masked", "stats"),
}


@dataclass(frozen=True)
class GraphSpec:
    """Input/output names, dynamic axes and stats columns of the fused graph in one mode."""

    mode: str
    input_name: str = INPUT_NAME
    outputs: tuple[str, ...] = ()
    stats_columns: tuple[str, ...] = ()
    batch_axis: str = BATCH_AXIS
    regions: bool = False  # the graph takes the `regions` weight maps and returns `region_stats`
    region_columns: tuple[str, ...] = ()
    curve_keeps: tuple[float, ...] = ()  # the kept shares of the `curve` output; () when it has none

    @property
    def inputs(self) -> tuple[str, ...]:
        """The graph's input names, in order."""
        return (self.input_name, REGIONS_NAME) if self.regions else (self.input_name,)

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """`torch.onnx.export`'s dynamic_axes: the batch axis of every input and output is symbolic, and
        the number of region maps."""
        axes = {name: {0: self.batch_axis} for name in (*self.inputs, *self.outputs)}
        for name in (REGIONS_NAME, REGION_STATS_NAME):
            if name in axes:
                axes[name][1] = REGION_AXIS
        return axes

    def feeds(
        self, frames: np.ndarray, regions: np.ndarray | None = None, batch: int | None = None
    ) -> dict[str, np.ndarray]:
        """The inputs by name for a batch of uint8 frames: without `regions`, a region graph gets one
        map, the whole frame (so a caller that knows nothing of regions runs it unchanged). `batch` pads
        the maps of a short batch that the caller padded to a fixed size."""
        if not self.regions:
            return {self.input_name: frames}
        if regions is None:
            regions = whole_frame(frames.shape[0], frames.shape[1], frames.shape[2])
        if batch is not None and regions.shape[0] < batch:
            regions = np.concatenate([regions, np.repeat(regions[-1:], batch - regions.shape[0], axis=0)])
        return {self.input_name: frames, REGIONS_NAME: np.ascontiguousarray(regions, dtype=np.float32)}

    def output_shapes(
        self, height: int, width: int, depth_size: tuple[int, int], batch: int | None = None
    ) -> dict[str, list[int | str]]:
        """Each output's shape with the batch as `batch` (or a fixed int); `depth_size` is N's h×w."""
        b: int | str = self.batch_axis if batch is None else batch
        h, w = depth_size
        shapes: dict[str, list[int | str]] = {
            "mask": [b, 1, height, width],
            "depth": [b, 1, h, w],
            "depth_masked": [b, 1, h, w],
            "stats": [b, len(self.stats_columns)],
            REGION_STATS_NAME: [b, REGION_AXIS, len(self.region_columns)],
            CURVE_NAME: [b, len(CURVE_METHODS), len(self.curve_keeps), len(CURVE_COLUMNS)],
        }
        return {name: shapes[name] for name in self.outputs}

    def input_shapes(self, height: int, width: int, batch: int | None = None) -> dict[str, list[int | str]]:
        """Each input's shape with the batch as `batch` (or a fixed int)."""
        b: int | str = self.batch_axis if batch is None else batch
        shapes: dict[str, list[int | str]] = {self.input_name: [b, height, width, 3]}
        if self.regions:
            shapes[REGIONS_NAME] = [b, REGION_AXIS, height, width]
        return shapes


def whole_frame(batch: int, height: int, width: int) -> np.ndarray:
    """One region map per frame that covers all of it: the `regions` input of frames with no padding."""
    return np.ones((batch, 1, height, width), dtype=np.float32)


def graph_spec(mode: str, regions: bool = False, curve: tuple[float, ...] = ()) -> GraphSpec:
    """The declared spec of the fused graph for `mode` (mask, masked or audit), with the region input
    and the curve output (its kept shares, `check_keeps`)."""
    if mode not in OUTPUTS_BY_MODE:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}.{closest(mode, MODES)}")
    for what, wanted in (("region maps (--regions)", regions), ("a faithfulness curve (--curve)", curve)):
        if wanted and mode != "audit":
            raise ConfigError(f"{what} need mode 'audit', which computes the statistics; got mode {mode!r}")
    keeps = check_keeps(curve) if curve else ()
    outputs = (
        OUTPUTS_BY_MODE[mode] + ((REGION_STATS_NAME,) if regions else ()) + ((CURVE_NAME,) if keeps else ())
    )
    return GraphSpec(
        mode=mode,
        outputs=outputs,
        stats_columns=STATS_COLUMNS if "stats" in outputs else (),
        regions=regions,
        region_columns=REGION_COLUMNS if regions else (),
        curve_keeps=keeps,
    )


def check_keeps(keeps: object) -> tuple[float, ...]:
    """Kept shares of a curve: 1 to MAX_CURVE_POINTS numbers in (0, 1], increasing; ConfigError else."""
    ok = (
        isinstance(keeps, (list, tuple)) and 1 <= len(keeps) <= MAX_CURVE_POINTS
        and all(isinstance(k, (int, float)) and not isinstance(k, bool) and 0 < k <= 1 for k in keeps)
        and all(a < b for a, b in itertools.pairwise(keeps))
    )  # fmt: skip
    if not ok:
        raise ConfigError(
            f"curve keeps must be 1–{MAX_CURVE_POINTS} shares in (0, 1], increasing (e.g. 0.05,0.1,0.2); "
            f"got {keeps!r}"
        )
    return tuple(float(k) for k in keeps)  # type: ignore[union-attr]


__all__ = [
    "BATCH_AXIS",
    "CHANNEL_ORDERS",
    "CURVE_COLUMNS",
    "CURVE_METHODS",
    "CURVE_NAME",
    "INPUT_NAME",
    "MODES",
    "OUTPUTS_BY_MODE",
    "PRECISIONS",
    "REGIONS_NAME",
    "REGION_AXIS",
    "REGION_COLUMNS",
    "REGION_STATS_NAME",
    "STATS_COLUMNS",
    "GraphSpec",
    "check_keeps",
    "graph_spec",
    "whole_frame",
]
