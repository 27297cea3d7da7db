"""N and G with weights for the fused graph, and the provenance an exported artefact records about them.

Weights come from a checkpoint (ours, the authors' released file, a state dict) through
`depthmask.nets.loading.load_network`, or — only when asked for — are random under a recorded seed, so
that `depthmask check` can rebuild exactly the same reference from the metadata alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from depthmask.contract.constants import AUTHORS_LAMBDA
from depthmask.errors import ConfigError

DEFAULT_DEPTH_NET = "hu2019_resnet50"
DEFAULT_MASK_NET = "mask_drn_d_22"


@dataclass(frozen=True)
class Provenance:
    """Where one network's weights came from: enough to rebuild it and to prove the rebuild is the same."""

    name: str
    checkpoint: str | None  # the weights file (relative to the artefact once written), None: random
    sha256: str | None  # of the weights file
    random_seed: int | None  # torch seed the random weights were drawn under
    state_sha256: str  # of the state dict's tensors, in key order (the same whatever the file format)
    lam: float | None = None  # λ G was trained with, when the checkpoint says (G only)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (λ under its metadata name `lambda`)."""
        d = asdict(self)
        d["lambda"] = d.pop("lam")
        return d


def state_sha256(module: nn.Module) -> str:
    """sha256 over the state dict's names, dtypes, shapes and bytes (the weights' identity)."""
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_weighted(
    spec: str | None,
    checkpoint: str | Path | None,
    *,
    role: str,
    random_weights: bool,
    seed: int,
    input_size: tuple[int, int] | None = None,
    trusted_factory: str | None = None,
) -> tuple[nn.Module, Provenance]:
    """One network in eval mode plus its provenance.

    Without a checkpoint the weights are random only when `random_weights` is set (seeded by `seed`);
    otherwise ConfigError says which option is missing. `trusted_factory` is the module:factory the user
    named, the only one that may be imported (see `depthmask.nets.loading.load_network`).
    """
    from depthmask.nets.loading import load_network

    default = DEFAULT_DEPTH_NET if role == "depth" else DEFAULT_MASK_NET
    flag = "--checkpoint-n" if role == "depth" else "--checkpoint-g"
    if checkpoint is None:
        if not random_weights:
            raise ConfigError(
                f"no weights for the {'depth net N' if role == 'depth' else 'mask net G'}: pass {flag} "
                "(a depthmask .safetensors checkpoint or the authors' released file), or --random-weights "
                "to export untrained networks (for benchmarks and tests only)"
            )
        torch.manual_seed(seed)  # the same seed rebuilds the same weights (check, parity)
        model = load_network(
            spec or default, None, role=role, input_size=input_size, trusted_factory=trusted_factory
        )
    else:
        model = load_network(
            spec, checkpoint, role=role, input_size=input_size, trusted_factory=trusted_factory
        )
    prov = provenance_of(
        model,
        random_seed=seed if checkpoint is None else None,
        lam=_lambda_of(checkpoint) if role == "mask" and checkpoint is not None else None,
    )
    return model, prov


def provenance_of(
    model: nn.Module, *, random_seed: int | None = None, lam: float | None = None
) -> Provenance:
    """The provenance of a network built by `create_model` or `load_network` (their attributes say
    its name and weights file)."""
    path = getattr(model, "depthmask_checkpoint", None)
    return Provenance(
        name=str(getattr(model, "depthmask_name", type(model).__name__)),
        checkpoint=str(Path(path).resolve()) if path else None,
        sha256=getattr(model, "depthmask_sha256", None),
        random_seed=random_seed,
        state_sha256=state_sha256(model),
        lam=lam,
    )


def _lambda_of(checkpoint: str | Path) -> float | None:
    """λ recorded in our checkpoint's config; the authors' value for their released files."""
    from depthmask.nets.checkpoint import is_depthmask_checkpoint, read_config

    if is_depthmask_checkpoint(checkpoint):
        lam = read_config(checkpoint).get("lambda")
        return float(lam) if lam is not None else None
    if Path(checkpoint).suffix == ".safetensors":
        return None  # a plain state dict says nothing about its training
    return AUTHORS_LAMBDA
