"""The paper's numbers and the graph's fixed conventions, each defined once.

The graph, `depthmask.train.metrics`, parity, the runtime and the CLI all import these; a value written
out again anywhere else is a second copy of the rule.
"""

from __future__ import annotations

# ImageNet statistics in RGB order: what N and G take after /255 (spec/networks.md).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

EPSILON = 0.025  # M' = M > ε, the paper's binarisation (mask_keep, mask IoU, Table 1's sparseness)
FAR_FRACTION = 0.2  # far_attention: the mask's share on the 20 % of pixels N puts farthest
FID_MIN_DEPTH = 1e-3  # fid_abs_rel divides by N(I), kept ≥ 1 mm so an untrained N gives finite numbers
AUTHORS_LAMBDA = 5.0  # λ of the authors' released G (their code trains with λ = 5 only)
DEPTH_UNITS = "m"  # every depth output is in metres

# Per-frame flags: below / above these mask_keep values G kept almost nothing / almost everything, and
# the ratios of mask mass (far_attention) say nothing about where N looks.
MASK_EMPTY_KEEP = 0.01
MASK_FULL_KEEP = 0.99
# attention_jump: a frame whose M′ overlaps its source's previous M′ by less than this IoU (the default of
# `run --jump-iou`). With the demo nets consecutive frames of a 10 Hz drive overlap by 0.95 (p50) and a
# cut from one drive to another by 0.65.
ATTENTION_JUMP_IOU = 0.75
# The fidelity gate of a faster path (`--backend auto`, `export --fallback auto`, golden outputs): its
# depth and masked depth within 1 % abs_rel of the reference's, its masks' IoU (M > ε) at least 0.95.
GATE_MAX_ABS_REL = 0.01
GATE_MIN_IOU = 0.95
