"""The fused graph described as data (contracts §1): names, modes, dynamic axes, stats columns.

Torch-free, so metadata writing, artefact validation and the runtime read the same declaration that
`depthmask.nets.graph.AuditGraph` is built from. Change a name here and every user follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from depthmask.errors import ConfigError, closest

Mode = Literal["mask", "masked", "audit"]
ChannelOrder = Literal["bgr", "rgb"]

MODES: tuple[str, ...] = ("mask", "masked", "audit")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")  # an artefact's numeric precision
CHANNEL_ORDERS: tuple[str, ...] = ("bgr", "rgb")

INPUT_NAME = "frames"
BATCH_AXIS = "batch"  # the symbolic batch dimension's name in the graph and in the metadata

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

    @property
    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """`torch.onnx.export`'s dynamic_axes: only the batch axis of every input and output is symbolic."""
        return {name: {0: self.batch_axis} for name in (self.input_name, *self.outputs)}

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
        }
        return {name: shapes[name] for name in self.outputs}


def graph_spec(mode: str) -> GraphSpec:
    """The declared spec of the fused graph for `mode` (mask, masked or audit)."""
    if mode not in OUTPUTS_BY_MODE:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}.{closest(mode, MODES)}")
    outputs = OUTPUTS_BY_MODE[mode]
    return GraphSpec(mode=mode, outputs=outputs, stats_columns=STATS_COLUMNS if "stats" in outputs else ())


__all__ = [
    "BATCH_AXIS",
    "CHANNEL_ORDERS",
    "INPUT_NAME",
    "MODES",
    "OUTPUTS_BY_MODE",
    "PRECISIONS",
    "STATS_COLUMNS",
    "GraphSpec",
    "graph_spec",
]
