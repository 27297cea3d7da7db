"""Benchmark rows on screen (a rich table) and in a README (markdown), from the same cell formatting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from depthmask.bench.rows import BenchResult, Row
from depthmask.environment import ISA_CAPS, cpu_label

PROFILE_OPS = 5  # op types listed per profile in the markdown (the JSON keeps them all)
COLUMNS = (
    "path",
    "batch",
    "kind",
    "status",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "mean ± std ms",
    "frames/s",
    "GFLOP/frame",
    "GFLOP/s",
    "% peak",
    "depth abs_rel",
    "δ1",
    "mask IoU",
)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    value = float(value)
    if value != value:  # NaN
        return "nan"
    return f"{value:,.{digits}f}"


def _sig(value: Any) -> str:
    """Small error figures keep three significant digits (1.23e-05, 0.0123)."""
    if value is None:
        return "–"
    value = float(value)
    return f"{value:.3g}" if value < 1e-3 else f"{value:.4f}"


def cells(row: Row) -> list[str]:
    """One row's cells in COLUMNS order."""
    if not row.ok:
        return [row.label, str(row.batch), row.kind, row.status_text, *[""] * (len(COLUMNS) - 4)]
    lat = row.latency_ms
    fid = row.fidelity or {}
    return [
        row.label,
        str(row.batch),
        row.kind,
        "ok" + (" (capped)" if any("max-seconds" in n for n in row.notes) else ""),
        _num(lat.get("p50")),
        _num(lat.get("p90")),
        _num(lat.get("p99")),
        _num(lat.get("max")),
        f"{_num(lat.get('mean'))} ± {_num(lat.get('std'))}",
        _num(row.frames_per_s, 3),
        _num(row.gflop_per_frame, 1),
        _num(row.gflop_per_s, 1),
        _num(row.peak_pct, 1),
        _sig(fid.get("depth_abs_rel")) if fid else "–",
        _sig(fid.get("depth_delta1")) if fid else "–",
        _sig(fid.get("mask_iou")) if fid else "–",
    ]


def rich_table(result: BenchResult, title: str | None = None) -> Any:
    """The rows as a rich Table (unavailable and failed rows dimmed / red)."""
    from rich.table import Table

    s = result.subject
    default = (
        f"depthmask bench: {s.get('depth_net')} + {s.get('mask_net')}, {s.get('height')}×{s.get('width')}, "
        f"mode {s.get('mode')}, weights {s.get('weights')}"
    )
    table = Table(
        title=title or default,
        title_justify="left",
    )
    for col in COLUMNS:
        table.add_column(
            col,
            justify="left" if col in ("path", "kind", "status") else "right",
            no_wrap=col != "status",
            min_width=24 if col == "status" else None,
        )
    for row in result.rows:
        style = None if row.ok else ("dim" if row.status == "unavailable" else "red")
        table.add_row(*cells(row), style=style)
    return table


def peaks_lines(result: BenchResult) -> list[str]:
    """'GEMM peak fp32: 180.0 GFLOP/s sustained (burst 201.3; torch 4096×4096×4096, 2 threads)' per
    precision measured."""
    lines = []
    for precision, p in result.peaks.items():
        if p.get("gflop_per_s") is None:
            lines.append(f"GEMM peak {precision}: unavailable ({p.get('reason')})")
        else:
            burst = p.get("burst_gflop_per_s")
            beside = p.get("beside")  # a harness measuring the ceiling again beside each set of rows
            rate = (
                f"{min(beside):,.1f}-{max(beside):,.1f} GFLOP/s sustained, measured beside each set of rows"
                if beside
                else f"{p['gflop_per_s']:,.1f} GFLOP/s sustained"
            )
            lines.append(
                f"GEMM peak {precision}: {rate} "
                f"({f'burst {burst:,.1f}; ' if burst else ''}{p['how']}, {p['threads']} threads)"
            )
    return lines


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a GitHub markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells(row)) + " |")
    return "\n".join(lines)


def markdown(result: BenchResult, title: str | None = None) -> str:
    """A short markdown report: subject, the table, peaks, highlights and the environment."""
    from depthmask.bench.summary import highlights, peak_bound

    s = result.subject
    env = result.environment
    h = highlights(result.rows, s.get("sensitivity"))
    heading = title or f"{s.get('depth_net')} + {s.get('mask_net')}, {s.get('height')}×{s.get('width')}"
    out = [
        f"### {heading}",
        "",
        f"Mode `{s.get('mode')}`, weights: {s.get('weights')}, {s.get('gflop_per_frame') or 0:.1f} GFLOP per "
        f"frame (counted), {s.get('threads')} threads; fidelity against {s.get('fidelity_reference')} on "
        f"{s.get('fidelity_frames')} frames.",
        "",
        markdown_table(result.rows),
        "",
        *[f"- {line}" for line in peaks_lines(result)],
    ]
    best = h.get("best_cpu_within_fidelity") or h.get("best_cpu")
    if best and h.get("authors_fps"):
        within = " within fidelity" if h.get("best_cpu_within_fidelity") else ""
        out.append(
            f"- best CPU path{within}: {best['label']} "
            f"batch {best['batch']}, {best['frames_per_s']:.3f} frames/s = {best['speedup_vs_authors']}× the "
            f"authors' way ({h['authors_fps']:.3f} frames/s)"
        )
    bound = peak_bound(result.peaks, s.get("gflop_per_frame"), h.get("authors_fps"))
    if bound:
        out.append(
            f"- frames/s if all {s.get('gflop_per_frame'):.1f} GFLOP of a frame ran at the GEMM peak: "
            + "; ".join(
                f"{precision} {b['frames_per_s']:.3f}"
                + (f" = {b['speedup_vs_authors']}× the authors' way" if b["speedup_vs_authors"] else "")
                for precision, b in bound.items()
            )
        )
    floor = h.get("best_cpu_within_noise_floor")
    if floor and h.get("authors_fps"):
        out.append(
            "- best CPU path within the noise floor (deviates from fp32 no more than fp32 does under ±1 "
            f"grey level of input noise): {floor['label']} batch {floor['batch']}, "
            f"{floor['frames_per_s']:.3f} frames/s = {floor['speedup_vs_authors']}× the authors' way"
        )
    if h.get("ort_fp32_peak"):
        p = h["ort_fp32_peak"]
        out.append(
            f"- fused ONNX Runtime fp32: {p['gflop_per_s']:,.1f} GFLOP/s = {p['peak_pct']:.1f} % of the "
            f"fp32 GEMM peak (batch {p['batch']})"
        )
    for st in h.get("streaming", []):
        added = f", added p50 latency {st['added_p50_ms']:.1f} ms" if st["added_p50_ms"] is not None else ""
        out.append(
            f"- streaming {st['label']} batch {st['batch']}: {st['end_to_end_fps']:.3f} frames/s "
            f"end-to-end vs {st['compute_fps']:.3f} compute-only = {100 * st['ratio']:.1f} %"
            + (f" (inference busy {100 * st['busy_ratio']:.1f} % of the run)" if st.get("busy_ratio") else "")
            + added
        )
    for prof in result.profiles:
        out.append(profile_line(prof, result.peaks))
    sens = s.get("sensitivity")
    if sens:
        out.append(
            "- sensitivity floor (fp32 reference vs itself with ±1 grey level of input noise): "
            f"depth abs_rel {_sig(sens.get('depth_abs_rel'))}, mask IoU {_sig(sens.get('mask_iou'))}"
        )
    environment = (
        f"Environment: {cpu_label(env)} ({', '.join(env.get('cpu_flags', []))}), "
        f"{env.get('cores')} cores, "
        f"GPU: {', '.join(g['name'] for g in env.get('gpu', [])) or 'none'}; "
        + ", ".join(f"{k} {v}" for k, v in env.get("libraries", {}).items())
    )
    caps = env.get("isa_caps")
    if caps:  # measured below what the CPU has: say which libraries were held back
        held = ", ".join(f"{k}={v} ({ISA_CAPS.get(k, 'unknown')})" for k, v in caps.items())
        environment += f"; ISA capped: {held}; ONNX Runtime's MLAS has no cap"
    out += ["", environment, ""]
    return "\n".join(out)


def profile_line(prof: dict[str, Any], peaks: dict[str, Any]) -> str:
    """'- per-op profile, onnxruntime fp32 batch 1 (5123 ms per run): Conv 88.6 % at 96.1 GFLOP/s …'"""
    head = f"- per-op profile, {prof.get('path')} {prof.get('precision')} batch {prof.get('batch')}"
    if prof.get("error"):
        return f"{head}: failed ({prof['error']})"
    peak = (peaks.get(prof.get("precision"), {}) or {}).get("gflop_per_s")
    parts = []
    for op in prof.get("ops", [])[:PROFILE_OPS]:
        part = f"{op['op']} {100 * op['share']:.1f} %"
        if op.get("gflop_per_s"):
            part += f" at {op['gflop_per_s']:,.1f} GFLOP/s"
            if peak:
                part += f" ({100 * op['gflop_per_s'] / peak:.0f} % of peak)"
        parts.append(part)
    line = f"{head} ({prof.get('ms_per_run', 0):,.0f} ms per run): " + "; ".join(parts)
    kernels = sum(op.get("gflop_per_run") or 0 for op in prof.get("ops", []))
    graph = prof.get("graph_gflop_per_run")
    if graph and kernels > 1.005 * graph:  # the kernels padded channels: say how much was not the graph's
        line += f"; kernels ran {kernels:,.1f} GFLOP for the graph's {graph:,.1f} (channel padding)"
    return line
