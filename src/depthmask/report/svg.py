"""Small inline SVG charts for the report.

Drawn by hand so `report.html` stays one self-contained file and the runtime install needs no plotting
library: a line chart, a histogram, a stacked bar and a colour bar are all the report needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 220, 60, 36, 12, 12
TICKS = 5  # about how many labelled ticks an axis gets
NICE_STEPS = (1, 2, 5)  # tick steps are these × 10^k, so labels are round numbers
FLAT_PAD = 0.05  # a constant series gets ±5 % of its value (±1 around zero) as its axis
EDGE_PAD = 0.02  # and any other series 2 % of its span beyond each end
LEGEND_CHAR_W = 6.5  # about how wide a character of 11 px text is, to wrap a legend
HALO = 'paint-order="stroke" stroke="#fff" stroke-width="3"'  # text stays readable over a line
MARK_COLOURS = {"mask_empty": "#d62728", "mask_full": "#ff7f0e", "attention_jump": "#9467bd"}


@dataclass(frozen=True)
class Reference:
    """A dashed horizontal line at `value` with a label (e.g. what a uniform mask would score)."""

    value: float
    label: str


@dataclass(frozen=True)
class Mark:
    """A shaded band at frame `x` (a flagged frame); `label` says why, and picks its colour."""

    x: float
    label: str


@dataclass(frozen=True)
class _Frame:
    """The plot area's data ranges and the pixel transform into it."""

    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float

    def px(self, x: float) -> float:
        """The pixel column of data value `x`."""
        return PAD_L + (x - self.x_lo) / (self.x_hi - self.x_lo) * (W - PAD_L - PAD_R)

    def py(self, y: float) -> float:
        """The pixel row of data value `y` (SVG rows grow downwards)."""
        return H - PAD_B - (y - self.y_lo) / (self.y_hi - self.y_lo) * (H - PAD_B - PAD_T)


def _decimals(step: float) -> int:
    """Digits after the point that a multiple of `step` needs (0.2 → 1, 5 → 0, 0.05 → 2)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def nice_ticks(lo: float, hi: float, target: int = TICKS, integer: bool = False) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 × 10^k) covering [lo, hi], about `target` of them.

    The first tick is at or below `lo` and the last at or above `hi`, so the ticks can serve as the axis
    range. `integer` keeps the step at 1 or more (frame numbers).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got {lo}…{hi}")
    if hi <= lo:
        hi = lo + 1.0
    span = hi - lo
    candidates = [
        m * 10.0**exponent
        for exponent in range(math.floor(math.log10(span / target)) - 1, math.ceil(math.log10(span)) + 1)
        for m in NICE_STEPS
        if not integer or m * 10.0**exponent >= 1
    ]

    def count(step: float) -> int:
        return round(math.ceil(hi / step - 1e-9) - math.floor(lo / step + 1e-9)) + 1

    # Closest count to the target; `min` keeps the first (finer) step on a tie.
    step = min(candidates, key=lambda s: abs(count(s) - target))
    start = math.floor(lo / step + 1e-9)
    digits = _decimals(step)
    # `+ 0.0` turns a -0.0 into 0.0, so no tick is labelled "-0".
    return [round((start + k) * step, digits) + 0.0 for k in range(count(step))]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """`value` written with as many decimals as the tick step needs."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return f"{value:.{_decimals(abs(step) or 1.0)}f}"


def _y_range(values: Sequence[float], fixed: tuple[float, float] | None) -> tuple[float, float]:
    """The y data range: `fixed` (widened if data fall outside), else the data's, padded when flat."""
    lo, hi = min(values), max(values)
    if fixed is not None:
        return min(lo, fixed[0]), max(hi, fixed[1])
    # A constant series gets a range around its value; any other a margin, so its extremes stay off the frame.
    pad = (FLAT_PAD * abs(lo) or 1.0) if hi - lo < 1e-12 else EDGE_PAD * (hi - lo)
    return lo - pad, hi + pad


def _axes(
    frame: _Frame, x_ticks: Sequence[float], y_ticks: Sequence[float], x_label: str, y_label: str
) -> list[str]:
    """Axis lines, light grid lines at the y ticks, tick labels on both axes and the axis titles."""
    bottom, left = H - PAD_B, PAD_L
    parts = []
    for t in y_ticks:
        y = frame.py(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{tick_label(t, y_ticks)}</text>"
        )
    for t in x_ticks:
        x = frame.px(t)
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#444"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 15}" font-size="10" text-anchor="middle">'
            f"{tick_label(t, x_ticks)}</text>"
        )
    parts += [
        f'<line x1="{left}" y1="{bottom}" x2="{W - PAD_R}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{left}" y1="{PAD_T}" x2="{left}" y2="{bottom}" stroke="#444"/>',
        f'<text x="{(left + W - PAD_R) / 2}" y="{H - 4}" font-size="11" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="12" y="{(PAD_T + bottom) / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(PAD_T + bottom) / 2})">{escape(y_label)}</text>',
    ]
    return parts


def _svg(parts: Sequence[str], width: int = W, height: int = H) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _polylines(frame: _Frame, xs: Sequence[float], ys: Sequence[float | None], colour: str) -> list[str]:
    """One polyline per run of defined values (a None breaks the line); a lone point becomes a dot."""
    runs: list[list[str]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if not _finite(y):
            runs.append([])
            continue
        runs[-1].append(f"{frame.px(x):.1f},{frame.py(y):.1f}")
    parts = []
    for pts in runs:
        if len(pts) > 1:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(pts)}"/>'
            )
        elif pts:
            x, y = pts[0].split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{colour}"/>')
    return parts


def _reference(frame: _Frame, ref: Reference) -> list[str]:
    y = frame.py(ref.value)
    return [
        f'<line class="reference" x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#555" '
        f'stroke-dasharray="6 4"/>',
        f'<text x="{PAD_L + 6}" y="{y - 4:.1f}" font-size="10" fill="#555" {HALO}>{escape(ref.label)}</text>',
    ]


def _marks(frame: _Frame, marks: Sequence[Mark]) -> list[str]:
    """A translucent band one frame wide (at least 2 px) per flagged frame, behind the lines."""
    width = max(frame.px(frame.x_lo + 1) - frame.px(frame.x_lo), 2.0)
    parts = []
    for m in marks:
        colour = MARK_COLOURS.get(m.label, "#888")
        parts.append(
            f'<rect class="mark" x="{frame.px(m.x) - width / 2:.1f}" y="{PAD_T}" width="{width:.1f}" '
            f'height="{H - PAD_B - PAD_T}" fill="{colour}" fill-opacity="0.25">'
            f"<title>frame {m.x:g}: {escape(m.label)}</title></rect>"
        )
    return parts


def line_chart(
    series: dict[str, Sequence[float | None]],
    x: dict[str, Sequence[float]] | None = None,
    x_label: str = "frame",
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
    references: Sequence[Reference] = (),
    marks: Sequence[Mark] = (),
) -> str:
    """One polyline per named series; a None (or NaN) value leaves a gap instead of joining across it.

    `x` gives each series' x values (frame numbers), one per value; without it the index is used.
    `y_range` fixes the axis (0..1 for fractions); `references` are dashed lines, `marks` shaded frames.
    Returns an `<svg>`, or a short "no data" note when no value is defined.
    """
    xs = {name: list(x[name]) if x else list(range(len(s))) for name, s in series.items()}
    values = [v for s in series.values() for v in s if _finite(v)]
    if not values:
        return "<p><em>no data</em></p>"
    lo, hi = _y_range([*values, *(r.value for r in references)], y_range)
    y_ticks = nice_ticks(lo, hi)
    all_x = [v for s in xs.values() for v in s] + [m.x for m in marks]
    x_lo, x_hi = min(all_x), max(all_x)
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    frame = _Frame(x_lo, x_hi, y_ticks[0], y_ticks[-1])
    x_ticks = [t for t in nice_ticks(x_lo, x_hi, TICKS + 1, integer=True) if x_lo <= t <= x_hi]
    parts = _marks(frame, marks) + _axes(frame, x_ticks, y_ticks, x_label, y_label)
    for ref in references:
        parts += _reference(frame, ref)
    for k, (name, s) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        parts += _polylines(frame, xs[name], s, colour)
        parts.append(
            f'<text x="{W - PAD_R - 4}" y="{PAD_T + 12 + 13 * k}" font-size="11" text-anchor="end" '
            f'fill="{colour}" {HALO}>{escape(name)}</text>'
        )
    return _svg(parts)


def histogram(values: Sequence[float | None], bins: int = 30, x_label: str = "latency (ms)") -> str:
    """Bars of a histogram on round value ticks (x) and frame counts (y)."""
    a = np.asarray([v for v in values if _finite(v)], dtype=np.float64)
    if a.size == 0:
        return "<p><em>no data</em></p>"
    lo, hi = _y_range(a.tolist(), None)
    x_ticks = nice_ticks(lo, hi)
    counts, edges = np.histogram(a, bins=bins, range=(x_ticks[0], x_ticks[-1]))
    y_ticks = nice_ticks(0, max(int(counts.max()), 1), integer=True)
    frame = _Frame(x_ticks[0], x_ticks[-1], 0, y_ticks[-1])
    parts = _axes(frame, x_ticks, y_ticks, x_label, "frames")
    for c, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if c == 0:
            continue
        x0, x1, top = frame.px(left), frame.px(right), frame.py(c)
        parts.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{top:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
            f'height="{H - PAD_B - top:.1f}" fill="{COLOURS[0]}">'
            f"<title>{left:.1f}–{right:.1f}: {c}</title></rect>"
        )
    return _svg(parts)


def stacked_bar(segments: Sequence[tuple[str, float]], total: float | None = None, unit: str = "ms") -> str:
    """One horizontal bar of `segments` (name, value) end to end, with a legend of their values.

    When `total` exceeds the segments' sum, the rest is drawn as an outlined "not in a stage" segment,
    so a bar that does not add up shows it.
    """
    segments = [(name, float(v)) for name, v in segments if _finite(v) and v > 0]
    used = sum(v for _, v in segments)
    rest = (total - used) if total is not None and total > used * 1.001 else 0.0
    scale = max(used + rest, 1e-12)
    top, bar_h = 8, 22
    parts, x = [], float(PAD_L)
    span = W - PAD_L - PAD_R
    for k, (name, v) in enumerate(segments):
        w = v / scale * span
        parts.append(
            f'<rect class="segment" x="{x:.1f}" y="{top}" width="{w:.1f}" height="{bar_h}" '
            f'fill="{COLOURS[k % len(COLOURS)]}"><title>{escape(name)}: {v:.2f} {unit}</title></rect>'
        )
        x += w
    if rest > 0:
        w = rest / scale * span
        parts.append(
            f'<rect x="{x:.1f}" y="{top}" width="{w:.1f}" height="{bar_h}" fill="none" stroke="#999" '
            f'stroke-dasharray="3 2"><title>not in a stage: {rest:.2f} {unit}</title></rect>'
        )
    legend = [(name, v, COLOURS[k % len(COLOURS)]) for k, (name, v) in enumerate(segments)]
    if rest > 0:
        legend.append(("not in a stage", rest, "#fff"))
    swatches, rows = _legend(legend, unit, top + bar_h + 10)
    height = top + bar_h + 10 + 16 * rows
    return _svg(parts + swatches, W, height)


def _legend(items: Sequence[tuple[str, float, str]], unit: str, y0: float) -> tuple[list[str], int]:
    """Swatch + "name value unit" per item, wrapped at the chart's right edge; also the rows used."""
    parts: list[str] = []
    x, row = float(PAD_L), 0
    for name, v, colour in items:
        text = f"{name} {v:.2f} {unit}"
        width = 24 + LEGEND_CHAR_W * len(text)
        if x + width > W - PAD_R and x > PAD_L:
            x, row = float(PAD_L), row + 1
        y = y0 + 16 * row
        parts.append(
            f'<g><rect x="{x:.1f}" y="{y}" width="10" height="10" fill="{colour}" '
            f'stroke="#999"/><text x="{x + 14:.1f}" y="{y + 9}" font-size="11">{escape(text)}</text></g>'
        )
        x += width
    return parts, row + 1 if items else 0


def colour_bar(
    colours: Sequence[str],
    ticks: Sequence[tuple[float, str]],
    gradient_id: str,
    length: int = 160,
    title: str = "",
) -> str:
    """A vertical colour bar: `colours` run bottom (value 0) to top (value 1) of a gradient.

    `ticks` are (position 0..1 along the bar, label); `gradient_id` must be unique in the page, since
    every inline SVG shares the document's id space.
    """
    width, bar_w, top = 96, 16, 22
    stops = "".join(
        f'<stop offset="{k / max(len(colours) - 1, 1):.4f}" stop-color="{c}"/>' for k, c in enumerate(colours)
    )
    gid = escape(gradient_id)
    parts = [
        f'<defs><linearGradient id="{gid}" x1="0" y1="1" x2="0" y2="0">{stops}</linearGradient></defs>',
        f'<text x="0" y="10" font-size="10">{escape(title)}</text>',
        f'<rect x="2" y="{top}" width="{bar_w}" height="{length}" fill="url(#{gid})" stroke="#666"/>',
    ]
    for pos, label in ticks:
        y = top + (1 - pos) * length
        parts.append(
            f'<line x1="{2 + bar_w}" y1="{y:.1f}" x2="{6 + bar_w}" y2="{y:.1f}" stroke="#444"/>'
            f'<text x="{9 + bar_w}" y="{y + 4:.1f}" font-size="10">{escape(label)}</text>'
        )
    return _svg(parts, width, length + top + 6)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str = "",
    lo: float = 0.0,
    hi: float = 1.0,
    digits: int = 2,
) -> str:
    """A grid of cells coloured from white (`lo`) to deep blue (`hi`), each with its value written in it;
    a missing value is a grey cell with "–"."""
    cell_w, cell_h, left, top = 64, 26, 110, 34
    parts = [f'<text x="0" y="14" font-size="12" font-weight="bold">{escape(title)}</text>']
    for j, name in enumerate(columns):
        parts.append(
            f'<text x="{left + j * cell_w + cell_w / 2}" y="{top - 6}" font-size="11" '
            f'text-anchor="middle">{escape(name)}</text>'
        )
    for i, name in enumerate(rows):
        y = top + i * cell_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 17}" font-size="11" text-anchor="end">{escape(name)}</text>'
        )
        for j, v in enumerate(values[i]):
            x = left + j * cell_w
            if not _finite(v):
                fill, text, ink = "#ddd", "–", "#555"
            else:
                t = min(max((float(v) - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 0.0
                shade = round(255 - t * (255 - 40)), round(255 - t * (255 - 90)), round(255 - t * (255 - 160))
                fill, text = "#{:02x}{:02x}{:02x}".format(*shade), f"{float(v):.{digits}f}"
                ink = "#fff" if t > 0.6 else "#222"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"/>'
                f'<text x="{x + cell_w / 2 - 1}" y="{y + 17}" font-size="11" text-anchor="middle" '
                f'fill="{ink}">{text}</text>'
            )
    width = max(left + cell_w * max(len(columns), 1) + 8, round(LEGEND_CHAR_W * 1.1 * len(title)) + 8)
    return _svg(parts, width, top + cell_h * len(rows) + 8)
