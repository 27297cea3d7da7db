"""Small inline SVG charts for the report.

Drawn by hand so `report.html` stays one self-contained file and the runtime install needs no plotting
library; only a line chart and a histogram are needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 200, 48, 28, 12, 12


def _axes(lo: float, hi: float, x_label: str, y_label: str, x_max: float) -> list[str]:
    parts = [
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#444"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#444"/>',
        f'<text x="{W / 2}" y="{H - 4}" font-size="11" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{H / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 12 {H / 2})">'
        f"{escape(y_label)}</text>",
    ]
    # Enough significant digits that the three tick labels differ even for a narrow range.
    relative_span = max(hi - lo, 1e-12) / max(abs(hi), abs(lo), 1e-12)
    digits = max(3, int(np.ceil(-np.log10(relative_span))) + 2)
    for frac in (0.0, 0.5, 1.0):
        y = H - PAD_B - frac * (H - PAD_B - PAD_T)
        label = f"{lo + frac * (hi - lo):.{digits}g}"
        parts.append(f'<text x="{PAD_L - 4}" y="{y + 4}" font-size="10" text-anchor="end">{label}</text>')
    parts.append(
        f'<text x="{W - PAD_R}" y="{H - PAD_B + 12}" font-size="10" text-anchor="end">{x_max:.0f}</text>'
    )
    return parts


def line_chart(series: dict[str, Sequence[float | None]], x_label: str = "frame", y_label: str = "") -> str:
    """One polyline per named series against the frame number; gaps (None) break the line."""
    values = [v for s in series.values() for v in s if v is not None and np.isfinite(v)]
    if not values:
        return "<p><em>no data</em></p>"
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    n = max(len(s) for s in series.values())
    sx = (W - PAD_L - PAD_R) / max(n - 1, 1)
    sy = (H - PAD_B - PAD_T) / (hi - lo)
    parts = _axes(lo, hi, x_label, y_label, n - 1)
    for k, (name, s) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(s):
            if v is None or not np.isfinite(v):
                runs.append([])
                continue
            runs[-1].append(f"{PAD_L + i * sx:.1f},{H - PAD_B - (v - lo) * sy:.1f}")
        for pts in runs:
            if len(pts) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(pts)}"/>'
                )
            elif pts:
                x, y = pts[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{colour}"/>')
        parts.append(
            f'<text x="{W - PAD_R - 4}" y="{PAD_T + 12 + 13 * k}" font-size="11" text-anchor="end" '
            f'fill="{colour}">{escape(name)}</text>'
        )
    return f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">{"".join(parts)}</svg>'


def histogram(values: Sequence[float], bins: int = 30, x_label: str = "latency (ms)") -> str:
    """Bars of a histogram with the value range on the x axis."""
    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if a.size == 0:
        return "<p><em>no data</em></p>"
    counts, edges = np.histogram(a, bins=bins)
    top = max(int(counts.max()), 1)
    bw = (W - PAD_L - PAD_R) / bins
    parts = _axes(0, top, x_label, "frames", float(edges[-1]))
    parts.append(f'<text x="{PAD_L}" y="{H - PAD_B + 12}" font-size="10">{edges[0]:.1f}</text>')
    for i, c in enumerate(counts):
        h = (H - PAD_B - PAD_T) * c / top
        parts.append(
            f'<rect x="{PAD_L + i * bw + 1:.1f}" y="{H - PAD_B - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{COLOURS[0]}">'
            f"<title>{edges[i]:.1f}–{edges[i + 1]:.1f}: {c}</title></rect>"
        )
    return f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">{"".join(parts)}</svg>'
