"""Evaluation: N's depth metrics, and the paper's Table 1 / Figure 5 protocol for one or several G.

For every test image I (ImageNet-normalised; the mask multiplies the normalised image, so a masked-out
pixel becomes the dataset-mean colour) and every G:
- original: N(I), the no-mask row (sparseness 1);
- M: N(I ⊗ M) with M = G(I);
- M′: N(I ⊗ M′) with M′ = (M > ε), ε = 0.025; its sparseness (fraction of non-zero pixels) is Table 1's;
- edges (Figure 5): N(I ⊗ E), E = the Sobel edge map of I binarised per image by keeping its strongest
  pixels, as many as G's mean M′ sparseness over the dataset (so E and M′ keep the same share of pixels).
Each row carries the depth metrics against ground truth (`depthmask.train.metrics`; none for frames-only
data) and the mean per-frame mask statistics mask_mean, mask_keep, fid_rmse, fid_abs_rel, far_attention
(contracts §1, against N(I)). `evaluate(EvalConfig)` writes eval.csv, table1.csv and eval.json, and
with `curve` the faithfulness curves of every G (`depthmask.train.faithfulness`) in curve.csv.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from depthmask.errors import ConfigError, OutputError, closest
from depthmask.nets.curve import DEFAULT_KEEPS, edge_magnitude
from depthmask.sources.corruptions import SEVERITIES, check_corruptions
from depthmask.train.faithfulness import Curve, faithfulness_curves, top_share
from depthmask.train.metrics import (
    DATASET_METRICS,
    EPSILON,
    FAR_FRACTION,
    MASK_STATS,
    MetricAccumulator,
    image_errors,
    mask_statistics,
    mean_of,
)
from depthmask.train.robustness import RobustnessRow, robustness_table

DEVICES = ("auto", "cpu", "cuda")
CONDITIONS = ("original", "M", "M'", "edges")


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    """Settings of one `depthmask eval` run. Dataset options (crop, caps, split file) live in `data`."""

    data: str  # dataset spec, e.g. 'nyu-csv:data/nyu2_test.csv' or 'kitti:/data/kitti?split=eigen_test.txt'
    # N: registry name or module:factory (the user's own: imported); None: named by its checkpoint, which
    # may name only a registered network.
    depth_network: str | None = None
    depth_checkpoint: Path | None = None  # N's weights; None: the one the first G was trained against
    masks: tuple[Path, ...] = ()  # G checkpoints, e.g. one per λ; none: depth metrics of N only
    mask_network: str | None = None  # G's name for checkpoints that do not name it (plain state dicts)
    input_size: tuple[int, int] | None = None  # None: the size G was trained at, else N's nominal size
    depth_size: tuple[int, int] | None = None  # ground-truth size; None: the dataset's test default
    epsilon: float = EPSILON  # M′ = M > epsilon
    far_fraction: float = FAR_FRACTION  # far_attention's share of farthest pixels
    edges: bool = True  # the Figure 5 edge-map baseline (needs at least one G)
    batch_size: int = 8
    limit: int | None = None  # evaluate the first `limit` samples only
    workers: int = 0  # DataLoader worker processes
    device: str = "auto"  # auto: CUDA when available
    out: Path = Path("runs/eval")
    curve: bool = False  # faithfulness curves of every G beside random and edge baselines
    curve_keeps: tuple[float, ...] = DEFAULT_KEEPS  # the kept shares of the curves, in (0, 1]
    corruptions: tuple[str, ...] = ()  # robustness × attention under these (sources.corruptions)
    severities: tuple[int, ...] = SEVERITIES

    def __post_init__(self) -> None:
        for name in ("depth_checkpoint", "out"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        object.__setattr__(self, "masks", tuple(Path(p) for p in self.masks))
        object.__setattr__(self, "curve_keeps", tuple(float(k) for k in self.curve_keeps))
        object.__setattr__(self, "corruptions", tuple(self.corruptions))
        object.__setattr__(self, "severities", tuple(self.severities))
        for name in ("input_size", "depth_size"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        self._validate()

    def _validate(self) -> None:
        if not self.data:
            raise ConfigError("no evaluation data given; e.g. --data nyu-csv:data/nyu2_test.csv")
        if self.depth_network is None and self.depth_checkpoint is None and not self.masks:
            raise ConfigError(
                "nothing to evaluate: pass N (--depth-checkpoint and/or --depth-network) and optionally "
                "G checkpoints (--mask)"
            )
        if self.device not in DEVICES:
            raise ConfigError(
                f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}."
                + closest(self.device, DEVICES)
            )
        if not 0 <= self.epsilon < 1:
            raise ConfigError(f"--epsilon must be in [0, 1), got {self.epsilon}")
        if not 0 < self.far_fraction <= 1:
            raise ConfigError(f"--far-fraction must be in (0, 1], got {self.far_fraction}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be ≥ 0, got {self.workers}")
        if self.curve and not self.masks:
            raise ConfigError("--curve draws G's faithfulness curve: pass at least one G (--mask)")
        keeps = self.curve_keeps
        if not keeps or len(set(keeps)) != len(keeps) or not all(0 < k <= 1 for k in keeps):
            shown = ",".join(f"{100 * k:g}" for k in keeps)
            raise ConfigError(
                f"--curve-keep {shown}: give distinct percentages in (0, 100], e.g. 5,10,20,40,60,80,100"
            )
        if self.corruptions:
            check_corruptions(self.corruptions, self.severities)
            if not self.masks:
                raise ConfigError("--corrupt measures what moves in G's mask: pass at least one G (--mask)")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1 (or omitted), got {self.limit}")
        for name in ("input_size", "depth_size"):
            size = getattr(self, name)
            if size is not None and (len(size) != 2 or min(size) < 8):
                option = "--size" if name == "input_size" else "--depth-size"
                raise ConfigError(f"{option} must be HxW, both at least 8, got {size}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) if isinstance(v, Path) else v for v in value]
            out[f.name] = value
        return out


@dataclass(frozen=True)
class MaskNet:
    """One G under evaluation: a short label, the network, its λ and file when known."""

    label: str
    net: nn.Module
    lam: float | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class Condition:
    """One row: a way of feeding N, its depth metrics (empty without ground truth), its mean mask stats."""

    condition: str  # original, M, M', edges
    mask_net: str | None
    lam: float | None
    checkpoint: str | None
    images: int  # samples evaluated
    metrics: dict[str, float]
    stats: dict[str, float]

    def flat(self) -> dict[str, Any]:
        """One CSV row: identification, then every metric and statistic (blank when absent)."""
        row: dict[str, Any] = {
            "condition": self.condition,
            "mask_net": self.mask_net or "",
            "lambda": "" if self.lam is None else self.lam,
            "checkpoint": self.checkpoint or "",
            "images": self.images,
        }
        row |= {k: self.metrics.get(k, "") for k in DATASET_METRICS}
        row |= {k: self.stats.get(k, "") for k in MASK_STATS}
        return row


@dataclass(frozen=True)
class Table1Row:
    """The paper's Table 1 for one G (or the no-mask row), plus the Figure 5 edge baseline at its sparseness.

    RMSE columns are against ground truth (None without it); the fid_ columns against N(I).
    """

    label: str
    lam: float | None
    rmse_m: float | None
    rmse_m_prime: float | None
    sparseness: float
    rmse_edges: float | None = None
    edge_sparseness: float | None = None
    fid_rmse_m: float = 0.0
    fid_rmse_m_prime: float = 0.0
    fid_rmse_edges: float | None = None


@dataclass(frozen=True)
class EvalResult:
    """What `evaluate` computed and where it wrote it."""

    config: EvalConfig
    effective: dict[str, Any]
    conditions: list[Condition]
    table1: list[Table1Row]
    warnings: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    curves: list[Curve] = field(default_factory=list)  # --curve: G, random and edges for each G
    robustness: list[RobustnessRow] = field(default_factory=list)  # --corrupt: each G × corruption × severity

    def condition(self, name: str, mask_net: str | None = None) -> Condition:
        """The row of `name` ('original', 'M', "M'", 'edges') for `mask_net` (its label)."""
        for c in self.conditions:
            if c.condition == name and c.mask_net == mask_net:
                return c
        raise KeyError((name, mask_net))


# -- the protocol --------------------------------------------------------------------------------------


def edge_mask(image: torch.Tensor, keep: float) -> torch.Tensor:
    """Figure 5's baseline mask: the Sobel edge magnitude of I's grey image, its top `keep` share set to 1.

    `image` is ImageNet-normalised B×3×H×W; returns B×1×H×W of {0, 1} with round(keep·H·W) ones per image
    (ties broken by position). Replicate padding, so the frame border is not an edge.
    """
    return top_share(edge_magnitude(image), keep).to(image.dtype)


def collate_eval(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the images; keep ground truth as lists (KITTI's native sizes differ between drives)."""
    batch: dict[str, Any] = {"image": torch.stack([s["image"] for s in samples])}
    if "depth" in samples[0]:
        batch["depth"] = [s["depth"] for s in samples]
        batch["valid"] = [s.get("valid") for s in samples]
    batch["path"] = [s.get("path", "") for s in samples]
    return batch


class _Tally:
    """Per-condition accumulation: depth errors per image and mask statistics per image."""

    def __init__(self) -> None:
        self.errors = MetricAccumulator()
        self.stats: list[dict[str, float]] = []
        self.images = 0

    def add(
        self,
        batch: dict[str, Any],
        mask: torch.Tensor,
        depth: torch.Tensor,
        depth_masked: torch.Tensor,
        settings: dict[str, Any],
        epsilon: float,
        far_fraction: float,
    ) -> None:
        stats = mask_statistics(mask, depth, depth_masked, epsilon=epsilon, far_fraction=far_fraction)
        for i in range(mask.shape[0]):
            self.stats.append({k: float(v[i]) for k, v in stats.items()})
            if "depth" in batch:
                gt, valid = batch["depth"][i], batch["valid"][i]
                self.errors.add(image_errors(depth_masked[i].float().cpu(), gt, valid, **settings))
        self.images += mask.shape[0]


def run_protocol(
    depth_net: nn.Module,
    masks: Sequence[MaskNet],
    dataset: Dataset,
    *,
    settings: dict[str, Any],
    epsilon: float = EPSILON,
    far_fraction: float = FAR_FRACTION,
    edges: bool = True,
    batch_size: int = 8,
    workers: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[list[Condition], list[Table1Row]]:
    """Evaluate N alone and N fed through every G (M, M′, and the edge baseline) over `dataset`.

    `settings` are the metric options (min_depth, max_depth, crop). Networks must be in eval mode.
    """
    device = torch.device(device)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_eval
    )
    tallies: dict[tuple[str, str | None], _Tally] = {("original", None): _Tally()}
    for g in masks:
        tallies |= {("M", g.label): _Tally(), ("M'", g.label): _Tally()}
    common = {"settings": settings, "epsilon": epsilon, "far_fraction": far_fraction}
    with torch.inference_mode():
        for batch in loader:
            x = batch["image"].to(device)
            y = depth_net(x)
            tallies["original", None].add(batch, torch.ones_like(x[:, :1]), y, y, **common)
            for g in masks:
                m = g.net(x)
                m_prime = (m > epsilon).to(m.dtype)
                # Separate passes with the original's batch shape: kernels may sum in another order for
                # another batch size, and a mask of ones must reproduce N(I) exactly.
                y_m, y_mp = depth_net(x * m), depth_net(x * m_prime)
                tallies["M", g.label].add(batch, m, y, y_m, **common)
                tallies["M'", g.label].add(batch, m_prime, y, y_mp, **common)
        if edges and masks:
            # G's mean M′ sparseness over the whole set fixes how many edge pixels each image keeps.
            target = {
                g.label: mean_of(tallies["M'", g.label].stats, ["mask_keep"])["mask_keep"] for g in masks
            }
            for g in masks:
                tallies["edges", g.label] = _Tally()
            for batch in loader:
                x = batch["image"].to(device)
                y = depth_net(x)
                for g in masks:
                    e = edge_mask(x, target[g.label])
                    tallies["edges", g.label].add(batch, e, y, depth_net(x * e), **common)
    by_label = {g.label: g for g in masks}
    conditions = []
    for (name, label), tally in tallies.items():
        g = by_label.get(label) if label is not None else None
        conditions.append(
            Condition(
                condition=name,
                mask_net=label,
                lam=g.lam if g else None,
                checkpoint=g.checkpoint if g else None,
                images=tally.images,
                metrics=tally.errors.result(),
                stats=mean_of(tally.stats, MASK_STATS),
            )
        )
    return _ordered(conditions, masks), _table1(conditions, masks)


def _ordered(conditions: list[Condition], masks: Sequence[MaskNet]) -> list[Condition]:
    rank = {label: i for i, label in enumerate([None, *(g.label for g in masks)])}
    return sorted(conditions, key=lambda c: (rank[c.mask_net], CONDITIONS.index(c.condition)))


def _table1(conditions: list[Condition], masks: Sequence[MaskNet]) -> list[Table1Row]:
    rows = {(c.condition, c.mask_net): c for c in conditions}
    original = rows["original", None]
    out = [
        Table1Row(
            label="original",
            lam=None,
            rmse_m=original.metrics.get("rmse"),
            rmse_m_prime=original.metrics.get("rmse"),
            sparseness=1.0,
            fid_rmse_m=0.0,
            fid_rmse_m_prime=0.0,
        )
    ]
    for g in masks:
        m, mp, e = rows["M", g.label], rows["M'", g.label], rows.get(("edges", g.label))
        out.append(
            Table1Row(
                label=g.label,
                lam=g.lam,
                rmse_m=m.metrics.get("rmse"),
                rmse_m_prime=mp.metrics.get("rmse"),
                sparseness=mp.stats["mask_mean"],
                rmse_edges=e.metrics.get("rmse") if e else None,
                edge_sparseness=e.stats["mask_mean"] if e else None,
                fid_rmse_m=m.stats["fid_rmse"],
                fid_rmse_m_prime=mp.stats["fid_rmse"],
                fid_rmse_edges=e.stats["fid_rmse"] if e else None,
            )
        )
    return out


# -- the core function ---------------------------------------------------------------------------------


def evaluate(cfg: EvalConfig) -> EvalResult:
    """Load N, every G and the dataset, run the protocol, write eval.csv, table1.csv and eval.json."""
    from depthmask.train.data import dataset_from_spec

    warnings: list[str] = []
    mask_configs = _mask_configs(cfg.masks)
    depth_net, depth_ckpt = _depth_net(cfg, mask_configs, warnings)
    input_size, size_from = _input_size(cfg, depth_net, mask_configs)
    masks = _mask_nets(cfg, mask_configs, depth_net, warnings)
    dataset = base = dataset_from_spec(
        cfg.data, split="test", input_size=input_size, depth_size=cfg.depth_size
    )
    if cfg.limit is not None and cfg.limit < len(dataset):
        dataset = Subset(dataset, range(cfg.limit))
    # Datasets carry their evaluation convention (KITTI: Garg crop, 80 m cap); metrics apply it again.
    settings = {
        "min_depth": getattr(base, "min_depth", 1e-3),
        "max_depth": getattr(base, "max_depth", None),
        "crop": getattr(base, "eval_crop", None),
    }
    device = _device(cfg.device)
    depth_net.to(device).eval()
    for g in masks:
        g.net.to(device).eval()
    conditions, table1 = run_protocol(
        depth_net,
        masks,
        dataset,
        settings=settings,
        epsilon=cfg.epsilon,
        far_fraction=cfg.far_fraction,
        edges=cfg.edges,
        batch_size=cfg.batch_size,
        workers=cfg.workers,
        device=device,
    )
    curves = []
    if cfg.curve:
        curves = faithfulness_curves(
            depth_net, [(g.label, g.net) for g in masks], dataset, keeps=cfg.curve_keeps,
            batch_size=cfg.batch_size, workers=cfg.workers, device=device, collate=collate_eval,
        )  # fmt: skip
    robustness = []
    if cfg.corruptions:
        robustness = robustness_table(
            depth_net, [(g.label, g.net) for g in masks], dataset, cfg.corruptions, cfg.severities,
            settings=settings, epsilon=cfg.epsilon, far_fraction=cfg.far_fraction, batch_size=cfg.batch_size,
            workers=cfg.workers, device=device, collate=collate_eval,
        )  # fmt: skip
    has_gt = "depth" in dataset[0]
    if not conditions[0].metrics and has_gt:
        warnings.append("no image had a valid ground-truth pixel; depth metrics are empty")
    effective = {
        "input_size": list(input_size),
        "input_size_from": size_from,
        "depth_network": depth_net.depthmask_name,
        "depth_checkpoint": str(depth_ckpt) if depth_ckpt else None,
        "depth_sha256": depth_net.depthmask_sha256,
        "samples": len(dataset),
        "dataset": type(base).__name__,
        "ground_truth": has_gt,
        "gt": getattr(base, "gt", None) if has_gt else None,  # KITTI: 'annotated' or 'velodyne'
        "metric_settings": settings,
        "device": str(device),
    }
    result = EvalResult(cfg, effective, conditions, table1, warnings, curves=curves, robustness=robustness)
    return dataclasses.replace(result, files=write_results(result, cfg.out))


def _mask_configs(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The JSON config of each G checkpoint ({} for files that are not depthmask checkpoints)."""
    from depthmask.nets.checkpoint import is_depthmask_checkpoint, read_config

    for path in paths:
        if not path.is_file():
            raise ConfigError(f"G checkpoint {str(path)!r} does not exist")
    return [read_config(p) if is_depthmask_checkpoint(p) else {} for p in paths]


def _depth_net(
    cfg: EvalConfig, mask_configs: list[dict[str, Any]], warnings: list[str]
) -> tuple[nn.Module, Path | None]:
    """N as asked, or (nothing asked) the N the first G records it was trained against."""
    from depthmask.nets.loading import DEFAULT_BYO_SIZE, load_network
    from depthmask.nets.models.byo import require_named_by_user

    spec, ckpt = cfg.depth_network, cfg.depth_checkpoint
    if spec is None and ckpt is None:
        recorded = mask_configs[0].get("depth_checkpoint") if mask_configs else None
        if not recorded or not Path(recorded).is_file():
            what = (
                f"names N's weights {recorded!r}, which do not exist here"
                if recorded
                else "does not name N's weights"
            )
            raise ConfigError(
                f"no N given, and {cfg.masks[0]} {what}; pass --depth-checkpoint "
                "(and --depth-network for a plain state dict)"
            )
        spec, ckpt = mask_configs[0].get("depth_network"), Path(recorded)
        if spec is not None:  # G's record is a file: it may name code, which runs only if the user names it
            require_named_by_user(
                spec, cfg.depth_network, named_by=f"G checkpoint {cfg.masks[0]}", option="--depth-network"
            )
        warnings.append(f"N taken from {cfg.masks[0].name}'s record: {spec} with {ckpt}")
    net = load_network(
        spec,
        ckpt,
        role="depth",
        input_size=cfg.input_size or DEFAULT_BYO_SIZE,
        trusted_factory=cfg.depth_network,  # the user's --depth-network, never a name read from a file
        option="--depth-network",
    )
    if ckpt is None:
        warnings.append(f"N ({net.depthmask_name}) has random weights: no --depth-checkpoint given")
    return net, ckpt


def _input_size(
    cfg: EvalConfig, depth_net: nn.Module, mask_configs: list[dict[str, Any]]
) -> tuple[tuple[int, int], str]:
    """The networks' input size and where it came from: the option, G's training size, N's nominal size."""
    from depthmask.nets.loading import DEFAULT_BYO_SIZE
    from depthmask.nets.models import model_entry
    from depthmask.nets.models.byo import is_factory_spec

    if cfg.input_size is not None:
        return cfg.input_size, "--size"
    recorded = {tuple(c["input_size"]) for c in mask_configs if c.get("input_size")}
    if len(recorded) == 1:
        return next(iter(recorded)), "the size G was trained at"
    name = depth_net.depthmask_name
    return (
        DEFAULT_BYO_SIZE if is_factory_spec(name) else model_entry(name).input_size
    ), f"{name}'s nominal size"


def _mask_nets(
    cfg: EvalConfig, mask_configs: list[dict[str, Any]], depth_net: nn.Module, warnings: list[str]
) -> list[MaskNet]:
    """Every G with its label and λ; a note when a G was trained against other N weights."""
    from depthmask.nets.loading import load_network

    masks = []
    for path, label, config in zip(cfg.masks, _labels(cfg.masks), mask_configs, strict=True):
        spec = cfg.mask_network if not config else None
        net = load_network(spec, path, role="mask", option="--mask-network")
        sha = config.get("depth_sha256")
        if sha and depth_net.depthmask_sha256 and sha != depth_net.depthmask_sha256:
            warnings.append(
                f"{label} was trained against other N weights (sha256 {sha[:12]}…) than the N evaluated"
            )
        masks.append(MaskNet(label, net, config.get("lambda"), str(path)))
    return masks


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short names for G checkpoints: the file stem, or folder/stem where stems repeat (runs/λ3/last)."""
    stems = [p.stem for p in paths]
    labels = [s if stems.count(s) == 1 else f"{p.parent.name}/{s}" for p, s in zip(paths, stems, strict=True)]
    return [lab if labels.count(lab) == 1 else str(p) for p, lab in zip(paths, labels, strict=True)]


def _device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda, but torch sees no CUDA GPU here; use --device cpu or auto")
    return torch.device(choice)


# -- files ---------------------------------------------------------------------------------------------


def write_results(result: EvalResult, out: Path) -> dict[str, Path]:
    """eval.csv (one row per condition), table1.csv and eval.json (everything) under `out`."""
    from depthmask.environment import fingerprint

    try:
        out.mkdir(parents=True, exist_ok=True)
        files = {"csv": out / "eval.csv", "table1": out / "table1.csv", "json": out / "eval.json"}
        _write_csv(files["csv"], [c.flat() for c in result.conditions])
        _write_csv(files["table1"], [_flat(r) for r in result.table1])
        if result.curves:
            files["curve"] = out / "curve.csv"
            points = [dataclasses.asdict(p) | {"auc": c.auc} for c in result.curves for p in c.points]
            _write_csv(files["curve"], points)
        if result.robustness:
            files["corrupt"] = out / "corrupt.csv"
            _write_csv(files["corrupt"], [_flat(r) for r in result.robustness])
        doc = {
            "config": result.config.to_dict(),
            "effective": result.effective,
            "conditions": [dataclasses.asdict(c) for c in result.conditions],
            "table1": [dataclasses.asdict(r) for r in result.table1],
            "curves": [dataclasses.asdict(c) for c in result.curves],
            "robustness": [dataclasses.asdict(r) for r in result.robustness],
            "warnings": result.warnings,
            "environment": fingerprint(),
        }
        files["json"].write_text(json.dumps(_finite(doc), indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write evaluation results to {out}: {exc.strerror or exc}") from None
    return files


def _flat(row: Any) -> dict[str, Any]:
    """A dataclass row for a CSV: None as an empty cell."""
    return {k: "" if v is None else v for k, v in dataclasses.asdict(row).items()}


def _write_csv(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    rows = list(rows)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _finite(value: Any) -> Any:
    """NaN/inf → None, so eval.json stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
