"""One process or many: the device, rank and process group of a training run (torchrun-compatible).

Under `torchrun` (WORLD_SIZE > 1 in the environment) each process joins a process group: NCCL when it
trains on a GPU (one GPU per process, cuda:LOCAL_RANK), gloo on CPU. Rank 0 logs and writes files; the
others wait for it at barriers. A group that the caller already initialised is used and left open.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from depthmask.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process trains and which share of the data it sees."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    backend: str | None  # None: a single process, no process group
    owns_group: bool  # True when this context created the group (and destroys it in `close`)

    @property
    def is_main(self) -> bool:
        """True on the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when gradients are averaged over several processes."""
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait until every process reaches this point (a no-op for one process)."""
        if self.distributed:
            if self.backend == "nccl":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over all processes (non-finite on any process makes it non-finite)."""
        if not self.distributed:
            return value
        out = value.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.world_size

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """For each flag, whether it is true on at least one process (every process gets the same answer)."""
        if not self.distributed:
            return tuple(flags)
        t = torch.tensor([1.0 if f else 0.0 for f in flags], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return tuple(bool(v > 0) for v in t.tolist())

    def gather(self, obj: object) -> list[object]:
        """Every process's `obj` (picklable), in rank order, on every process."""
        if not self.distributed:
            return [obj]
        out: list[object] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        """Leave the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: str = "auto", timeout_s: float = 1800.0) -> DistContext:
    """Resolve the device and, under torchrun (WORLD_SIZE > 1), join the process group.

    `device` is "auto", "cpu" or "cuda"; "cuda" without a GPU raises ConfigError.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA GPU here; use --device cpu")
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"process with LOCAL_RANK {local_rank} needs GPU {local_rank}, but only "
                f"{torch.cuda.device_count()} are visible; start torchrun with --nproc-per-node "
                f"≤ {torch.cuda.device_count()}"
            )
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world <= 1:
        return DistContext(0, 0, 1, dev, None, owns_group=False)
    backend = "nccl" if use_cuda else "gloo"
    owns = not dist.is_initialized()
    if owns:
        kwargs = {"device_id": dev} if use_cuda else {}
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s), **kwargs)
    else:
        backend = dist.get_backend()
    return DistContext(dist.get_rank(), local_rank, dist.get_world_size(), dev, backend, owns_group=owns)


def same_weights_on_all_ranks(ctx: DistContext, model: nn.Module) -> bool:
    """Give every process rank 0's BatchNorm statistics, then check all weights match (True, else raise).

    DDP keeps parameters equal, but running statistics were last updated by each rank's own batch; rank 0's
    are the ones checkpointed, so they are broadcast. A digest of the whole state dict is then compared.
    """
    if not ctx.distributed:
        return True
    with torch.no_grad():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    digests = ctx.gather(h.hexdigest())
    if len(set(digests)) != 1:
        raise RuntimeError(f"DDP ranks ended with different weights (digests {digests}); this is a bug")
    return True
