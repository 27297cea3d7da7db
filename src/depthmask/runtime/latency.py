"""Latency statistics in the conventions of contracts §5 (p50/p90/p99/max, mean ± std)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """Percentiles, max, mean and std of a series (milliseconds, or any unit); empty → nulls."""
    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if a.size == 0:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None, "std": None}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "count": int(a.size),
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p99": round(float(p99), 3),
        "max": round(float(a.max()), 3),
        "mean": round(float(a.mean()), 3),
        "std": round(float(a.std()), 3),
    }
