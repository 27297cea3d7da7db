"""Build `report.html` from a run directory: audit log, summary, samples, masks and the overlay video.

The report reads what the runtime wrote and nothing else. Keys that newer runs add (warnings, flags,
per-stage latency, ages, drops) are read with `.get`, so the summary of an older run still builds.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.contract.constants import (
    ATTENTION_JUMP_IOU,
    DEPTH_UNITS,
    FAR_FRACTION,
    MASK_EMPTY_KEEP,
    MASK_FULL_KEEP,
)
from depthmask.errors import SourceError
from depthmask.report.eval_figures import faithfulness_svg
from depthmask.report.svg import Mark, Reference, colour_bar, histogram, line_chart, stacked_bar

MAX_EMBED_VIDEO = 25 * 2**20  # larger videos are linked, not embedded
PANELS = ("input", "mask", "masked", "depth", "depth_masked")  # the sample strip's columns, in order
DEPTH_PANELS = ("depth", "depth_masked")
COLOUR_STOPS = 17  # gradient stops sampled from an OpenCV colour map (enough for a smooth bar)
STAT_KEYS = ("p50", "p90", "p99", "mean")
FRACTION = "fraction, 0–1"


@dataclass(frozen=True)
class ChartSpec:
    """One per-frame chart: the audit columns it draws, its y axis title (with unit) and its axis."""

    title: str
    columns: tuple[str, ...]
    y_label: str
    fraction: bool = False  # a 0..1 axis, so a constant or small-range fraction is not stretched
    note: str = ""
    undefined: str = "no frame has a value"  # what to say when every value is null
    uniform_line: bool = False  # a dashed line at what a mask blind to depth would score
    flag_marks: tuple[str, ...] = ()  # shade the frames carrying these flags


CHARTS = (
    ChartSpec(
        "mask_mean", ("mask_mean",), f"mask_mean ({FRACTION})", fraction=True, note="the mean of G's mask"
    ),
    ChartSpec(
        "mask_keep",
        ("mask_keep",),
        f"mask_keep ({FRACTION})",
        fraction=True,
        note="the share of pixels G keeps",
        flag_marks=("mask_empty", "mask_full"),
    ),
    ChartSpec(
        "fid_rmse",
        ("fid_rmse",),
        f"fid_rmse ({DEPTH_UNITS})",
        note="how far N's depth moved (RMSE) when it saw only the kept pixels",
    ),
    ChartSpec(
        "far_attention",
        ("far_attention",),
        f"far_attention ({FRACTION})",
        fraction=True,
        note="the mask's share on the farthest part of the scene",
        undefined="undefined: the mask was empty on every frame",
        uniform_line=True,
    ),
    ChartSpec(
        "mask_iou_prev",
        ("mask_iou_prev",),
        f"mask_iou_prev ({FRACTION})",
        fraction=True,
        note="is the attention stable? IoU of the kept pixels with the previous frame's (1: the same)",
        undefined="undefined: no source had two inferred frames",
        flag_marks=("attention_jump",),
    ),
    ChartSpec(
        "mask_drift",
        ("mask_drift",),
        f"mask_drift ({FRACTION})",
        note="the mean change of G's mask since the previous frame (0: the same mask)",
        undefined="undefined: no source had two inferred frames",
        flag_marks=("attention_jump",),
    ),
    ChartSpec(
        "depth",
        ("depth_mean", "depth_masked_mean"),
        f"mean depth ({DEPTH_UNITS})",
        note="N's mean depth from the whole frame and from the masked frame",
    ),
)

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}section{margin:28px 0}
table{border-collapse:collapse;font-size:14px;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}td.num{text-align:right}
.strip{display:grid;grid-template-columns:repeat(5,minmax(0,1fr)) 96px;gap:4px;margin-bottom:8px}
.strip figure{margin:0}.strip img{width:100%;image-rendering:pixelated}
figcaption{font-size:12px;color:#555}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:22px}.card.flagged{border-color:#d62728;background:#fff5f5}
.warnings{border:2px solid #e69500;background:#fff4e0;border-radius:6px;padding:8px 16px}
.warnings h2{margin:4px 0;font-size:18px;color:#8a5300}.warnings li{margin:4px 0}
.headline{font-size:18px}.note{color:#555;font-size:13px}.undefined{color:#8a5300;font-style:italic}
.with-bar{display:flex;gap:12px;align-items:flex-start}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:4px 24px}
.charts svg{max-width:100%;height:auto}.charts h3{margin:12px 0 4px}.charts .note{margin:0 0 4px}
"""


def _img_tag(data: bytes, alt: str, mime: str = "image/png") -> str:
    return f'<img alt="{escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    return buf.tobytes() if ok else b""


def _num(value: Any, digits: int = 2) -> str:
    """A number for a table cell or a sentence; "–" for a missing or null one."""
    if value is None or not isinstance(value, (int, float)) or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


def _stat(summary: dict[str, Any] | None, key: str) -> float | None:
    """`summary[key]` of a stats summary dict, None when the dict or the value is absent or null."""
    value = (summary or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def read_audit(run_dir: Path) -> list[dict[str, Any]]:
    """The audit log's records (a torn last line from an interrupted run is skipped)."""
    records = []
    path = run_dir / "audit.jsonl"
    if not path.is_file():
        return records
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def mean_mask(run_dir: Path) -> np.ndarray | None:
    """The average of every saved mask PNG of the run (None when masks were not saved)."""
    total, n = None, 0
    for path in sorted(run_dir.glob("*/mask/*.png")):
        m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if m is None:
            continue
        m = m.astype(np.float64) / 255.0
        if total is None:
            total = np.zeros_like(m)
        if m.shape != total.shape:
            continue
        total += m
        n += 1
    return None if total is None or n == 0 else total / n


def read_written(folder: Path, name: str, written_by: str) -> dict[str, Any]:
    """The JSON file `name` that a depthmask command wrote into `folder`; SourceError naming that
    command when it is not there."""
    path = folder / name
    if not path.is_file():
        raise SourceError(f"{folder} has no {name}; point at a folder written by {written_by}")
    return json.loads(path.read_text())


def page(title: str, parts: list[str]) -> str:
    """A self-contained HTML page: the shared style, `title` as its heading, then `parts`."""
    head = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{CSS}</style>"
    )
    return "\n".join([head + "</head><body>", f"<h1>{escape(title)}</h1>", *parts, "</body></html>"])


def build_report(run_dir: str | Path, output: str | Path | None = None, shown_as: str | None = None) -> Path:
    """Write a self-contained HTML report of a run directory; returns its path. `shown_as`: the folder
    named at the top (default `run_dir`; a fleet names where the drive's outputs are committed)."""
    run_dir = Path(run_dir)
    summary = read_written(run_dir, "summary.json", "`depthmask run` or `demo`")
    records = read_audit(run_dir)
    out = Path(output) if output else run_dir / "report.html"
    model = summary.get("config", {}).get("model")
    parts = [
        f"<p class='sub'>{escape(shown_as or str(run_dir))} · model {escape(str(model))}</p>",
        _warnings_box(summary),
        _cards(summary),
        _mask_section(run_dir, summary),  # where G looks: the audit's first answer
        _time_series(records, summary),
        _regions_section(summary),
        _run_curve(summary),
        _latency_section(summary, records),
        _samples_section(run_dir, summary),
        _video_section(run_dir, summary),
        _json_section("Model metadata", summary.get("model", {})),
        _json_section("Environment", summary.get("environment", {})),
        _json_section("Run settings", summary.get("config", {})),
    ]
    out.write_text(page("depthmask audit report", parts))
    return out


# -- top: warnings and cards ----------------------------------------------------------------------


def _warnings_box(summary: dict[str, Any]) -> str:
    """The run's warnings (aspect, empty or full masks, …) in a box above everything else."""
    items = []
    for w in summary.get("warnings") or []:
        kind, message = (w.get("kind", ""), w.get("message", "")) if isinstance(w, dict) else ("", w)
        label = f"<b>{escape(str(kind))}</b>: " if kind else ""
        items.append(f"<li>{label}{escape(str(message))}</li>")
    if not items:
        return ""
    return f"<section class='warnings' role='alert'><h2>⚠ Warnings</h2><ul>{''.join(items)}</ul></section>"


def _compute_per_batch(summary: dict[str, Any]) -> dict[str, Any]:
    """Inference alone per batch; older summaries call it `infer_ms_per_batch`."""
    return (summary.get("compute_ms") or {}).get("per_batch") or summary.get("infer_ms_per_batch") or {}


def _cards(summary: dict[str, Any]) -> str:
    c = summary.get("counts", {})
    stats = summary.get("stats", {})
    lat = summary.get("latency_ms") or {}
    failed = c.get("decode_error", 0) + c.get("skipped", 0)
    cards = [
        ("frames", f"{summary.get('frames', '–')}"),
        ("ok / dropped / failed", f"{c.get('ok', 0)} / {c.get('dropped', 0)} / {failed}"),
        ("frames/s", f"{summary.get('throughput_fps') or 0:.1f}"),
        ("end-to-end p50 ms", _num(_stat(lat, "p50"), 1)),
        ("compute p50 ms / batch", _num(_stat(_compute_per_batch(summary), "p50"), 1)),
        ("mask_mean", _num(_stat(stats.get("mask_mean"), "mean"), 3)),
        ("mask_keep", _num(_stat(stats.get("mask_keep"), "mean"), 3)),
        (f"fid_rmse ({DEPTH_UNITS})", _num(_stat(stats.get("fid_rmse"), "mean"), 3)),
        ("far_attention", _num(_stat(stats.get("far_attention"), "mean"), 3)),
    ]
    body = "".join(f"<div class='card'>{escape(k)}<b>{escape(v)}</b></div>" for k, v in cards)
    return f"<section class='cards'>{body}{_flags_card(summary)}</section>"


def _flags_card(summary: dict[str, Any]) -> str:
    """The flagged-frame counts, only when some frame was flagged."""
    flags = {k: v for k, v in (summary.get("flags") or {}).items() if v}
    if not flags:
        return ""
    text = " · ".join(f"{k} {v}" for k, v in flags.items())
    return f"<div class='card flagged'>flagged frames<b>{escape(text)}</b></div>"


# -- per-frame charts ------------------------------------------------------------------------------


def _far_attention_uniform(summary: dict[str, Any]) -> float:
    """What a mask blind to depth scores on far_attention (the demo records it; else the contract's)."""
    return float((summary.get("demo") or {}).get("far_attention_uniform", FAR_FRACTION))


def _flag_marks(records: list[dict[str, Any]], labels: tuple[str, ...]) -> list[Mark]:
    return [Mark(float(r["frame"]), f) for r in records for f in r.get("flags") or () if f in labels]


def _series(
    ok: list[dict[str, Any]], columns: tuple[str, ...]
) -> tuple[dict[str, list[float | None]], dict[str, list[float]]]:
    """(values, frame numbers) per "column · source": a null value stays None so its frame is a gap."""
    values: dict[str, list[float | None]] = {}
    frames: dict[str, list[float]] = {}
    for column in columns:
        for r in ok:
            source = str(r.get("source"))
            name = f"{column} · {Path(source).name or source}"
            values.setdefault(name, []).append(r.get(column))
            frames.setdefault(name, []).append(float(r["frame"]))
    return values, frames


def _chart(spec: ChartSpec, ok: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """One chart's heading, note and SVG (or the reason there is no chart)."""
    values, frames = _series(ok, spec.columns)
    head = f"<h3>{escape(spec.title)}</h3>" + (
        f"<p class='note'>{escape(spec.note)}</p>" if spec.note else ""
    )
    if not any(v is not None for s in values.values() for v in s):
        return f"<div>{head}<p class='undefined'>{escape(spec.undefined)}</p></div>"
    references, marks, legend = [], [], ""
    if spec.uniform_line:
        uniform = _far_attention_uniform(summary)
        references.append(Reference(uniform, f"uniform mask {uniform:.2f}"))
    if spec.flag_marks:
        marks = _flag_marks(ok, spec.flag_marks)
        legend = _flag_legend(marks, summary)
    chart = line_chart(
        values,
        x=frames,
        y_label=spec.y_label,
        y_range=(0.0, 1.0) if spec.fraction else None,
        references=references,
        marks=marks,
    )
    return f"<div>{head}{chart}{legend}</div>"


def _flag_legend(marks: list[Mark], summary: dict[str, Any]) -> str:
    if not marks:
        return ""
    if all(m.label == "attention_jump" for m in marks):
        below = (summary.get("config") or {}).get("jump_iou", ATTENTION_JUMP_IOU)
        return (
            f"<p class='note'>Shaded (purple): {len(marks)} frame(s) flagged attention_jump, mask_iou_prev "
            f"below {below:g} (a scene cut, glare, a failing camera, or attention that is not stable).</p>"
        )
    empty = sum(m.label == "mask_empty" for m in marks)
    full = sum(m.label == "mask_full" for m in marks)
    return (
        f"<p class='note'>Shaded: {empty} frame(s) flagged mask_empty (red, G kept under "
        f"{MASK_EMPTY_KEEP:.0%} of the pixels) and {full} flagged mask_full (orange, over "
        f"{MASK_FULL_KEEP:.0%}).</p>"
    )


def _time_series(records: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    ok = [r for r in records if r.get("status") == "ok" and "frame" in r]
    if not ok:
        return "<section><h2>Per-frame statistics</h2><p><em>no processed frames</em></p></section>"
    charts = [_chart(spec, ok, summary) for spec in CHARTS if any(c in r for r in ok for c in spec.columns)]
    return f"<section><h2>Per-frame statistics</h2><div class='charts'>{''.join(charts)}</div></section>"


# -- images and colour bars -------------------------------------------------------------------------


def colour_stops(colormap: int, reverse: bool = False, n: int = COLOUR_STOPS) -> list[str]:
    """`n` hex colours sampled evenly from an OpenCV colour map, from index 0 to 255 (or reversed)."""
    ramp = np.linspace(0, 255, n).round().astype(np.uint8).reshape(-1, 1)
    bgr = cv2.applyColorMap(ramp, colormap)[:, 0]
    hexes = [f"#{r:02x}{g:02x}{b:02x}" for b, g, r in bgr.tolist()]
    return hexes[::-1] if reverse else hexes


def _mask_section(run_dir: Path, summary: dict[str, Any]) -> str:
    m = mean_mask(run_dir)
    if m is None:
        return ""
    heat = cv2.applyColorMap(np.clip(m * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    scale = max(1, 480 // max(heat.shape[1], 1))
    size = (heat.shape[1] * scale, heat.shape[0] * scale)
    sizes = {tuple(v) for v in (summary.get("source_sizes") or {}).values()}
    if len(sizes) == 1 and (summary.get("config") or {}).get("fit") == "resize":
        # A stretch is undone by a stretch: drawn at the footage's aspect, as the overlay is.
        (h, w), width = next(iter(sizes)), max(size[0], 480)
        size = (width, max(1, round(width * h / w)))
    heat = cv2.resize(heat, size, interpolation=cv2.INTER_LINEAR)
    ticks = [(v, f"{v:.1f}") for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    bar = colour_bar(
        colour_stops(cv2.COLORMAP_INFERNO), ticks, "bar-mean-mask", max(heat.shape[0], 100), "mask"
    )
    return (
        "<section><h2>Mean mask over the run</h2><p>Where N looked on average (bright = kept). "
        f"Mean value {m.mean():.3f}.</p>"
        f"<div class='with-bar'>{_img_tag(_png(heat), 'mean mask')}{bar}</div></section>"
    )


def _depth_bar(sample: dict[str, Any], gradient_id: str) -> str:
    """The magma bar of a sample's depth panels: near = bright; metres when the run recorded its range."""
    stops = colour_stops(cv2.COLORMAP_MAGMA, reverse=True)  # depth panels map near (low) to bright
    rng = sample.get("depth_range_m", sample.get("depth_range"))  # [lo, hi] metres of the panels' colours
    if isinstance(rng, (list, tuple)) and len(rng) == 2 and all(isinstance(v, (int, float)) for v in rng):
        lo, hi = (float(v) for v in rng)
        ticks = [
            (0.0, f"{lo:.1f} {DEPTH_UNITS}"),
            (0.5, f"{(lo + hi) / 2:.1f}"),
            (1.0, f"{hi:.1f} {DEPTH_UNITS}"),
        ]
        title = f"depth ({DEPTH_UNITS})"
    else:  # runs before the range was recorded: the colours still say near from far
        ticks = [(0.0, "near"), (1.0, "far")]
        title = "depth"
    return colour_bar(stops, ticks, gradient_id, 80, title)


def _sample_row(run_dir: Path, sample: dict[str, Any], index: int) -> str:
    figs = []
    for panel in PANELS:
        name = sample.get("files", {}).get(panel)
        path = run_dir / "samples" / name if name else None
        if path is None or not path.is_file():
            figs.append("<figure></figure>")  # keeps every panel in its column
            continue
        figs.append(
            f"<figure>{_img_tag(path.read_bytes(), panel)}<figcaption>{escape(panel)}</figcaption></figure>"
        )
    if any(sample.get("files", {}).get(p) for p in DEPTH_PANELS):
        figs.append(f"<figure>{_depth_bar(sample, f'bar-depth-{index}')}</figure>")
    source = str(sample.get("source", ""))
    return (
        f"<p>{escape(Path(source).name or source)} · frame {escape(str(sample.get('frame')))}</p>"
        f"<div class='strip'>{''.join(figs)}</div>"
    )


def _samples_section(run_dir: Path, summary: dict[str, Any]) -> str:
    samples = [s for o in summary.get("outputs", []) for s in o.get("samples", [])]
    if not samples:
        return ""
    rows = [_sample_row(run_dir, s, i) for i, s in enumerate(samples)]
    return "<section><h2>Sample frames</h2>" + "".join(rows) + "</section>"


# -- latency -----------------------------------------------------------------------------------------


def _latency_headline(summary: dict[str, Any]) -> str:
    """Which latency the number is: end to end, with inference alone beside it."""
    e2e = _stat(summary.get("latency_ms"), "p50")
    if e2e is None:
        return "<p class='headline'>no end-to-end latency was measured</p>"
    compute = _stat(_compute_per_batch(summary), "p50")
    tail = f" (compute p50 {compute:.1f} ms per batch)" if compute is not None else ""
    return f"<p class='headline'><b>end-to-end latency p50 {e2e:.1f} ms</b>{tail}</p>"


def _stats_table(
    rows: list[tuple[str, dict[str, Any] | None]], keys: tuple[str, ...] = STAT_KEYS, unit: str = "ms"
) -> str:
    """A table of stats summaries, one row each (values in `unit`); rows without a summary are left out."""
    body = []
    for name, st in rows:
        if not st or not st.get("count"):
            continue
        cells = "".join(f"<td class='num'>{_num(st.get(k))}</td>" for k in keys)
        body.append(f"<tr><td>{escape(name)}</td><td class='num'>{st['count']}</td>{cells}</tr>")
    if not body:
        return ""
    head = "".join(f"<th>{k}</th>" for k in keys)
    return f"<table><tr><th>{escape(unit)}</th><th>count</th>{head}</tr>{''.join(body)}</table>"


def _compute_table(summary: dict[str, Any]) -> str:
    compute = summary.get("compute_ms") or {}
    rows = [
        ("compute only, per batch (inference)", _compute_per_batch(summary)),
        ("compute only, per frame", compute.get("per_frame")),
        ("end-to-end (frame leaves its source → record written)", summary.get("latency_ms")),
    ]
    return _stats_table(rows)


def _stage_names(summary: dict[str, Any]) -> list[str]:
    """The stages that make up end-to-end latency (decode is before the clock starts)."""
    named = (summary.get("latency_stages") or {}).get("stages")
    return list(named) if named else [k for k in summary.get("stages_ms") or {} if k != "decode"]


def _stage_sum(summary: dict[str, Any]) -> tuple[float, float] | None:
    """(sum of the stages' means, end-to-end mean) in ms, recorded or else worked out from the stages."""
    recorded = summary.get("latency_stages") or {}
    total, e2e = recorded.get("sum_of_stage_means_ms"), recorded.get("end_to_end_mean_ms")
    stages = summary.get("stages_ms") or {}
    if total is None:
        means = [_stat(stages.get(k), "mean") for k in _stage_names(summary)]
        defined = [m for m in means if m is not None]
        total = sum(defined) if defined and len(defined) == len(means) else None
    if e2e is None:
        e2e = _stat(summary.get("latency_ms"), "mean")
    return (float(total), float(e2e)) if total is not None and e2e is not None else None


def stage_sum_sentence(summary: dict[str, Any]) -> str:
    """'stages sum to X ms of Y ms end-to-end (Z %)', or "" when either side is unknown."""
    sums = _stage_sum(summary)
    if sums is None:
        return ""
    total, e2e = sums
    share = f" ({100 * total / e2e:.0f} %)" if e2e > 0 else ""
    return f"stages sum to {total:.1f} ms of {e2e:.1f} ms end-to-end{share}"


def _stage_table(summary: dict[str, Any]) -> str:
    stages = summary.get("stages_ms") or {}
    e2e = _stat(summary.get("latency_ms"), "mean")
    rows = []
    for name in _stage_names(summary):
        st = stages.get(name) or {}
        mean = _stat(st, "mean")
        share = f"{100 * mean / e2e:.0f} %" if mean is not None and e2e else "–"
        rows.append(
            f"<tr><td>{escape(name)}</td><td class='num'>{_num(st.get('p50'))}</td>"
            f"<td class='num'>{_num(mean)}</td><td class='num'>{share}</td></tr>"
        )
    if "decode" in stages:
        st = stages["decode"] or {}
        rows.append(
            "<tr><td>decode (before the clock starts; not in the sum)</td>"
            f"<td class='num'>{_num(st.get('p50'))}</td><td class='num'>{_num(st.get('mean'))}</td>"
            "<td class='num'>–</td></tr>"
        )
    if not rows:
        return ""
    head = "<tr><th>stage</th><th>p50 ms</th><th>mean ms</th><th>share of end-to-end mean</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _stage_bar(summary: dict[str, Any]) -> str:
    """The stages' mean times end to end in one bar; decode is written beside it, not in it."""
    stages = summary.get("stages_ms") or {}
    segments = [(k, _stat(stages.get(k), "mean")) for k in _stage_names(summary)]
    segments = [(k, v) for k, v in segments if v is not None]
    if not segments:
        return ""
    sums = _stage_sum(summary)
    bar = stacked_bar(segments, total=sums[1] if sums else None)
    decode = _stat(stages.get("decode"), "mean")
    beside = (
        f"<p class='note'>decode (before the clock starts): {decode:.2f} ms mean</p>"
        if decode is not None
        else ""
    )
    return f"<h3>Mean stage times</h3>{bar}{beside}"


def _age_table(summary: dict[str, Any]) -> str:
    age = summary.get("age_ms") or {}
    rows = [
        ("capture → inference start", age.get("infer")),
        ("capture → record written", age.get("written")),
    ]
    table = _stats_table(rows, ("p50", "p90", "p99", "max"))
    return (
        f"<h3>Frame age</h3><p class='note'>How old a frame is, from its capture.</p>{table}" if table else ""
    )


def _regions_section(summary: dict[str, Any]) -> str:
    """Per region (--roi, --roi-file): how much of the mask's mass lies inside against how much of the
    frame it covers, and the fidelity inside; empty when the run audited no regions."""
    regions = summary.get("regions") or {}
    if not regions:
        return ""
    rows = []
    for name, r in regions.items():
        mean = {
            k: _stat(r.get(k), "mean")
            for k in ("area", "mask_share", "mask_keep", "fid_abs_rel", "depth_mean")
        }
        area, share = mean["area"], mean["mask_share"]
        density = share / area if area and share is not None else None
        cells = [
            str(r.get("frames", "–")), _num(area, 3), _num(share, 3), _num(density, 2),
            _num(mean["mask_keep"], 3), _num(mean["fid_abs_rel"], 4), _num(mean["depth_mean"], 2),
        ]  # fmt: skip
        body = "".join(f"<td class='num'>{escape(c)}</td>" for c in cells)
        rows.append(f"<tr><td>{escape(str(name))}</td>{body}</tr>")
    head = (
        "<tr><th>region</th><th>frames</th><th>area</th><th>mask share</th><th>share ÷ area</th>"
        "<th>mask_keep inside</th><th>fid_abs_rel inside</th><th>depth inside (m)</th></tr>"
    )
    over = summary.get("regions_over") or 0
    note = (
        f"<p class='warn'>{over} frames had more boxes than the engine takes; the rest are named in their "
        "records (regions_over).</p>"
        if over
        else ""
    )
    return (
        "<section><h2>Regions</h2><p>Means over the frames. <em>Mask share</em> is the share of G's mask "
        "mass inside the region; divided by the region's share of the frame, above 1 means N's depth "
        "rests on the region more than its size alone would say, below 1 that it rests on context "
        f"around it.</p><table>{head}{''.join(rows)}</table>{note}</section>"
    )


def curves_section(curves: list[dict[str, Any]]) -> str:
    """Faithfulness curves (eval's `--curve`, a run's `curve` output): the chart and a table of δ1 per
    kept share with the AUC; `curves` are {mask_net, method, auc, points: [{keep, fid_delta1}]}."""
    if not curves:
        return ""
    keeps = [p["keep"] for p in curves[0]["points"]]
    head = "".join(f"<th>{100 * k:g} %</th>" for k in keeps)
    rows = "".join(
        f"<tr><td>{escape(c['mask_net'])}</td><td>{escape(c['method'])}</td>"
        + "".join(f"<td class='num'>{_num(p['fid_delta1'], 3)}</td>" for p in c["points"])
        + f"<td class='num'><b>{_num(c['auc'], 3)}</b></td></tr>"
        for c in curves
    )
    return (
        "<section><h2>Faithfulness curves</h2><p class='note'>δ1 agreement of N(I ⊗ top-k % of the mask) "
        "with N(I), for G's mask, a random k % and the edge map's top k %; AUC = the mean over k.</p>"
        f"<div class='charts'><div>{faithfulness_svg(curves)}</div></div>"
        f"<table><tr><th>G</th><th>method</th>{head}<th>AUC</th></tr>{rows}</table></section>"
    )


def _run_curve(summary: dict[str, Any]) -> str:
    """The run's mean faithfulness curve (a model exported with --curve), in eval's form."""
    curve = summary.get("curve") or {}
    if not curve.get("methods"):
        return ""
    mask_net = (summary.get("model") or {}).get("mask_net") or "G"
    keeps = curve["keeps"]
    curves = [
        {
            "mask_net": f"{mask_net}, {m['frames']} frames", "method": method, "auc": m["auc"],
            "points": [{"keep": k, "fid_delta1": d} for k, d in zip(keeps, m["delta1"], strict=True)],
        }
        for method, m in curve["methods"].items()
    ]  # fmt: skip
    return curves_section(curves)


def _drops_table(summary: dict[str, Any]) -> str:
    drops = summary.get("drops_by_source") or {}
    if not drops:
        return ""
    rows = []
    for source, d in drops.items():
        rate = d.get("rate")
        rows.append(
            f"<tr><td>{escape(str(source))}</td><td class='num'>{escape(str(d.get('read', '–')))}</td>"
            f"<td class='num'>{escape(str(d.get('dropped', '–')))}</td>"
            f"<td class='num'>{_num(None if rate is None else 100 * rate, 1)} %</td></tr>"
        )
    head = "<tr><th>source</th><th>read</th><th>dropped</th><th>drop rate</th></tr>"
    return f"<h3>Drops per source</h3><table>{head}{''.join(rows)}</table>"


def _latency_section(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    lat = [r["latency_ms"] for r in records if r.get("status") == "ok" and "latency_ms" in r]
    sentence = stage_sum_sentence(summary)
    parts = [
        "<section><h2>Latency</h2>",
        _latency_headline(summary),
        _compute_table(summary),
        histogram(lat, x_label="end-to-end latency per frame (ms)"),
        ("<h3>Stages</h3>" + _stage_table(summary)) if summary.get("stages_ms") else "",
        f"<p class='stage-sum'>{escape(sentence)}</p>" if sentence else "",
        _stage_bar(summary),
        _age_table(summary),
        _drops_table(summary),
        "</section>",
    ]
    return "".join(parts)


# -- video and raw JSON ---------------------------------------------------------------------------------


def _video_section(run_dir: Path, summary: dict[str, Any]) -> str:
    for o in summary.get("outputs", []):
        if "videos" not in o:
            continue
        items = []
        for path_str in o["videos"]:
            path = Path(path_str)
            if not path.is_absolute() and not path.exists():
                path = run_dir / path
            if not path.is_file():
                continue
            rel = path.relative_to(run_dir) if path.is_relative_to(run_dir) else path
            if o.get("codec") == "h264" and path.stat().st_size <= MAX_EMBED_VIDEO:
                data = base64.b64encode(path.read_bytes()).decode()
                items.append(
                    f"<video controls muted loop width='100%' src='data:video/mp4;base64,{data}'></video>"
                )
            else:
                why = "not H.264" if o.get("codec") != "h264" else "too large to embed"
                items.append(f"<p><a href='{escape(str(rel))}'>{escape(str(rel))}</a> ({why})</p>")
        if items:
            return "<section><h2>Overlay video</h2>" + "".join(items) + "</section>"
    return ""


def _json_section(title: str, data: dict[str, Any]) -> str:
    body = escape(json.dumps(data, indent=2, default=str))
    return f"<section><h2>{escape(title)}</h2><pre>{body}</pre></section>"
