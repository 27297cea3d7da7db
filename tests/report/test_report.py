"""`report.html` from a run folder written by hand: warnings, flags, charts (units, ticks, gaps, the
uniform-mask line), the latency breakdown, colour bars, and an older summary without the newer keys."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from depthmask.contract.constants import FAR_FRACTION
from depthmask.report import build_report
from depthmask.report.html import colour_stops, stage_sum_sentence
from depthmask.report.svg import line_chart, nice_ticks

SOURCE = "/data/clip.mp4"
FRAMES = 10
EMPTY_FRAME, FULL_FRAME = 4, 7
SAFE_TEXT = "source is 16:9 & the model 4:3"
HOSTILE = "<script>alert(1)</script>"


def _stats(mean: float, **extra: float) -> dict[str, Any]:
    """A stats summary dict as `runtime.latency.summarize` writes it."""
    base = {"count": FRAMES, "p50": mean, "p90": mean * 1.1, "p99": mean * 1.2, "max": mean * 1.3}
    return {**base, "mean": mean, "std": 0.1, **extra}


def _record(frame: int, **overrides: Any) -> dict[str, Any]:
    """One "ok" audit record with the newer fields (flags, stages_ms, age_ms)."""
    rec: dict[str, Any] = {
        "frame": frame,
        "source": SOURCE,
        "t_capture": frame / 10,
        "status": "ok",
        "mask_mean": 0.25,
        "mask_keep": 0.3,
        "fid_rmse": 2.0 + 0.5 * frame,
        "far_attention": 0.6,
        "depth_mean": 20.0,
        "depth_masked_mean": 18.0,
        "latency_ms": 20.0,
        "batch": frame // 2,
        "stages_ms": {"decode": 1.5, "preprocess": 2.0, "queue": 4.0, "infer": 10.0, "write": 2.0},
        "age_ms": {"infer": 6.0, "written": 20.0},
    }
    if frame == EMPTY_FRAME:
        rec.update(mask_keep=0.005, far_attention=None, flags=["mask_empty"])
    if frame == FULL_FRAME:
        rec.update(mask_keep=0.995, flags=["mask_full"])
    rec.update(overrides)
    return rec


def _summary() -> dict[str, Any]:
    """A summary.json with every key the report reads, new ones included."""
    stages = {"decode": 1.5, "preprocess": 2.0, "queue": 4.0, "infer": 10.0, "write": 2.0}
    return {
        "counts": {"ok": FRAMES, "dropped": 2, "decode_error": 0, "skipped": 0},
        "frames": FRAMES + 2,
        "stats": {"mask_mean": _stats(0.25), "far_attention": _stats(0.6), "fid_rmse": _stats(4.0)},
        "latency_ms": _stats(20.0),
        "stages_ms": {k: _stats(v) for k, v in stages.items()},
        "compute_ms": {"per_batch": _stats(8.0), "per_frame": _stats(4.0)},
        "latency_stages": {
            "stages": ["preprocess", "queue", "infer", "write"],
            "sum_of_stage_means_ms": 18.0,
            "end_to_end_mean_ms": 20.0,
        },
        "age_ms": {"infer": _stats(6.0), "written": _stats(20.0)},
        "drops_by_source": {SOURCE: {"read": 12, "dropped": 3, "rate": 0.25}},
        "flags": {"mask_empty": 1, "mask_full": 1},
        "warnings": [
            {"kind": "aspect", "message": f"{SAFE_TEXT} {HOSTILE}"},
            {"kind": "mask_empty", "message": "G kept under 1 % of the pixels on 1 frame"},
        ],
        "throughput_fps": 50.0,
        "outputs": [],
        "config": {"model": "tiny.onnx"},
        "model": {},
        "environment": {},
    }


def _old_summary() -> dict[str, Any]:
    """A summary as runs wrote it before warnings, flags, per-stage latency, ages and drops."""
    s = _summary()
    for key in ("compute_ms", "latency_stages", "age_ms", "drops_by_source", "flags", "warnings"):
        del s[key]
    s["stages_ms"] = {k: _stats(v) for k, v in {"decode": 1.5, "preprocess": 2.0, "infer": 10.0}.items()}
    s["infer_ms_per_batch"] = _stats(9.0)
    return s


def _write_run(folder: Path, records: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """Write audit.jsonl and summary.json into `folder`, build the report and return its HTML."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audit.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "summary.json").write_text(json.dumps(summary))
    return build_report(folder).read_text()


def _chart(html: str, title: str) -> str:
    """The part of the page from a chart's heading to the next heading."""
    start = html.index(f"<h3>{title}</h3>")
    return html[start : html.index("<h", start + 4)]


def _polylines(chart: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in pts.split()]  # type: ignore[misc]
        for pts in re.findall(r'<polyline[^>]*points="([^"]*)"', chart)
    ]


def _y_tick_labels(chart: str) -> list[str]:
    return re.findall(r'<text x="[\d.]+" y="[\d.]+" font-size="10" text-anchor="end">([^<]*)</text>', chart)


def _x_tick_labels(chart: str) -> list[str]:
    return re.findall(
        r'<text x="[\d.]+" y="[\d.]+" font-size="10" text-anchor="middle">([^<]*)</text>', chart
    )


def _is_round_step(step: float) -> bool:
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m) for m in (1, 2, 5))


@pytest.fixture
def html(tmp_path: Path) -> str:
    return _write_run(tmp_path / "run", [_record(i) for i in range(FRAMES)], _summary())


def test_warnings_are_at_the_top_and_escaped(html: str) -> None:
    box = html[html.index("class='warnings'") : html.index("</section>", html.index("class='warnings'"))]
    assert html.index("class='warnings'") < html.index("class='cards'") < html.index("Per-frame statistics")
    assert "<b>aspect</b>: source is 16:9 &amp; the model 4:3 &lt;script&gt;alert(1)&lt;/script&gt;" in box
    assert HOSTILE not in html
    assert box.count("<li>") == 2 and "G kept under 1 % of the pixels on 1 frame" in box


def test_flagged_frame_counts_get_a_card(html: str) -> None:
    assert "<div class='card flagged'>flagged frames<b>mask_empty 1 · mask_full 1</b></div>" in html


def test_far_attention_has_the_uniform_mask_line(html: str, tmp_path: Path) -> None:
    chart = _chart(html, "far_attention")
    assert FAR_FRACTION == 0.2
    assert chart.count('class="reference"') == 1 and "uniform mask 0.20" in chart
    assert 'stroke-dasharray="6 4"' in chart
    summary = {**_summary(), "demo": {"far_attention_uniform": 0.25}}
    demo = _write_run(tmp_path / "demo", [_record(i) for i in range(FRAMES)], summary)
    assert "uniform mask 0.25" in _chart(demo, "far_attention")


def test_a_null_far_attention_breaks_the_line_at_its_frame(html: str) -> None:
    lines = _polylines(_chart(html, "far_attention"))
    assert [len(p) for p in lines] == [EMPTY_FRAME, FRAMES - EMPTY_FRAME - 1]
    # x stays the frame number: the gap is two frame steps wide, not one.
    step = lines[0][1][0] - lines[0][0][0]
    assert lines[1][0][0] - lines[0][-1][0] == pytest.approx(2 * step, abs=0.2)
    assert len(_polylines(_chart(html, "fid_rmse"))) == 1  # the other series have no gap


def test_a_mask_empty_on_every_frame_says_undefined(tmp_path: Path) -> None:
    records = [_record(i, far_attention=None) for i in range(FRAMES)]
    chart = _chart(_write_run(tmp_path / "run", records, _summary()), "far_attention")
    assert "undefined: the mask was empty on every frame" in chart and "<svg" not in chart


def test_flagged_frames_are_shaded_on_the_mask_keep_chart(html: str) -> None:
    chart = _chart(html, "mask_keep")
    assert chart.count('class="mark"') == 2
    assert f"frame {EMPTY_FRAME}: mask_empty" in chart and f"frame {FULL_FRAME}: mask_full" in chart
    assert "1 frame(s) flagged mask_empty" in chart and "1 flagged mask_full" in chart
    assert 'class="mark"' not in _chart(html, "fid_rmse")


def test_axes_carry_units(html: str) -> None:
    assert ">fid_rmse (m)</text>" in _chart(html, "fid_rmse")
    assert ">mean depth (m)</text>" in _chart(html, "depth")
    for name in ("mask_mean", "mask_keep", "far_attention"):
        assert f">{name} (fraction, 0–1)</text>" in _chart(html, name), name


def test_tick_labels_are_round_numbers(html: str) -> None:
    chart = _chart(html, "fid_rmse")  # 2.0 … 6.5 m
    labels = [float(t) for t in _y_tick_labels(chart)]
    assert 4 <= len(labels) <= 7 and labels[0] <= 2.0 and labels[-1] >= 6.5
    steps = np.diff(labels)
    assert np.allclose(steps, steps[0]) and _is_round_step(float(steps[0]))
    assert all(math.isclose(v / steps[0], round(v / steps[0])) for v in labels)
    frames = [int(t) for t in _x_tick_labels(chart)]
    assert frames[0] == 0 and frames[-1] <= FRAMES - 1 and len(frames) >= 4
    assert _is_round_step(float(np.diff(frames)[0]))
    # A fraction chart spans 0..1 in steps of 0.2.
    assert _y_tick_labels(_chart(html, "mask_mean")) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]


def test_nice_ticks() -> None:
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(5.4, 15.9) == [5.0, 10.0, 15.0, 20.0]
    assert nice_ticks(498.0, 513.0) == [495.0, 500.0, 505.0, 510.0, 515.0]
    assert nice_ticks(-1, 1) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert nice_ticks(0, 99, 6, integer=True) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert all(t == int(t) for t in nice_ticks(0, 3, integer=True))


def test_a_flat_series_gets_a_range_around_its_value() -> None:
    svg = line_chart({"fid_rmse": [3.0] * 5}, y_label="fid_rmse (m)")
    labels = [float(t) for t in _y_tick_labels(svg)]
    assert labels[0] < 3.0 < labels[-1] and labels[-1] - labels[0] <= 1.0
    assert -0.5 not in labels and 0.5 not in labels  # not the old ±0.5 around nothing in particular
    fraction = line_chart({"mask_mean": [0.3] * 5}, y_range=(0.0, 1.0))
    assert [float(t) for t in _y_tick_labels(fraction)] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_latency_says_which_latency_it_is(html: str) -> None:
    section = html[html.index("<h2>Latency</h2>") :]
    assert "<b>end-to-end latency p50 20.0 ms</b> (compute p50 8.0 ms per batch)" in section
    assert "compute only, per batch (inference)" in section and "compute only, per frame" in section
    assert "end-to-end (frame leaves its source → record written)" in section


def test_stage_table_sum_sentence_and_bar(html: str) -> None:
    assert "<p class='stage-sum'>stages sum to 18.0 ms of 20.0 ms end-to-end (90 %)</p>" in html
    assert "decode (before the clock starts; not in the sum)" in html
    table = html[html.index("<th>stage</th>") :]
    table = table[: table.index("</table>")]
    names = re.findall(r"<tr><td>(\w+)</td>", table)
    assert names == ["preprocess", "queue", "infer", "write"]
    assert "<td class='num'>10.00</td><td class='num'>50 %</td>" in table  # infer: 10 of 20 ms
    bar = html[html.index("<h3>Mean stage times</h3>") :]
    bar = bar[: bar.index("</svg>")]
    assert bar.count('class="segment"') == 4 and "not in a stage: 2.00 ms" in bar
    assert "decode (before the clock starts): 1.50 ms mean" in html


def test_ages_and_drops_per_source(html: str) -> None:
    assert "capture → inference start" in html and "capture → record written" in html
    drops = html[html.index("<h3>Drops per source</h3>") :]
    assert (
        f"<td>{SOURCE}</td><td class='num'>12</td><td class='num'>3</td><td class='num'>25.0 %</td>" in drops
    )


def test_an_older_summary_still_builds(tmp_path: Path) -> None:
    records = [_record(i) for i in range(FRAMES)]
    for r in records:
        for key in ("flags", "age_ms"):
            r.pop(key, None)
        r["stages_ms"] = {"decode": 1.5, "preprocess": 2.0, "infer": 10.0}
    html = _write_run(tmp_path / "old", records, _old_summary())
    assert "Warnings" not in html and "flagged frames" not in html and "Frame age" not in html
    assert "<b>end-to-end latency p50 20.0 ms</b> (compute p50 9.0 ms per batch)" in html
    assert "stages sum to 12.0 ms of 20.0 ms end-to-end (60 %)" in html  # worked out from the stages
    assert 'class="mark"' not in html and "uniform mask 0.20" in html


def test_a_summary_with_null_stats_still_builds(tmp_path: Path) -> None:
    empty = {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None, "std": None}
    summary = {**_summary(), "latency_ms": empty, "stages_ms": {"infer": empty}, "compute_ms": {}}
    summary["stats"] = {"far_attention": empty}
    summary["latency_stages"] = {
        "stages": ["infer"],
        "sum_of_stage_means_ms": None,
        "end_to_end_mean_ms": None,
    }
    html = _write_run(tmp_path / "null", [], summary)
    assert "no end-to-end latency was measured" in html and "stages sum to" not in html
    assert "no processed frames" in html


def test_stage_sum_sentence_needs_both_sides() -> None:
    assert stage_sum_sentence({}) == ""
    assert stage_sum_sentence(_summary()) == "stages sum to 18.0 ms of 20.0 ms end-to-end (90 %)"


def test_colour_bars_beside_the_mean_mask_and_the_depth_samples(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    (folder / "00_clip" / "mask").mkdir(parents=True)
    (folder / "samples").mkdir()
    cv2.imwrite(str(folder / "00_clip" / "mask" / "0000.png"), np.full((8, 16), 128, np.uint8))
    for panel in ("input", "depth"):
        cv2.imwrite(str(folder / "samples" / f"s_{panel}.png"), np.zeros((8, 16, 3), np.uint8))
    files = {"input": "s_input.png", "depth": "s_depth.png"}
    samples = [
        {"source": SOURCE, "frame": 0, "files": files, "depth_range_m": [4.0, 60.0]},
        {"source": SOURCE, "frame": 5, "files": files},  # a run before the range was recorded
    ]
    summary = {**_summary(), "outputs": [{"samples": samples, "output": "samples"}]}
    html = _write_run(folder, [_record(i) for i in range(FRAMES)], summary)
    mask = html[html.index("Mean mask over the run") :]
    mask = mask[: mask.index("</section>")]
    inferno = colour_stops(cv2.COLORMAP_INFERNO)
    assert inferno[0] == "#000004" and inferno[-1] == "#fcffa4"  # OpenCV's inferno, dark → bright
    assert 'id="bar-mean-mask"' in mask and f'stop-color="{inferno[-1]}"' in mask
    assert ">0.0</text>" in mask and ">1.0</text>" in mask
    strip = html[html.index("<h2>Sample frames</h2>") :]
    assert 'id="bar-depth-0"' in strip and 'id="bar-depth-1"' in strip
    assert ">4.0 m</text>" in strip and ">60.0 m</text>" in strip and ">near</text>" in strip
    magma = colour_stops(cv2.COLORMAP_MAGMA, reverse=True)
    assert magma[0] == "#fcfdbf"  # near (low depth) is bright, as the depth panels draw it
