"""Build `report.html` from a run directory: audit log, summary, samples, masks and the overlay video."""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.errors import SourceError
from depthmask.report.svg import histogram, line_chart

SERIES = ("mask_mean", "mask_keep", "fid_rmse", "far_attention")
MAX_EMBED_VIDEO = 25 * 2**20  # larger videos are linked, not embedded

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}section{margin:28px 0}
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
.strip{display:grid;grid-template-columns:repeat(5,1fr);gap:4px;margin-bottom:8px}
.strip figure{margin:0}.strip img{width:100%;image-rendering:pixelated}
figcaption{font-size:12px;color:#555}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:22px}
"""


def _img_tag(data: bytes, alt: str, mime: str = "image/png") -> str:
    return f'<img alt="{escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    return buf.tobytes() if ok else b""


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


def build_report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write a self-contained HTML report of a run directory; returns its path."""
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise SourceError(
            f"{run_dir} has no summary.json; point at a folder written by `depthmask run` or `demo`"
        )
    summary = json.loads(summary_path.read_text())
    records = read_audit(run_dir)
    out = Path(output) if output else run_dir / "report.html"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>depthmask audit report</title>"
        f"<style>{CSS}</style></head><body>",
        "<h1>depthmask audit report</h1>",
        f"<p class='sub'>{escape(str(run_dir))} · model {escape(str(summary['config'].get('model')))}</p>",
        _cards(summary),
        _time_series(records),
        _mask_section(run_dir),
        _latency_section(summary, records),
        _samples_section(run_dir, summary),
        _video_section(run_dir, summary),
        _json_section("Model metadata", summary.get("model", {})),
        _json_section("Environment", summary.get("environment", {})),
        _json_section("Run settings", summary.get("config", {})),
        "</body></html>",
    ]
    out.write_text("\n".join(parts))
    return out


def _cards(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    stats = summary.get("stats", {})
    lat = summary.get("latency_ms", {})

    def mean(name: str) -> str:
        v = stats.get(name, {}).get("mean")
        return "–" if v is None else f"{v:.3f}"

    cards = [
        ("frames", f"{summary['frames']}"),
        ("ok / dropped / failed", f"{c['ok']} / {c['dropped']} / {c['decode_error'] + c['skipped']}"),
        ("frames/s", f"{summary.get('throughput_fps') or 0:.1f}"),
        ("latency p50 ms", "–" if lat.get("p50") is None else f"{lat['p50']:.1f}"),
        ("mask_mean", mean("mask_mean")),
        ("mask_keep", mean("mask_keep")),
        ("fid_rmse (m)", mean("fid_rmse")),
        ("far_attention", mean("far_attention")),
    ]
    body = "".join(f"<div class='card'>{escape(k)}<b>{escape(v)}</b></div>" for k, v in cards)
    return f"<section class='cards'>{body}</section>"


def _time_series(records: list[dict[str, Any]]) -> str:
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        return "<section><h2>Per-frame statistics</h2><p><em>no processed frames</em></p></section>"
    charts = []
    for name in SERIES:
        if any(name in r for r in ok):
            by_source: dict[str, list[float | None]] = {}
            for r in ok:
                by_source.setdefault(str(r["source"]), []).append(r.get(name))
            series = {f"{name} · {Path(s).name or s}": v for s, v in by_source.items()}
            charts.append(f"<h3>{escape(name)}</h3>{line_chart(series, 'frame', name)}")
    return "<section><h2>Per-frame statistics</h2>" + "".join(charts) + "</section>"


def _mask_section(run_dir: Path) -> str:
    m = mean_mask(run_dir)
    if m is None:
        return ""
    heat = cv2.applyColorMap(np.clip(m * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    scale = max(1, 480 // max(heat.shape[1], 1))
    heat = cv2.resize(heat, (heat.shape[1] * scale, heat.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    return (
        "<section><h2>Mean mask over the run</h2><p>Where N looked on average (bright = kept). "
        f"Mean value {m.mean():.3f}.</p>{_img_tag(_png(heat), 'mean mask')}</section>"
    )


def _latency_section(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    lat = [r["latency_ms"] for r in records if r.get("status") == "ok" and "latency_ms" in r]
    rows = []
    for name, st in [("end-to-end (capture → record)", summary.get("latency_ms", {}))] + [
        (f"stage: {k}", v) for k, v in summary.get("stages_ms", {}).items()
    ]:
        if st and st.get("count"):
            cells = "".join(f"<td>{st[k]}</td>" for k in ("p50", "p90", "p99", "max", "mean", "std"))
            rows.append(f"<tr><td>{escape(name)}</td>{cells}</tr>")
    table = (
        "<table><tr><th>ms</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>mean</th><th>std</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return f"<section><h2>Latency</h2>{histogram(lat)}{table}</section>"


def _samples_section(run_dir: Path, summary: dict[str, Any]) -> str:
    samples = [s for o in summary.get("outputs", []) for s in o.get("samples", [])]
    if not samples:
        return ""
    rows = []
    for s in samples:
        figs = []
        for panel in ("input", "mask", "masked", "depth", "depth_masked"):
            name = s["files"].get(panel)
            if name and (run_dir / "samples" / name).is_file():
                data = (run_dir / "samples" / name).read_bytes()
                figs.append(
                    f"<figure>{_img_tag(data, panel)}<figcaption>{escape(panel)}</figcaption></figure>"
                )
        rows.append(
            f"<p>{escape(Path(s['source']).name or s['source'])} · frame {s['frame']}</p>"
            f"<div class='strip'>{''.join(figs)}</div>"
        )
    return "<section><h2>Sample frames</h2>" + "".join(rows) + "</section>"


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
