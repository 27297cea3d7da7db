"""An artefact's PyTorch graph rebuilt from its metadata alone, and proved to hold the same weights.

The metadata names each network (a registered name only: a file never makes depthmask import code, so a
`module:factory` N loads only when the user names the same spec, `depth_net=`), the weights' file and
digest, or the seed of random weights. `depthmask check`, the torch backend and parity rebuild through
`graph_from_metadata`; the validated metadata is its only input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from depthmask.contract.constants import FAR_FRACTION
from depthmask.contract.metadata import curve_keeps, has_regions, recorded_path
from depthmask.errors import CheckpointError, ConfigError, ContractError
from depthmask.nets.graph import AuditGraph
from depthmask.nets.models.byo import require_named_by_user
from depthmask.nets.provenance import Provenance, load_weighted


def rebuild(
    record: dict[str, Any],
    *,
    role: str,
    checkpoint: str | Path | None = None,
    trusted_factory: str | None = None,
    named_by: str = "the model's metadata",
) -> tuple[nn.Module, Provenance]:
    """Rebuild a network from its metadata record (a `Provenance.to_dict()`), checking it is the same.

    `checkpoint` overrides the recorded path (files move between machines); the weights must still hash
    to the recorded state, else CheckpointError names both digests. A record naming a module:factory is
    refused (ContractError) unless it is `trusted_factory`, the spec the user named; `named_by` says
    where the record came from in messages.
    """
    name = record.get("name")
    if not isinstance(name, str) or not name:
        raise ContractError(f"{named_by}: checkpoints.{role}_net.name is {name!r}, expected a network name")
    require_named_by_user(
        name, trusted_factory, named_by=f"{named_by} (checkpoints.{role}_net)", error=ContractError
    )
    path = checkpoint if checkpoint is not None else record.get("checkpoint")
    seed = record.get("random_seed")
    if path is None and seed is None:
        raise CheckpointError(
            f"the metadata names no weights file for {name!r}; pass "
            f"{'--checkpoint-n' if role == 'depth' else '--checkpoint-g'}"
        )
    if path is not None and not Path(path).is_file():
        flag = "--checkpoint-n" if role == "depth" else "--checkpoint-g"
        raise CheckpointError(
            f"{name}: the weights the model was exported from, {path}, are not here; "
            f"pass their current location with {flag}"
        )
    model, prov = load_weighted(
        name,
        path,
        role=role,
        random_weights=path is None,
        seed=int(seed) if seed is not None else 0,
        trusted_factory=trusted_factory,
    )
    want = record.get("state_sha256")
    if want and want != prov.state_sha256:
        raise CheckpointError(
            f"{name}: the rebuilt weights ({path or f'random, seed {seed}'}) hash to "
            f"{prov.state_sha256[:16]}…, the exported model's to {str(want)[:16]}…; pass the checkpoint it "
            "was exported from (random weights rebuild only under the same torch version)"
        )
    return model, prov


def graph_from_metadata(
    meta: dict[str, Any],
    *,
    checkpoint_n: Path | None = None,
    checkpoint_g: Path | None = None,
    beside: Path | None = None,
    depth_net: str | None = None,
    artefact: str | Path | None = None,
) -> AuditGraph:
    """The PyTorch AuditGraph an artefact was exported from, rebuilt and verified from its metadata.

    Checkpoints that moved with the model (copied to another machine, an installed package) are found
    in the folder `beside` under their recorded names; the hash check still decides whether they fit.
    `depth_net` is the N the user named (`--depth-net`): the only module:factory that may be imported,
    and it must be the one the metadata records. `artefact` (the model's path) names the file in messages.
    """
    records = meta["checkpoints"]
    named_by = f"{artefact}'s metadata" if artefact is not None else "the model's metadata"

    def moved(record: dict[str, Any] | None, given: Path | None) -> Path | None:
        recorded = (record or {}).get("checkpoint")
        if given is not None or beside is None or not recorded:
            return given
        candidates = (recorded_path(recorded, beside), beside / Path(recorded).name)
        for candidate in candidates:
            if candidate.is_file():  # recorded relative to the artefact, or moved along beside it
                return candidate
        return candidates[0]  # not there: the error names where the artefact says it should be

    if depth_net is not None:
        if meta["mode"] == "mask":
            raise ConfigError(
                f"--depth-net {depth_net}: {artefact or 'the model'} is a mode 'mask' model, which has no "
                "depth net; leave --depth-net out"
            )
        recorded = (records.get("depth_net") or {}).get("name")
        if recorded != depth_net:
            raise ContractError(
                f"--depth-net {depth_net}, but {named_by} records the depth net {recorded!r}; pass the "
                "network the model was exported from, or leave --depth-net out for a registered one"
            )
    net = None
    if meta["mode"] != "mask":
        net, _ = rebuild(
            records["depth_net"],
            role="depth",
            checkpoint=moved(records["depth_net"], checkpoint_n),
            trusted_factory=depth_net,
            named_by=named_by,
        )
    mask_net, _ = rebuild(
        records["mask_net"],
        role="mask",
        checkpoint=moved(records["mask_net"], checkpoint_g),
        named_by=named_by,
    )
    return AuditGraph(
        net,
        mask_net,
        mode=meta["mode"],
        channel_order=meta["input"]["channel_order"],
        epsilon=meta["epsilon"],
        far_fraction=meta.get("far_fraction", FAR_FRACTION),
        input_size=(meta["input"]["height"], meta["input"]["width"]),
        provenance=dict(records),
        regions=has_regions(meta),
        curve=curve_keeps(meta),
    )
