"""The faithfulness curves of `depthmask eval --curve` as one SVG chart (from eval.json's `curves`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from depthmask.report.svg import line_chart


def faithfulness_svg(curves: Sequence[dict[str, Any]]) -> str:
    """δ1 agreement of N(I ⊗ M_k) with N(I) against the share of pixels kept, one line per G and method,
    each labelled with its AUC."""
    series: dict[str, list[float | None]] = {}
    xs: dict[str, list[float]] = {}
    for c in curves:
        name = f"{c['method']} · {c['mask_net']} (AUC {c['auc']:.3f})"
        series[name] = [p["fid_delta1"] for p in c["points"]]
        xs[name] = [100 * p["keep"] for p in c["points"]]
    return line_chart(
        series, x=xs, x_label="pixels kept (%)", y_label="δ1 agreement with N(I) (fraction, 0–1)",
        y_range=(0.0, 1.0),
    )  # fmt: skip
