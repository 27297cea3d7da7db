"""The training loop shared by N and G: epochs of steps, DDP, AMP, checkpoints, resume, metrics, bad input.

A run folder (`cfg.out`) holds:
- `config.json`: the config plus the effective settings (device, world size, input size, ...);
- `last.safetensors`: the latest weights (our checkpoint format; `load_network` reads it), rewritten every
  `checkpoint_every` steps and at each epoch's end, and `epoch-NNN.safetensors` after each epoch;
- `last.state.pt`: what `--resume` needs besides the config (see `depthmask.train.state`);
- `metrics.jsonl`, `metrics.csv` (and `tensorboard/` when installed); `summary.json` at the end.
Files are written by rank 0 only, each atomically; the other ranks wait at a barrier. The metric values
are read back to the host every step (one synchronisation): they feed the non-finite check and the logs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from depthmask.errors import ConfigError, DepthmaskError, OutputError
from depthmask.nets.checkpoint import save_checkpoint
from depthmask.train.config import RESUMABLE_CHANGES, TrainConfig, config_from_dict
from depthmask.train.distributed import DistContext, same_weights_on_all_ranks
from depthmask.train.loader import Batch, ResumableSampler, SeededSamples, batches_per_epoch, epoch_loader
from depthmask.train.monitor import Monitor
from depthmask.train.optim import build_optimizer, build_scheduler
from depthmask.train.state import STATE_NAME, capture_rng, load_state, restore_rng, save_state, state_path
from depthmask.train.tasks import DepthTask, MaskTask, autocast_factory

WEIGHTS_NAME = "last.safetensors"


class TrainingError(DepthmaskError):
    """A run that cannot go on: a non-finite loss, or a bad sample under --on-bad-input stop."""


@dataclass(frozen=True)
class StepInfo:
    """What an `on_step` callback is told after each optimiser step (on every process)."""

    step: int  # optimiser steps done in all
    epoch: int  # 0-based epoch the step belongs to
    batch: int  # batches consumed in this epoch, this one included
    metrics: dict[str, float]  # this step's values, averaged over processes


@dataclass(frozen=True)
class TrainResult:
    """The outcome of a run: the trained network (unwrapped, eval mode) and where its files are."""

    model: nn.Module
    out: Path
    checkpoint: Path | None  # last.safetensors (None on ranks other than 0, which write nothing)
    step: int
    epochs_completed: int
    finished: bool  # False when max_steps stopped the run before its last epoch ended
    skipped: list[dict[str, Any]] = field(default_factory=list)  # bad samples skipped, all processes
    metrics: dict[str, float] = field(default_factory=dict)  # the last epoch's (or partial epoch's) means


StepCallback = Callable[[StepInfo], None]


class TrainingLoop:
    """One run's loop and files (rank 0 writes, every rank trains); `fit()` runs it."""

    def __init__(
        self,
        cfg: TrainConfig,
        ctx: DistContext,
        task: DepthTask | MaskTask,
        dataset: Dataset,
        input_size: tuple[int, int],
        effective: dict[str, Any],
        on_step: StepCallback | None,
    ) -> None:
        self.cfg, self.ctx, self.task, self.on_step = cfg, ctx, task, on_step
        self.out = Path(cfg.out)
        self.input_size = input_size
        if cfg.resume is None and (self.out / STATE_NAME).exists():
            raise OutputError(
                f"{self.out} already holds a training run; continue it with --resume {self.out}, "
                "or choose another --out"
            )
        self.samples = SeededSamples(dataset, cfg.seed)
        if len(self.samples) == 0:
            raise ConfigError(f"the training data {cfg.data!r} has no samples")
        self._check_first_sample()
        self.sampler = ResumableSampler(
            self.samples, num_replicas=ctx.world_size, rank=ctx.rank, seed=cfg.seed, shuffle=True
        )
        self.steps_per_epoch = batches_per_epoch(self.sampler, cfg.batch_size)
        task.to(ctx.device, cfg.channels_last)
        self.model = task.model
        self.net: nn.Module = self.model
        if ctx.distributed:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = build_optimizer([p for p in self.model.parameters() if p.requires_grad], cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg)
        self.scaler = torch.amp.GradScaler(ctx.device.type, enabled=cfg.amp == "fp16")
        self.autocast = autocast_factory(ctx.device, cfg.amp)
        # Position: optimiser steps done, epoch being trained, batches of it already trained on.
        self.step, self.epoch, self.start_batch = 0, 0, 0
        self.skipped: list[dict[str, Any]] = []
        self.last_saved_step: int | None = None
        self.last_saved_dir = self.out  # where the last good checkpoint lies (the resumed folder at first)
        self.monitor: Monitor | None = None
        if cfg.resume is not None:
            self._restore(cfg.resume)
        self.effective = {
            **effective,
            "device": str(ctx.device),
            "world_size": ctx.world_size,
            "global_batch": cfg.batch_size * ctx.world_size,
            "samples": len(self.samples),
            "steps_per_epoch": self.steps_per_epoch,
            "torch": torch.__version__,
        }

    def _check_first_sample(self) -> None:
        """Fail before training when the data lacks what the task needs (first loadable sample)."""
        for i in range(min(len(self.samples), 8)):
            sample = self.samples[i]
            if isinstance(sample, dict):
                self.task.check_sample(sample, self.cfg.data)
                return

    # -- the loop -------------------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train to the last epoch (or max_steps), checkpointing as configured."""
        cfg, ctx = self.cfg, self.ctx
        total = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        if ctx.is_main:
            cfg.save_json(self.out / "config.json", effective=self.effective)
            self.monitor = Monitor(
                self.out,
                total_steps=total,
                done_steps=self.step,
                progress=cfg.progress,
                tensorboard=cfg.tensorboard,
            )
        t0 = time.perf_counter()
        finished, epoch_means = False, {}
        with self.monitor if self.monitor is not None else contextlib.nullcontext():
            if self.monitor is not None:
                self.monitor.print(self._summary_line())
            while self.epoch < cfg.epochs and not self._reached_max_steps():
                epoch_means, stopped_inside = self._train_epoch()
                if stopped_inside:
                    break
            finished = self.epoch >= cfg.epochs
        skipped = [s for rank_list in ctx.gather(self.skipped) for s in rank_list]  # type: ignore[union-attr]
        in_sync = same_weights_on_all_ranks(ctx, self.model)
        checkpoint = self.out / WEIGHTS_NAME if ctx.is_main else None
        if ctx.is_main:
            summary = {
                "step": self.step,
                "epochs_completed": self.epoch,
                "finished": finished,
                "wall_s": round(time.perf_counter() - t0, 3),
                "checkpoint": str(checkpoint),
                "metrics": epoch_means,
                "skipped": skipped,
                "ranks_in_sync": in_sync,
                **self.effective,
            }
            _write_json(self.out / "summary.json", summary)
        ctx.barrier()
        self.model.eval()
        return TrainResult(
            self.model, self.out, checkpoint, self.step, self.epoch, finished, skipped, epoch_means
        )

    def _train_epoch(self) -> tuple[dict[str, float], bool]:
        """Train the rest of the current epoch; return its metric means and whether max_steps stopped it."""
        cfg, ctx, monitor = self.cfg, self.ctx, self.monitor
        loader = epoch_loader(
            self.samples,
            self.sampler,
            epoch=self.epoch,
            start_batch=self.start_batch,
            batch_size=cfg.batch_size,
            workers=cfg.workers,
            pin_memory=ctx.device.type == "cuda",
            seed=cfg.seed,
        )
        self.model.train()
        window: dict[str, list[float]] = {}
        epoch_sums: dict[str, float] = {}
        epoch_steps = 0
        batch_index = self.start_batch
        for batch in loader:
            batch_index += 1
            metrics = self._train_step(batch, batch_index)
            if metrics is None:
                continue
            epoch_steps += 1
            for k, v in metrics.items():
                window.setdefault(k, []).append(v)
                epoch_sums[k] = epoch_sums.get(k, 0.0) + v
            if monitor is not None:
                monitor.advance(
                    epoch=self.epoch, loss=metrics["loss"], samples=len(batch.indices) * ctx.world_size
                )
                if self.step % cfg.log_every == 0:
                    monitor.record(
                        self._record("step", batch_index, {k: _mean(v) for k, v in window.items()})
                    )
                    window = {}
            if self.on_step is not None:
                self.on_step(StepInfo(self.step, self.epoch, batch_index, metrics))
            # The epoch's last batch is saved just below, after the scheduler's step.
            if batch_index < self.steps_per_epoch:
                if self._reached_max_steps():
                    self._save(batch=batch_index)
                    return _means(epoch_sums, epoch_steps), True
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self._save(batch=batch_index)
        self.scheduler.step()
        means = _means(epoch_sums, epoch_steps)
        if monitor is not None:
            monitor.record(self._record("epoch", batch_index, {**means, "steps": epoch_steps}))
        self.epoch += 1
        self.start_batch = 0
        self._save(batch=0, epoch_end=True)
        return means, False

    def _train_step(self, batch: Batch, batch_index: int) -> dict[str, float] | None:
        """One optimiser step; None when the batch held no usable sample on some process."""
        cfg, ctx = self.cfg, self.ctx
        stop_here = bool(batch.bad) and cfg.on_bad_input == "stop"
        any_stop, any_empty = ctx.any(stop_here, batch.data is None)
        if any_stop:
            raise TrainingError(
                self._bad_input_message(batch) if stop_here else "another process met a bad sample"
            )
        for bad in batch.bad:
            self.skipped.append({"index": bad.index, "error": bad.error, "message": bad.message})
            if self.monitor is not None:
                self.monitor.print(f"skipped sample {bad.index}: {bad.message}")
        if any_empty:  # every process skips together, so DDP's collectives stay matched
            return None
        host = batch.data or {}
        data = {k: host[k].to(ctx.device, non_blocking=True) for k in self.task.inputs if k in host}
        if cfg.channels_last:
            data["image"] = data["image"].contiguous(memory_format=torch.channels_last)
        output = self.task.compute(self.net, data, self.autocast)
        names = sorted(output.metrics)
        values = ctx.mean(torch.stack([output.metrics[n].float() for n in names])).tolist()
        metrics = dict(zip(names, values, strict=True))
        if not math.isfinite(metrics["loss"]):
            raise TrainingError(self._non_finite_message(metrics["loss"], batch, batch_index))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(output.loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return metrics

    def _reached_max_steps(self) -> bool:
        return self.cfg.max_steps is not None and self.step >= self.cfg.max_steps

    # -- files ----------------------------------------------------------------------------------------

    def _save(self, *, batch: int, epoch_end: bool = False) -> None:
        """Weights (safetensors) and training state after `batch` batches of the epoch (rank 0, atomic)."""
        ctx = self.ctx
        rng = ctx.gather(capture_rng())  # every process's streams, so each resumes its own
        if ctx.is_main:
            provenance = {
                **self.task.provenance(),
                "input_size": list(self.input_size),
                "data": self.cfg.data,
                "step": self.step,
                "epoch": self.epoch,
                "training": self.cfg.to_dict(),
            }
            weights = save_checkpoint(self.model, self.out / WEIGHTS_NAME, **provenance)
            if epoch_end:
                _copy_atomic(weights, self.out / f"epoch-{self.epoch:03d}.safetensors")
            save_state(
                self.out / STATE_NAME,
                {
                    "config": self.cfg.to_dict(),
                    "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "scaler": self.scaler.state_dict(),
                    "step": self.step,
                    "epoch": self.epoch,
                    "batch": batch,
                    "world_size": ctx.world_size,
                    "rng": rng,
                    "skipped": self.skipped,
                },
            )
        self.last_saved_step, self.last_saved_dir = self.step, self.out
        ctx.barrier()

    def _restore(self, resume: Path) -> None:
        """Put back weights, optimiser, scheduler, scaler, position and RNG streams from a state file."""
        path = state_path(resume)
        state = load_state(path)
        saved = config_from_dict(state["config"])
        if type(saved) is not type(self.cfg):
            raise ConfigError(f"--resume {resume}: that run trained {saved.kind}, not {self.cfg.kind}")
        changed = [n for n in saved.differences(self.cfg) if n not in RESUMABLE_CHANGES]
        if changed:
            details = "; ".join(f"{n}: {getattr(saved, n)!r} → {getattr(self.cfg, n)!r}" for n in changed)
            raise ConfigError(
                f"--resume {resume}: settings differ from the run being resumed ({details}); only "
                f"{', '.join(sorted(RESUMABLE_CHANGES - {'resume'}))} may change"
            )
        if state["epoch"] < self.cfg.epochs and state["batch"] > self.steps_per_epoch:
            raise ConfigError(f"--resume {resume}: the data changed size (its epochs were longer)")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.start_batch = state["step"], state["epoch"], state["batch"]
        self.skipped = list(state.get("skipped", [])) if self.ctx.is_main else []
        self.last_saved_step, self.last_saved_dir = self.step, path.parent
        rng = state["rng"]
        restore_rng(rng[self.ctx.rank] if len(rng) == self.ctx.world_size else rng[0])

    def _record(self, event: str, batch_index: int, metrics: dict[str, float]) -> dict[str, Any]:
        lr = self.optimizer.param_groups[0]["lr"]
        return {
            "event": event,
            "step": self.step,
            "epoch": self.epoch,
            "batch": batch_index,
            **metrics,
            "lr": lr,
        }

    def _summary_line(self) -> str:
        e, cfg = self.effective, self.cfg
        start = f", resuming at step {self.step} (epoch {self.epoch + 1})" if cfg.resume else ""
        return (
            f"training {cfg.kind} net {cfg.network} on {e['device']} × {e['world_size']}: "
            f"{e['samples']} samples, {self.steps_per_epoch} steps/epoch, batch {cfg.batch_size}/process, "
            f"input {self.input_size[0]}×{self.input_size[1]}, amp {cfg.amp}{start} → {self.out}"
        )

    def _bad_input_message(self, batch: Batch) -> str:
        bad = batch.bad[0]
        more = f" (and {len(batch.bad) - 1} more in this batch)" if len(batch.bad) > 1 else ""
        return (
            f"sample {bad.index} of {self.cfg.data!r} could not be loaded: {bad.message}{more}. "
            "Fix or remove it, or pass --on-bad-input skip to skip and count such samples"
        )

    def _non_finite_message(self, loss: float, batch: Batch, batch_index: int) -> str:
        saved = (
            f"the last good checkpoint is {self.last_saved_dir / WEIGHTS_NAME} "
            f"(step {self.last_saved_step}); "
            f"continue from it with --resume {self.last_saved_dir}"
            if self.last_saved_step is not None
            else "no checkpoint had been written yet"
        )
        return (
            f"the loss is {loss} at step {self.step + 1} (epoch {self.epoch + 1}, batch {batch_index} of "
            f"{self.steps_per_epoch}; samples on this process: {', '.join(batch.names)}); "
            f"training stopped before updating the weights, and {saved}. A non-finite loss comes from a "
            "bad sample (NaN or inf in an image or its depth), too high a --lr, or fp16 overflow "
            "(try --amp bf16 or none)"
        )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _means(sums: dict[str, float], count: int) -> dict[str, float]:
    return {k: v / max(count, 1) for k, v in sums.items()}


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
