"""What the runtime needs to know about a model, read from the metadata that travels with it (contracts §2).

Torch-free and onnx-free: ONNX metadata comes through ONNX Runtime's `custom_metadata_map`, engine
metadata from the JSON sidecar. Built only from metadata that `validate_metadata` passed, so the runtime
refuses exactly what `depthmask check` refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.constants import EPSILON, FAR_FRACTION
from depthmask.contract.metadata import check_frames, curve_keeps, validate_metadata
from depthmask.contract.spec import GraphSpec, graph_spec


@dataclass(frozen=True)
class ModelInfo:
    """The model's declared input and outputs: what frames it takes and what comes back."""

    path: str
    height: int
    width: int
    channel_order: str
    mode: str
    outputs: tuple[str, ...]
    stats_columns: tuple[str, ...]
    epsilon: float = EPSILON
    batch: int | None = None  # None = dynamic batch axis
    far_fraction: float = FAR_FRACTION
    max_regions: int | None = None  # maps per frame the `regions` input plans for; None: no such input
    curve_keeps: tuple[float, ...] = ()  # the kept shares of the `curve` output; (): no such output
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def spec(self) -> GraphSpec:
        """The graph spec the model was exported from (its inputs, outputs and columns)."""
        return graph_spec(self.mode, regions=self.max_regions is not None, curve=self.curve_keeps)

    def feeds(self, frames: np.ndarray, regions: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The model's inputs by name for frames (padded to a fixed batch) and their region maps."""
        return self.spec.feeds(frames, regions, batch=frames.shape[0])

    @classmethod
    def from_metadata(
        cls, meta: Mapping[str, Any], path: str | Path, *, engine: bool | None = None, artefact: bool = True
    ) -> ModelInfo:
        """Validate `meta` (ContractError names the file, the key, the value and what was expected), then
        pick out the fields. `artefact=False` for a graph built in memory (no file fields)."""
        validate_metadata(meta, path, engine=engine, artefact=artefact)
        inp = meta["input"]
        batch = inp.get("batch")
        regions = meta.get("regions")
        return cls(
            path=str(path),
            height=inp["height"],
            width=inp["width"],
            channel_order=inp["channel_order"],
            mode=meta["mode"],
            outputs=tuple(o["name"] for o in meta["outputs"]),
            stats_columns=tuple(meta["stats_columns"]),
            epsilon=float(meta["epsilon"]),
            batch=batch if isinstance(batch, int) else None,
            far_fraction=float(meta.get("far_fraction", FAR_FRACTION)),
            max_regions=int(regions["max"]) if isinstance(regions, Mapping) else None,
            curve_keeps=curve_keeps(meta),
            metadata=dict(meta),
        )

    def check_frames(self, frames: np.ndarray) -> None:
        """Refuse a batch the model cannot take, naming expected and actual."""
        inp = {"height": self.height, "width": self.width, "channel_order": self.channel_order}
        check_frames({"input": {**inp, "batch": self.batch}}, frames, self.path)
