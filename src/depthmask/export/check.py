"""`check_model`: the core of `depthmask check` — parity of an exported artefact against PyTorch.

The reference is rebuilt from the artefact's own metadata: network names, the weights' paths (or the
seed of random weights) and the digest that proves the rebuild holds the same weights. Files that moved
are given with `checkpoint_n` / `checkpoint_g`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from depthmask.errors import ConfigError, closest
from depthmask.export.graph import AuditGraph
from depthmask.export.parity import ParityResult

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


def graph_from_metadata(
    meta: dict[str, Any],
    *,
    checkpoint_n: Path | None = None,
    checkpoint_g: Path | None = None,
    beside: Path | None = None,
) -> AuditGraph:
    """The PyTorch AuditGraph an artefact was exported from, rebuilt and verified from its metadata.

    Checkpoints that moved with the model (copied to another machine, an installed package) are found
    in the folder `beside` under their recorded names; the hash check still decides whether they fit.
    """
    from depthmask.export.networks import rebuild

    records = meta["checkpoints"]

    def moved(record: dict[str, Any] | None, given: Path | None) -> Path | None:
        recorded = (record or {}).get("checkpoint")
        if given is not None or beside is None or not recorded or Path(recorded).is_file():
            return given
        candidate = beside / Path(recorded).name
        return candidate if candidate.is_file() else None

    depth_net = None
    if meta["mode"] != "mask":
        depth_net, _ = rebuild(
            records["depth_net"], role="depth", checkpoint=moved(records["depth_net"], checkpoint_n)
        )
    mask_net, _ = rebuild(
        records["mask_net"], role="mask", checkpoint=moved(records["mask_net"], checkpoint_g)
    )
    graph = AuditGraph(
        depth_net,
        mask_net,
        mode=meta["mode"],
        channel_order=meta["input"]["channel_order"],
        epsilon=meta["epsilon"],
        far_fraction=meta.get("far_fraction", 0.2),
    )
    graph.input_size = (meta["input"]["height"], meta["input"]["width"])
    return graph


def check_model(cfg: CheckConfig) -> ParityResult:
    """Compare `cfg.model` with its PyTorch reference on `cfg.frames` frames of `cfg.source`."""
    from depthmask.export.frames import collect, frames_from_source
    from depthmask.export.metadata import read_metadata
    from depthmask.export.parity import artefact_parity

    meta = read_metadata(cfg.model)
    graph = graph_from_metadata(
        meta, checkpoint_n=cfg.checkpoint_n, checkpoint_g=cfg.checkpoint_g, beside=cfg.model.parent
    )
    h, w = graph.input_size
    order = meta["input"]["channel_order"]
    frames = collect(frames_from_source(cfg.source or DEFAULT_SOURCE, h, w, cfg.frames, channel_order=order))
    fixed = meta["input"].get("batch")
    batch = min(cfg.batch, fixed) if isinstance(fixed, int) else cfg.batch
    return artefact_parity(graph, cfg.model, meta, frames, batch=batch)
