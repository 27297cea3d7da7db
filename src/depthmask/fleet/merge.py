"""The merged fleet result (`fleet.json`): a row per drive, totals, fleet-wide percentiles of every
statistic over all frames, and the drives that stand out. Read from what each drive's run wrote
(summary.json, audit.jsonl), so it is the same whether the drives ran now or in an earlier run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from depthmask.runtime.latency import summarize

if TYPE_CHECKING:
    from depthmask.fleet.core import DriveState

STANDOUT = 5  # drives listed under each "stands out" heading
DRIVE_STATS = ("p50", "p90", "p99", "mean", "std")
COUNTS = ("ok", "dropped", "decode_error", "skipped")


def merge_fleet(out: Path, states: list[DriveState], drives_dir: str) -> dict[str, Any]:
    """Rows, totals, fleet percentiles and standouts for `states` (complete drives read from disk)."""
    rows: list[dict[str, Any]] = []
    values: dict[str, list[np.ndarray]] = {}
    for state in states:
        folder = out / drives_dir / state.drive.name
        row: dict[str, Any] = {
            "drive": state.drive.spec,
            "name": state.drive.name,
            "folder": f"{drives_dir}/{state.drive.name}",  # relative: the fleet folder can move
            "status": state.status,
            "attempts": state.attempts,
            "errors": state.errors,
            "resumed": state.resumed,
        }
        if state.status == "complete":
            row.update(_drive_row(folder, row["folder"], values))
        rows.append(row)
    totals = _totals(rows)
    stats = {c: summarize(np.concatenate(v).tolist() if v else []) for c, v in values.items()}
    return {"drives": rows, "totals": totals, "stats": stats, "standouts": standouts(rows)}


def _drive_row(folder: Path, relative: str, values: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """A complete drive's figures from its summary; its frames' statistics added to `values`."""
    summary = json.loads((folder / "summary.json").read_text())
    columns = list(summary.get("stats", {}))
    per_frame: dict[str, list[float]] = {c: [] for c in columns}
    with open(folder / "audit.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("status") == "ok":
                for c in columns:
                    v = rec.get(c)
                    if v is not None:
                        per_frame[c].append(v)
    for c, v in per_frame.items():
        values.setdefault(c, []).append(np.asarray(v, dtype=np.float64))
    counts = summary.get("counts", {})
    return {
        "frames": summary.get("frames", 0),
        "counts": {k: counts.get(k, 0) for k in COUNTS},
        "fps": summary.get("throughput_fps"),
        "wall_s": summary.get("wall_s"),
        "exit_status": summary.get("exit_status"),
        "flags": summary.get("flags", {}),
        "stats": {c: {k: st.get(k) for k in DRIVE_STATS} for c, st in summary.get("stats", {}).items()},
        "latency_ms": {k: summary.get("latency_ms", {}).get(k) for k in ("p50", "p90", "p99")},
        "report": f"{relative}/report.html" if (folder / "report.html").is_file() else None,
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    complete = [r for r in rows if r["status"] == "complete"]
    return {
        "drives": {
            "total": len(rows),
            "complete": len(complete),
            "resumed": sum(r["resumed"] for r in rows),
            "failed": sum(r["status"] == "failed" for r in rows),
            "pending": sum(r["status"] in ("pending", "running") for r in rows),
        },
        "frames": sum(r["frames"] for r in complete),
        "counts": {k: sum(r["counts"][k] for r in complete) for k in COUNTS},
        "flags": _sum_flags(complete),
    }


def _sum_flags(rows: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        for k, n in r["flags"].items():
            out[k] = out.get(k, 0) + n
    return out


def standouts(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The drives to look at first: lowest far_attention, highest fid_rmse, least stable attention
    (lowest mean mask_iou_prev), most flagged frames, most decode errors (at most STANDOUT each; a drive
    with no such frames is not listed for them)."""
    complete = [r for r in rows if r["status"] == "complete"]

    def mean_of(r: dict[str, Any], stat: str) -> float | None:
        return (r["stats"].get(stat) or {}).get("mean")

    def ranked(label: str, value: Any, *, highest: bool, positive: bool = False) -> list[dict[str, Any]]:
        scored = [(v, r) for r in complete if (v := value(r)) is not None and (v > 0 or not positive)]
        scored.sort(key=lambda vr: vr[0], reverse=highest)
        return [{"drive": r["drive"], "name": r["name"], label: v} for v, r in scored[:STANDOUT]]

    return {
        "lowest_far_attention": ranked("far_attention", lambda r: mean_of(r, "far_attention"), highest=False),
        "highest_fid_rmse": ranked("fid_rmse", lambda r: mean_of(r, "fid_rmse"), highest=True),
        "least_stable": ranked("mask_iou_prev", lambda r: mean_of(r, "mask_iou_prev"), highest=False),
        "most_flagged": ranked("flagged", lambda r: sum(r["flags"].values()), highest=True, positive=True),
        "most_decode_errors": ranked(
            "decode_errors", lambda r: r["counts"]["decode_error"], highest=True, positive=True
        ),
    }
