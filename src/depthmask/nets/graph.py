"""The fused audit graph G → mask → N (contracts §1): one module for export, the torch backend and parity.

uint8 frames [B, H, W, 3] go in; inside: float, channel swap (BGR → RGB), /255, ImageNet z-score,
NHWC → NCHW. G's mask multiplies the *normalised* image, so a masked-out pixel becomes the dataset-mean
colour (as in the paper). In `audit` mode N runs once on the concatenated batch [I; I ⊗ M], then the
result is split in two. Names, modes and stats columns come from `depthmask.contract.spec`.

An audit graph built with `regions=True` also takes float32 weight maps [B, R, H, W] (contract
`REGIONS_NAME`): map 0 is the frame's content (0 on letterbox padding) and restricts every statistic to
it; each map also gets its own row of `region_stats` (the share of the mask's mass inside it, the
fidelity inside it, …). R is symbolic like the batch.

Every size inside comes from tensor shapes or from the (fixed) spatial size, never from the batch, so an
export keeps the batch axis symbolic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from depthmask.contract.constants import EPSILON, FAR_FRACTION, FID_MIN_DEPTH, IMAGENET_MEAN, IMAGENET_STD
from depthmask.contract.spec import (
    CHANNEL_ORDERS,
    CURVE_COLUMNS,
    CURVE_METHODS,
    REGION_COLUMNS,
    STATS_COLUMNS,
    GraphSpec,
    graph_spec,
)
from depthmask.errors import ConfigError
from depthmask.nets.curve import TIE_JITTER, agreement, edge_magnitude

# Bisection steps of the far-pixel threshold: 32 halvings take any fp32 depth range down to adjacent
# floats, so the threshold selects exactly the top-k pixels (ties aside).
THRESHOLD_STEPS = 32


class Preprocess(nn.Module):
    """uint8 [B, H, W, 3] (BGR or RGB) → float [B, 3, H, W], RGB, /255, ImageNet z-score."""

    def __init__(self, channel_order: str = "bgr") -> None:
        super().__init__()
        if channel_order not in CHANNEL_ORDERS:
            raise ConfigError(
                f"channel order must be one of {', '.join(CHANNEL_ORDERS)}, got {channel_order!r}"
            )
        self.channel_order = channel_order
        # A gather with constant indices swaps channels; every exporter and TensorRT take it.
        order = [2, 1, 0] if channel_order == "bgr" else [0, 1, 2]
        self.register_buffer("order", torch.tensor(order, dtype=torch.int64), persistent=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        # Cast before anything else: TensorRT takes uint8 only as an input converted by a Cast.
        x = frames.to(torch.float32).permute(0, 3, 1, 2)
        x = torch.index_select(x, 1, self.order)
        return (x / 255.0 - self.mean) / self.std


def far_pixels(
    depth: torch.Tensor, fraction: float = FAR_FRACTION, content: torch.Tensor | None = None
) -> torch.Tensor:
    """0/1 float [B, P]: the `fraction` of each row's pixels with the largest depth (at least one);
    with a 0/1 `content` [B, P], the fraction of the content pixels, chosen among them.

    The k-th largest value is found by bisection (compare, count, select) rather than `topk`/`sort`:
    TensorRT's TopK takes k ≤ 3840, and 20 % of a 228×304 mask is 13,862 pixels. The result equals
    topk's selection except among exactly tied depths, which are all kept.
    """
    lo = depth.amin(1, keepdim=True) - 1.0  # count(depth > lo) ≥ k
    if content is None:
        k: torch.Tensor | int = max(1, round(fraction * int(depth.shape[1])))  # never from the batch
    else:
        k = torch.round(fraction * content.sum(1, keepdim=True)).clamp_min(1.0)
        depth = torch.where(content > 0, depth, lo)  # padding is never among the farthest
    hi = depth.amax(1, keepdim=True)  # count(depth > hi) = 0 < k
    for _ in range(THRESHOLD_STEPS):
        mid = (lo + hi) * 0.5
        enough = (depth > mid).to(depth.dtype).sum(1, keepdim=True) >= k
        lo = torch.where(enough, mid, lo)
        hi = torch.where(enough, hi, mid)
    return (depth > lo).to(depth.dtype)


def _mean(x: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean over the last axis, weighted where `weight` (same shape) is given."""
    if weight is None:
        return x.mean(-1)
    return (x * weight).sum(-1) / weight.sum(-1).clamp_min(1e-12)


class AuditStats(nn.Module):
    """Per-frame statistics [B, K], columns `STATS_COLUMNS`, always computed in float32.

    far_attention resizes N's depth (h×w) bilinearly to the mask's H×W (align_corners=False) and measures
    the mask's share on the farthest `far_fraction` of pixels, as `depthmask.train.metrics` does, so the
    runtime and `depthmask eval` report the same number.
    """

    columns = STATS_COLUMNS

    def __init__(self, epsilon: float = EPSILON, far_fraction: float = FAR_FRACTION) -> None:
        super().__init__()
        self.epsilon = float(epsilon)
        self.far_fraction = float(far_fraction)

    def forward(
        self,
        mask: torch.Tensor,
        depth: torch.Tensor,
        depth_masked: torch.Tensor,
        content: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`content` [B, 1, H, W] (0/1 at the mask's size) restricts every column to the frame's content."""
        mask, depth, depth_masked = mask.float(), depth.float(), depth_masked.float()
        m = mask.flatten(1)
        y, yh = depth.flatten(1), depth_masked.flatten(1)
        v = content.flatten(1) if content is not None else None
        v_depth = at_size(content, depth).flatten(1) if content is not None else None
        far_depth = F.interpolate(depth, size=mask.shape[-2:], mode="bilinear", align_corners=False)
        far = far_pixels(far_depth.flatten(1), self.far_fraction, v)
        mass = m * v if v is not None else m
        diff = y - yh
        columns = {
            "mask_mean": _mean(m, v),
            "mask_keep": _mean((m > self.epsilon).float(), v),
            "fid_rmse": _mean(diff * diff, v_depth).sqrt(),
            "fid_abs_rel": _mean(diff.abs() / y.clamp_min(FID_MIN_DEPTH), v_depth),
            "far_attention": (mass * far).sum(1) / mass.sum(1).clamp_min(1e-12),
            "depth_mean": _mean(y, v_depth),
            "depth_masked_mean": _mean(yh, v_depth),
        }
        return torch.stack([columns[c] for c in self.columns], dim=1)


def at_size(weights: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Weight maps [B, R, H, W] resized (bilinear) to `like`'s spatial size, e.g. N's output."""
    if tuple(weights.shape[-2:]) == tuple(like.shape[-2:]):
        return weights
    return F.interpolate(weights, size=like.shape[-2:], mode="bilinear", align_corners=False)


class RegionStats(nn.Module):
    """Per-map statistics [B, R, K], columns `REGION_COLUMNS`, in float32. Each map is restricted to the
    frame's content (map 0), so map 0's row is the whole frame: its mask_share is 1."""

    columns = REGION_COLUMNS

    def __init__(self, epsilon: float = EPSILON) -> None:
        super().__init__()
        self.epsilon = float(epsilon)

    def forward(
        self, mask: torch.Tensor, depth: torch.Tensor, depth_masked: torch.Tensor, regions: torch.Tensor
    ) -> torch.Tensor:
        mask, depth, depth_masked = mask.float(), depth.float(), depth_masked.float()
        w = (regions * regions[:, :1]).flatten(2)  # [B, R, P] at the mask's size
        w_depth = at_size(regions * regions[:, :1], depth).flatten(2)  # [B, R, p] at N's output size
        m = mask.flatten(1).unsqueeze(1)  # [B, 1, P]
        y, yh = depth.flatten(1).unsqueeze(1), depth_masked.flatten(1).unsqueeze(1)
        mass = (m * w).sum(-1)
        columns = {
            "area": w.sum(-1) / w[:, :1].sum(-1).clamp_min(1e-12),
            "mask_share": mass / mass[:, :1].clamp_min(1e-12),
            "mask_mean": _mean(m, w),
            "mask_keep": _mean((m > self.epsilon).float(), w),
            "fid_abs_rel": _mean((y - yh).abs() / y.clamp_min(FID_MIN_DEPTH), w_depth),
            "depth_mean": _mean(y, w_depth),
        }
        return torch.stack([columns[c] for c in self.columns], dim=-1)


def tie_scale(score: torch.Tensor) -> torch.Tensor:
    """Per row [B, 1]: the scale the tie-breaking jitter is relative to: the score's range or largest
    magnitude (so a constant map is broken too), at least 1 — the bisection resolves 2⁻³² of a span that
    starts 1 below the minimum, so a smaller jitter could not be told apart on an all-zero map."""
    top, bottom = score.amax(1, keepdim=True), score.amin(1, keepdim=True)
    return torch.maximum(top - bottom, torch.maximum(top.abs(), bottom.abs())).clamp_min(1.0)


class CurveStats(nn.Module):
    """The faithfulness curve of each frame [B, methods, keeps, CURVE_COLUMNS]: for G's mask, a fixed
    random map and I's edge magnitude (`CURVE_METHODS`), the top k of the score kept (1) and the rest
    blanked, and N(I ⊗ M_k) against N(I). `masks` gives the kept maps (N sees them in the graph's one
    batched pass), `forward` measures the outputs. The random map and the tie-breaking jitter are fixed
    buffers (seeded), so every artefact of one graph keeps the same pixels."""

    def __init__(self, keeps: tuple[float, ...], input_size: tuple[int, int], seed: int = 0) -> None:
        super().__init__()
        self.keeps = tuple(float(k) for k in keeps)
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("random", torch.rand(1, 1, *input_size, generator=generator), persistent=False)
        self.register_buffer("jitter", torch.rand(1, 1, *input_size, generator=generator), persistent=False)

    def masks(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The kept maps, methods × keeps in order, each [B, 1, H, W] of {0, 1}."""
        scores = {"G": mask.float(), "random": self.random.expand_as(mask), "edges": edge_magnitude(x)}
        kept = []
        for method in CURVE_METHODS:
            score = scores[method].flatten(1)
            score = score + TIE_JITTER * tie_scale(score) * self.jitter.flatten(1)  # ties broken, order kept
            kept += [far_pixels(score, k).view_as(mask) for k in self.keeps]
        return kept

    def forward(
        self, depth: torch.Tensor, kept: list[torch.Tensor], outs: list[torch.Tensor]
    ) -> torch.Tensor:
        points = []
        for k, out in zip(kept, outs, strict=True):
            measured = agreement(depth, out)
            share = k.flatten(1).mean(1)
            points.append(torch.stack([share, measured["fid_delta1"], measured["fid_abs_rel"]], dim=1))
        b = depth.shape[0]
        return torch.stack(points, dim=1).view(b, len(CURVE_METHODS), len(self.keeps), len(CURVE_COLUMNS))


class AuditGraph(nn.Module):
    """N and G fused: uint8 frames → the mode's outputs (a tuple in `spec.outputs` order).

    `mask`: M = G(I). `masked`: M and Ŷ = N(I ⊗ M). `audit`: M, Y = N(I), Ŷ and the stats; N runs once on
    [I; I ⊗ M]. Both networks are frozen and in eval mode (BatchNorm running statistics). `regions=True`
    (audit only) adds the `regions` input and the `region_stats` output.
    """

    def __init__(
        self,
        depth_net: nn.Module | None,
        mask_net: nn.Module,
        *,
        mode: str = "audit",
        channel_order: str = "bgr",
        epsilon: float = EPSILON,
        far_fraction: float = FAR_FRACTION,
        input_size: tuple[int, int] | None = None,
        provenance: dict | None = None,
        regions: bool = False,
        curve: tuple[float, ...] = (),
    ) -> None:
        super().__init__()
        self.spec: GraphSpec = graph_spec(mode, regions=regions, curve=tuple(curve))
        if depth_net is None and mode != "mask":
            raise ConfigError(f"mode {mode!r} runs the depth net N; name one (only mode 'mask' runs G alone)")
        self.mode = mode
        self.channel_order = channel_order
        self.epsilon = float(epsilon)
        self.far_fraction = float(far_fraction)
        self.preprocess = Preprocess(channel_order)
        self.mask_net = mask_net
        # In mask mode N is not part of the graph (its weights would only bloat the file).
        self.depth_net = depth_net if mode != "mask" else None
        self.stats = AuditStats(epsilon, far_fraction) if mode == "audit" else None
        self.region_stats = RegionStats(epsilon) if regions else None
        if self.spec.curve_keeps and input_size is None:
            raise ConfigError("a curve output needs the frames' size: AuditGraph(..., input_size=(H, W))")
        self.curve = CurveStats(self.spec.curve_keeps, tuple(input_size)) if self.spec.curve_keeps else None  # type: ignore[arg-type]
        # The frame size (H, W) the graph is exported and run at, and where its weights came from
        # (`Provenance.to_dict()` per network), as recorded in an artefact's metadata.
        self.input_size = (int(input_size[0]), int(input_size[1])) if input_size is not None else None
        self.provenance = provenance
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    @property
    def regions(self) -> bool:
        """Whether the graph takes the `regions` weight maps."""
        return self.spec.regions

    def forward(self, frames: torch.Tensor, regions: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        if regions is not None and not self.spec.regions:
            raise ConfigError("this graph takes no region maps; build it with AuditGraph(..., regions=True)")
        if self.spec.regions and regions is None:  # the whole frame: one map of ones
            regions = torch.ones_like(frames[..., 0], dtype=torch.float32).unsqueeze(1)
        x = self.preprocess(frames)
        mask = self.mask_net(x)
        if self.mode == "mask":
            return (mask,)
        masked = x * mask  # one-channel mask broadcast over the three normalised channels
        if self.mode == "masked":
            return mask, self.depth_net(masked)
        # One pass of N over [I; I ⊗ M] (and the curve's I ⊗ M_k); unflatten by a constant keeps the
        # batch symbolic.
        kept = self.curve.masks(x, mask) if self.curve is not None else []
        inputs = [x, masked, *(x * k.to(x.dtype) for k in kept)]
        depth, depth_masked, *curve_outs = (
            self.depth_net(torch.cat(inputs, dim=0)).unflatten(0, (len(inputs), -1)).unbind(0)
        )
        content = regions.float()[:, :1] if self.region_stats is not None and regions is not None else None
        outputs = [mask, depth, depth_masked, self.stats(mask, depth, depth_masked, content)]
        if self.region_stats is not None and regions is not None:
            outputs.append(self.region_stats(mask, depth, depth_masked, regions.float()))
        if self.curve is not None:
            outputs.append(self.curve(depth, kept, curve_outs))
        return tuple(outputs)

    @torch.no_grad()
    def named(self, frames: torch.Tensor, regions: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Run the graph; outputs by name."""
        return dict(zip(self.spec.outputs, self(frames, regions), strict=True))
