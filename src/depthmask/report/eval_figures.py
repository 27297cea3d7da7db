"""The figures of `depthmask eval`: faithfulness curves (`--curve`), robustness heat-maps (`--corrupt`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from depthmask.report.svg import heatmap, line_chart


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


def robustness_heatmap(rows: Sequence[dict[str, Any]], mask_net: str) -> str:
    """IoU of G's kept pixels under each corruption (rows) and severity (columns) with the clean mask:
    where a corruption moves what N looks at."""
    mine = [r for r in rows if r["mask_net"] == mask_net]
    corruptions = list(dict.fromkeys(r["corruption"] for r in mine))
    severities = sorted({r["severity"] for r in mine})
    value = {(r["corruption"], r["severity"]): r["mask_iou"] for r in mine}
    grid = [[value.get((c, s)) for s in severities] for c in corruptions]
    return heatmap(
        corruptions, [f"severity {s}" for s in severities], grid,
        title=f"mask IoU with the clean image's (M′ = M > ε), G = {mask_net}",
    )  # fmt: skip
