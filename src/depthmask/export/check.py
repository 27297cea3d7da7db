"""`check_model`: the core of `depthmask check` — parity of an exported artefact against PyTorch.

The reference is rebuilt from the artefact's own metadata: network names, the weights' paths (or the
seed of random weights) and the digest that proves the rebuild holds the same weights. Files that moved
are given with `checkpoint_n` / `checkpoint_g`; a `module:factory` N is imported only when the user names
it too (`depth_net`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from depthmask.errors import ConfigError, closest
from depthmask.export.parity import ParityResult
from depthmask.nets.rebuild import graph_from_metadata

REFERENCES = ("torch",)
DEFAULT_SOURCE = "synthetic:seed=5"


@dataclass(frozen=True)
class CheckConfig:
    """What to check against what: the artefact, the reference, the frames and the batch."""

    model: Path
    against: str = "torch"
    source: str | None = None  # None: the synthetic drive at the model's size
    frames: int = 8
    batch: int = 4
    checkpoint_n: Path | None = None
    checkpoint_g: Path | None = None
    depth_net: str | None = None  # the user's --depth-net: the one module:factory N that may be imported

    def __post_init__(self) -> None:
        for name in ("model", "checkpoint_n", "checkpoint_g"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.against not in REFERENCES:
            raise ConfigError(
                f"--against {self.against!r} is not a known reference; choose one of {', '.join(REFERENCES)}."
                + closest(self.against, REFERENCES)
            )
        if self.frames < 1 or self.batch < 1:
            raise ConfigError(f"--frames and --batch must be positive, got {self.frames} and {self.batch}")
        if not self.model.is_file():
            raise ConfigError(f"model {str(self.model)!r} does not exist; export one with `depthmask export`")


def check_model(cfg: CheckConfig) -> ParityResult:
    """Compare `cfg.model` with its PyTorch reference on `cfg.frames` frames of `cfg.source`."""
    from depthmask.contract.metadata import read_metadata
    from depthmask.export.frames import collect, frames_from_source
    from depthmask.export.parity import artefact_parity

    meta = read_metadata(cfg.model)
    graph = graph_from_metadata(
        meta,
        checkpoint_n=cfg.checkpoint_n,
        checkpoint_g=cfg.checkpoint_g,
        beside=cfg.model.parent,
        depth_net=cfg.depth_net,
        artefact=cfg.model,
    )
    h, w = graph.input_size
    order = meta["input"]["channel_order"]
    frames = collect(frames_from_source(cfg.source or DEFAULT_SOURCE, h, w, cfg.frames, channel_order=order))
    fixed = meta["input"].get("batch")
    batch = min(cfg.batch, fixed) if isinstance(fixed, int) else cfg.batch
    return artefact_parity(graph, cfg.model, meta, frames, batch=batch)
