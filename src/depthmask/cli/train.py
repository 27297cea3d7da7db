"""`depthmask train depth|mask`: build one frozen training config from the options, call one core function.

Options left out keep the config's defaults (the authors' settings); `--dry-run` prints the config the
command built, as JSON, without training. Nothing here imports torch until a command runs.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from depthmask.cli.app import INPUT, MODEL, OUTPUT, PERFORMANCE, PRECISION, TRAINING, app
from depthmask.cli.errors import user_errors
from depthmask.settings import parse_size

if TYPE_CHECKING:
    from depthmask.train.config import TrainConfig
    from depthmask.train.trainer import TrainResult

console = Console(stderr=True)

train_app = typer.Typer(
    name="train",
    help="Train the depth net N or the mask net G (single process, or multi-GPU under torchrun).",
    epilog=(
        "Examples:\n\n"
        "  depthmask train depth -n hu2019_resnet50 --pretrained -d nyu-csv:data/nyu2_train.csv\n\n"
        "  depthmask train mask --depth-checkpoint runs/train-depth/last.safetensors "
        "-d nyu-csv:data/nyu2_train.csv --lam 5\n\n"
        "Each command's options: depthmask train depth --help, depthmask train mask --help."
    ),
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


class DeviceChoice(str, enum.Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class AmpChoice(str, enum.Enum):
    none = "none"
    bf16 = "bf16"
    fp16 = "fp16"


class ScheduleChoice(str, enum.Enum):
    step = "step"
    constant = "constant"
    cosine = "cosine"


class BadInputChoice(str, enum.Enum):
    stop = "stop"
    skip = "skip"


class LossChoice(str, enum.Enum):
    hu2019 = "hu2019"
    fcrn = "fcrn"
    berhu = "berhu"


# Options shared by both commands, declared once. None means "the config's default".
Data = Annotated[
    str,
    typer.Option(
        "--data",
        "-d",
        help="Dataset spec: synthetic:…, kitti:/root, nyu-csv:…, or frames (G).",
        rich_help_panel=INPUT,
    ),
]
InputSize = Annotated[
    str | None,
    typer.Option(
        "--size",
        metavar="HxW",
        help="Size in pixels fed to the networks [default: the network's].",
        rich_help_panel=INPUT,
    ),
]
OnBadInput = Annotated[
    BadInputChoice | None,
    typer.Option(
        help="An unreadable sample: stop naming it, or skip and count it [default: stop].",
        rich_help_panel=INPUT,
    ),
]
Checkpoint = Annotated[
    Path | None,
    typer.Option(
        help="Weights to start the trained network from (ours, the authors', a state dict).",
        rich_help_panel=MODEL,
    ),
]
Pretrained = Annotated[
    bool | None,
    typer.Option(
        "--pretrained/--no-pretrained",
        help="ImageNet-initialised encoder (downloads once) [default: no-pretrained].",
        rich_help_panel=MODEL,
    ),
]
BatchSize = Annotated[
    int | None, typer.Option("--batch-size", "-b", help="Per process [default: 8].", rich_help_panel=TRAINING)
]
Epochs = Annotated[
    int | None, typer.Option(help="Epochs [default: 20 for N, 10 for G].", rich_help_panel=TRAINING)
]
MaxSteps = Annotated[
    int | None,
    typer.Option(
        help="Stop after this many optimiser steps (checkpointed) [default: all epochs].",
        rich_help_panel=TRAINING,
    ),
]
Lr = Annotated[float | None, typer.Option(help="Learning rate [default: 1e-4].", rich_help_panel=TRAINING)]
WeightDecay = Annotated[
    float | None, typer.Option(help="Adam weight decay [default: 1e-4].", rich_help_panel=TRAINING)
]
Schedule = Annotated[
    ScheduleChoice | None,
    typer.Option(
        help="step: × lr-gamma every lr-step-epochs [default for N]; constant [default for G].",
        rich_help_panel=TRAINING,
    ),
]
LrStepEpochs = Annotated[
    int | None, typer.Option(help="Epochs between lr steps [default: 5].", rich_help_panel=TRAINING)
]
LrGamma = Annotated[
    float | None, typer.Option(help="Factor of each lr step [default: 0.1].", rich_help_panel=TRAINING)
]
Seed = Annotated[
    int | None,
    typer.Option(help="Seed of weights, shuffling and augmentation [default: 0].", rich_help_panel=TRAINING),
]
Deterministic = Annotated[
    bool | None,
    typer.Option(
        "--deterministic/--no-deterministic",
        help="Deterministic algorithms (exact resume on CPU) [default: no-deterministic].",
        rich_help_panel=TRAINING,
    ),
]
Resume = Annotated[
    Path | None,
    typer.Option(help="Continue a run: its folder or its last.state.pt.", rich_help_panel=TRAINING),
]
Device = Annotated[
    DeviceChoice | None,
    typer.Option(help="auto: CUDA when available [default: auto].", rich_help_panel=PERFORMANCE),
]
ChannelsLast = Annotated[
    bool | None,
    typer.Option(
        "--channels-last/--no-channels-last",
        help="NHWC memory [default: no-channels-last].",
        rich_help_panel=PERFORMANCE,
    ),
]
CudnnBenchmark = Annotated[
    bool | None,
    typer.Option(
        "--cudnn-benchmark/--no-cudnn-benchmark",
        help="Let cuDNN time its kernels [default: no-cudnn-benchmark].",
        rich_help_panel=PERFORMANCE,
    ),
]
Workers = Annotated[
    int | None, typer.Option(help="DataLoader workers per process [default: 4].", rich_help_panel=PERFORMANCE)
]
Amp = Annotated[
    AmpChoice | None,
    typer.Option(help="Mixed precision; fp16 adds a GradScaler [default: none].", rich_help_panel=PRECISION),
]
Out = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Run folder [default: runs/train-depth|mask].", rich_help_panel=OUTPUT),
]
CheckpointEvery = Annotated[
    int | None,
    typer.Option(help="Steps between checkpoints; 0: per epoch only [default: 500].", rich_help_panel=OUTPUT),
]
LogEvery = Annotated[
    int | None, typer.Option(help="Steps between metric records [default: 10].", rich_help_panel=OUTPUT)
]
ShowProgress = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress", help="Progress bar [default: progress].", rich_help_panel=OUTPUT
    ),
]
Tensorboard = Annotated[
    bool | None,
    typer.Option(
        "--tensorboard/--no-tensorboard",
        help="TensorBoard events when installed [default: tensorboard].",
        rich_help_panel=OUTPUT,
    ),
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print the config as JSON and exit without training [default: off].",
        rich_help_panel=OUTPUT,
    ),
]

_EXAMPLES_DEPTH = (
    "Examples:\n\n"
    "  depthmask train depth --network hu2019_resnet50 --pretrained --data nyu-csv:data/nyu2_train.csv\n\n"
    "  depthmask train depth -n hu2019_tiny -d 'synthetic:frames=400' --size 64x96 "
    "--epochs 3 --device cpu\n\n"
    "  torchrun --nproc-per-node 4 --no-python depthmask train depth -n hu2019_densenet161 "
    "-d kitti:/data/kitti\n\n"
    "  depthmask train depth -n hu2019_resnet50 -d kitti:/data/kitti --resume runs/train-depth"
)
_EXAMPLES_MASK = (
    "Examples:\n\n"
    "  depthmask train mask --depth-checkpoint model_resnet --data nyu-csv:data/nyu2_train.csv --lam 5\n\n"
    "  depthmask train mask --depth-network my_pkg.nets:build --depth-checkpoint n.pt --data dashcam.mp4\n\n"
    "  depthmask train mask -n mask_drn_tiny --depth-checkpoint runs/train-depth/last.safetensors "
    "-d 'synthetic:frames=400' --size 64x96 --device cpu\n\n"
    "  torchrun --nproc-per-node 8 --no-python depthmask train mask --depth-checkpoint model_densenet "
    "-d kitti:/data/kitti --amp bf16"
)


@train_app.command("depth", epilog=_EXAMPLES_DEPTH)
@user_errors
def depth(
    data: Data,
    input_size: InputSize = None,
    on_bad_input: OnBadInput = None,
    network: Annotated[
        str | None,
        typer.Option(
            "--network",
            "-n",
            help="N: registry name or module:factory [default: hu2019_resnet50].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    checkpoint: Checkpoint = None,
    pretrained: Pretrained = None,
    loss: Annotated[
        LossChoice | None,
        typer.Option(
            help="hu2019: l_depth+l_grad+l_normal; fcrn: ℓ1; berhu: reverse Huber [default: by family].",
            rich_help_panel=TRAINING,
        ),
    ] = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    max_steps: MaxSteps = None,
    lr: Lr = None,
    weight_decay: WeightDecay = None,
    schedule: Schedule = None,
    lr_step_epochs: LrStepEpochs = None,
    lr_gamma: LrGamma = None,
    seed: Seed = None,
    deterministic: Deterministic = None,
    resume: Resume = None,
    amp: Amp = None,
    device: Device = None,
    channels_last: ChannelsLast = None,
    cudnn_benchmark: CudnnBenchmark = None,
    workers: Workers = None,
    out: Out = None,
    checkpoint_every: CheckpointEvery = None,
    log_every: LogEvery = None,
    progress: ShowProgress = None,
    tensorboard: Tensorboard = None,
    dry_run: DryRun = False,
) -> None:
    """Train the depth net N on images with ground-truth depth.

    Defaults are the authors': Adam, lr 1e-4 divided by 10 every 5 epochs, 20 epochs, weight decay 1e-4,
    batch 8 per process; the loss follows the network's family (Hu et al.: l_depth + l_grad + l_normal,
    FCRN: ℓ1), over pixels with ground truth.
    """
    from depthmask.train.config import DepthTrainConfig

    options = {k: v for k, v in locals().items() if k not in ("dry_run", "DepthTrainConfig")}
    cfg = DepthTrainConfig(**_given(options))
    if not dry_run:
        from depthmask.train.trainer import train_depth

        _report(train_depth(cfg))
    else:
        _print_config(cfg)


@train_app.command("mask", epilog=_EXAMPLES_MASK)
@user_errors
def mask(
    data: Data,
    input_size: InputSize = None,
    on_bad_input: OnBadInput = None,
    depth_checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="N's weights: our checkpoint, the authors' file (model_resnet, …) or a state dict.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    depth_network: Annotated[
        str | None,
        typer.Option(
            help="N: registry name or module:factory [default: named by --depth-checkpoint].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    network: Annotated[
        str | None,
        typer.Option(
            "--network",
            "-n",
            help="G: mask_drn_d_22 (the paper's) or mask_drn_tiny [default: mask_drn_d_22].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    checkpoint: Checkpoint = None,
    pretrained: Pretrained = None,
    lam: Annotated[
        float | None,
        typer.Option("--lam", help="λ, weight of mean(M) in Eq. 4 [default: 5].", rich_help_panel=TRAINING),
    ] = None,
    rank_weight: Annotated[
        float | None,
        typer.Option(
            "--rank-weight",
            help="μ of the ranking term: N on G's top-k % binarised (k drawn per step, gradient straight "
            "through), so the faithfulness curve's ranking is trained too [default: 0, Eq. 4 alone].",
            rich_help_panel=TRAINING,
        ),
    ] = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    max_steps: MaxSteps = None,
    lr: Lr = None,
    weight_decay: WeightDecay = None,
    schedule: Schedule = None,
    lr_step_epochs: LrStepEpochs = None,
    lr_gamma: LrGamma = None,
    seed: Seed = None,
    deterministic: Deterministic = None,
    resume: Resume = None,
    amp: Amp = None,
    device: Device = None,
    channels_last: ChannelsLast = None,
    cudnn_benchmark: CudnnBenchmark = None,
    workers: Workers = None,
    out: Out = None,
    checkpoint_every: CheckpointEvery = None,
    log_every: LogEvery = None,
    progress: ShowProgress = None,
    tensorboard: Tensorboard = None,
    dry_run: DryRun = False,
) -> None:
    """Train the mask net G against a frozen N by Algorithm 1; needs frames only, no ground truth.

    Defaults are the authors': G = mask_drn_d_22, Adam with constant lr 1e-4, 10 epochs, weight decay 1e-4,
    batch 8, λ = 5. N stays in eval mode with frozen weights; the mask multiplies the normalised image.
    """
    from depthmask.train.config import MaskTrainConfig

    options = {k: v for k, v in locals().items() if k not in ("dry_run", "MaskTrainConfig")}
    cfg = MaskTrainConfig(**_given(options))
    if not dry_run:
        from depthmask.train.trainer import train_mask

        _report(train_mask(cfg))
    else:
        _print_config(cfg)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The options the user set (None: left to the config's default), enums as their values."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        out[name] = value.value if isinstance(value, enum.Enum) else value
    if "input_size" in out:
        out["input_size"] = parse_size(out["input_size"])
    return out


def _print_config(cfg: TrainConfig) -> None:
    typer.echo(json.dumps(cfg.to_dict(), indent=2))


def _report(result: TrainResult) -> None:
    if result.checkpoint is None:  # ranks other than 0 under torchrun write and report nothing
        return
    metrics = " · ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items()))
    state = "finished" if result.finished else "stopped at --max-steps"
    console.print(
        f"{state} after {result.step} steps ({result.epochs_completed} epochs): {metrics}\n"
        f"weights: {result.checkpoint} · metrics: {result.out / 'metrics.jsonl'} · "
        f"resume with --resume {result.out}",
        highlight=False,
        soft_wrap=True,
    )
