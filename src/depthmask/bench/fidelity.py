"""Fidelity of a fast path against the fp32 reference, in the units of `depthmask.export.parity`: depth
abs_rel and δ1 (for `depth` and `depth_masked`), mask IoU of M > ε and the mask_mean shift.

The gate is the benchmark's own (the issue's bar for a fast path: depth abs_rel ≤ 1 %, mask IoU ≥ 0.95),
applied through parity's `gates_for`, which also handles an untrained N whose depth is mostly ≤ 1 mm.
`sensitivity` measures the reference against itself under one grey level of input noise: the floor
below which no precision can be expected to agree with fp32 (a random network's is far higher than a
trained one's; see `depthmask.bench.weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from depthmask.contract.constants import EPSILON
from depthmask.export.parity import Tolerance, compare_outputs, gates_for

FAST_PATH = Tolerance("fast path", depth_abs_rel=0.01, mask_iou=0.95)
COMPARED = ("mask", "depth", "depth_masked")  # the authors' way has no stats; stats are not a fidelity


def run_in_batches(
    infer: Callable[[np.ndarray], Mapping[str, np.ndarray]], frames: np.ndarray, batch: int
) -> dict[str, np.ndarray]:
    """Outputs of `infer` over `frames` in batches of `batch`, concatenated, float32."""
    parts = [infer(frames[i : i + batch]) for i in range(0, len(frames), batch)]
    return {k: np.concatenate([np.asarray(p[k], dtype=np.float32) for p in parts]) for k in parts[0]}


def fidelity_of(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    *,
    epsilon: float = EPSILON,
    tolerance: Tolerance = FAST_PATH,
    stats_columns: Sequence[str] = (),
) -> dict[str, Any]:
    """Depth and mask agreement of `candidate` with `reference` (outputs by name), and the gate's verdict."""
    names = [n for n in COMPARED if n in reference and n in candidate]
    outputs = compare_outputs(
        {n: reference[n] for n in names},
        {n: candidate[n] for n in names},
        stats_columns=stats_columns,
        epsilon=epsilon,
    )
    by_name = {o.name: o for o in outputs}
    out: dict[str, Any] = {}
    for name in ("depth", "depth_masked"):
        o = by_name.get(name)
        if o is not None:
            out[f"{name}_abs_rel"] = _round(o.abs_rel)
            out[f"{name}_delta1"] = _round(o.delta1)
            out[f"{name}_rmse"] = _round(o.rmse)
            out[f"{name}_valid_fraction"] = _round(o.valid_fraction)
    if "mask" in by_name:
        out["mask_iou"] = _round(by_name["mask"].iou)
        out["mask_mean_delta"] = _round(by_name["mask"].mask_mean_delta)
        out["mask_max_abs"] = _round(by_name["mask"].max_abs)
    gates = gates_for(outputs, tolerance)
    out["gate"] = {g.what: {"value": _round(g.value), "limit": g.limit, "ok": g.ok} for g in gates}
    out["passed"] = all(g.ok for g in gates)
    return out


def grey_level_noise(frames: np.ndarray, seed: int = 0) -> np.ndarray:
    """`frames` with every pixel moved by -1, 0 or +1 grey level at random (clipped to 0..255)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(-1, 2, frames.shape, dtype=np.int16)
    return np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def sensitivity(
    infer: Callable[[np.ndarray], Mapping[str, np.ndarray]],
    frames: np.ndarray,
    reference: Mapping[str, np.ndarray],
    *,
    batch: int = 1,
    epsilon: float = EPSILON,
) -> dict[str, Any]:
    """The fp32 reference against itself with ±1 grey level of noise on its input (see the module)."""
    noisy = run_in_batches(infer, grey_level_noise(frames), batch)
    return fidelity_of(reference, noisy, epsilon=epsilon)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
