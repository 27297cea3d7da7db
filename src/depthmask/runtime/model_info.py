"""What the runtime needs to know about a model, read from the metadata that travels with it (contracts §2).

Torch-free and onnx-free: ONNX metadata comes through ONNX Runtime's `custom_metadata_map`, engine
metadata from the JSON sidecar. Values written as JSON strings are decoded back to objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.errors import ContractError

REQUIRED_KEYS = ("format_version", "mode", "input", "outputs", "stats_columns")


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
    epsilon: float
    batch: int | None  # None = dynamic batch axis
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], path: str | Path) -> ModelInfo:
        """Validate metadata and pick out the fields; ContractError names what is missing or wrong."""
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise ContractError(
                f"{path} has no depthmask metadata ({', '.join(missing)} missing); was it exported by "
                "`depthmask export`? Re-export it, or for engines keep the .json sidecar beside the file."
            )
        inp = meta["input"]
        outputs = meta["outputs"]
        # Outputs may be listed as names, as {name: shape}, or as [{"name": …, "shape": …}].
        names = (
            tuple(o["name"] if isinstance(o, dict) else str(o) for o in outputs)
            if isinstance(outputs, list)
            else tuple(outputs)
        )
        batch = inp.get("batch")
        return cls(
            path=str(path),
            height=int(inp["height"]),
            width=int(inp["width"]),
            channel_order=str(inp.get("channel_order", "bgr")).lower(),
            mode=str(meta["mode"]),
            outputs=names,
            stats_columns=tuple(meta["stats_columns"]),
            epsilon=float(meta.get("epsilon", 0.025)),
            batch=int(batch)
            if isinstance(batch, int) or (isinstance(batch, str) and batch.isdigit())
            else None,
            metadata=meta,
        )

    def check_frames(self, frames: np.ndarray) -> None:
        """Refuse a batch the model cannot take, naming expected and actual."""
        expected = (self.height, self.width, 3)
        if frames.dtype != np.uint8 or frames.ndim != 4 or tuple(frames.shape[1:]) != expected:
            raise ContractError(
                f"{self.path} takes uint8 frames [batch, {self.height}, {self.width}, 3]; got "
                f"{frames.dtype} {list(frames.shape)}. Resize frames to {self.width}×{self.height} "
                "(the runtime's preprocessing does this) or export the model at the frames' size."
            )
