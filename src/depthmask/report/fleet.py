"""Build the fleet's `report.html` from `fleet.json`: totals, fleet-wide statistics, the drives that
stand out, and a row per drive linking to that drive's own report."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from depthmask.report.html import _json_section, _num, _stats_table, _warnings_box, page, read_written

DRIVE_COLUMNS = ("mask_keep", "fid_rmse", "far_attention")  # per-drive means in the table
STANDOUT_TITLES = {
    "lowest_far_attention": ("lowest far_attention", "far_attention"),
    "highest_fid_rmse": ("highest fid_rmse", "fid_rmse"),
    "least_stable": ("least stable attention (lowest mean mask_iou_prev)", "mask_iou_prev"),
    "most_flagged": ("most flagged frames (mask_empty, mask_full, attention_jump)", "flagged"),
    "most_decode_errors": ("most decode errors", "decode_errors"),
}


def build_fleet_report(fleet_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the fleet report of a folder written by `depthmask fleet`; returns its path."""
    fleet_dir = Path(fleet_dir)
    fleet = read_written(fleet_dir, "fleet.json", "`depthmask fleet`")
    out = Path(output) if output else fleet_dir / "report.html"
    drives = fleet["drives"]
    parts = [
        f"<p class='sub'>{escape(str(fleet_dir))} · model {escape(str(fleet.get('model', {}).get('path')))}"
        f" · {len(drives)} drives</p>",
        _warnings_box({"warnings": _warnings(fleet)}),
        _cards(fleet),
        "<section><h2>Every frame of the fleet</h2>",
        _stats_table(list(fleet.get("stats", {}).items()), unit="statistic"),
        "</section>",
        _standouts(fleet, {d["name"]: d for d in drives}),
        _drive_table(drives),
        _json_section("Cluster", fleet.get("cluster") or {}),
        _json_section("Fleet settings", fleet.get("config", {})),
        _json_section("Environment", fleet.get("environment", {})),
    ]
    out.write_text(page("depthmask fleet report", parts))
    return out


def _warnings(fleet: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for d in fleet["drives"]:
        if d["status"] == "failed":
            last = d["errors"][-1] if d["errors"] else "no error recorded"
            out.append({"kind": "failed", "message": f"{d['drive']}: {d['attempts']} attempts; {last}"})
    pending = [d["drive"] for d in fleet["drives"] if d["status"] in ("pending", "running")]
    if pending:
        out.append({
            "kind": "not done",
            "message": f"{len(pending)} drives were not audited (the fleet was stopped); run the same "
            "command again to audit them, the complete ones are skipped",
        })  # fmt: skip
    return out


def _cards(fleet: dict[str, Any]) -> str:
    t = fleet["totals"]
    d, c = t["drives"], t["counts"]
    cards = [
        ("drives complete", f"{d['complete']} / {d['total']}"),
        ("drives failed", str(d["failed"])),
        ("frames", str(t["frames"])),
        ("ok / dropped / failed", f"{c['ok']} / {c['dropped']} / {c['decode_error'] + c['skipped']}"),
        ("fleet frames/s", _num(fleet.get("frames_per_s"), 1)),
        ("wall s", _num(fleet.get("wall_s"), 1)),
    ]
    body = "".join(f"<div class='card'>{escape(k)}<b>{escape(v)}</b></div>" for k, v in cards)
    return f"<section class='cards'>{body}</section>"


def _link(drive: dict[str, Any]) -> str:
    name = escape(drive["name"])
    return f"<a href='{escape(drive['report'])}'>{name}</a>" if drive.get("report") else name


def _standouts(fleet: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> str:
    blocks = []
    for key, (title, field) in STANDOUT_TITLES.items():
        listed = fleet.get("standouts", {}).get(key) or []
        if not listed:
            continue
        items = "".join(
            f"<li>{_link(by_name[s['name']])}: {escape(field)} {_num(s[field], 3)}</li>" for s in listed
        )
        blocks.append(f"<h3>{escape(title)}</h3><ol>{items}</ol>")
    if not blocks:
        return ""
    return "<section><h2>Drives that stand out</h2>" + "".join(blocks) + "</section>"


def _drive_table(drives: list[dict[str, Any]]) -> str:
    head = "".join(
        f"<th>{escape(h)}</th>"
        for h in ("drive", "status", "frames", "ok", "decode errors", "frames/s", *DRIVE_COLUMNS, "flagged",
                  "attempts")
    )  # fmt: skip
    rows = []
    for d in drives:
        if d["status"] == "complete":
            stats = d.get("stats", {})
            cells = [
                str(d["frames"]), str(d["counts"]["ok"]), str(d["counts"]["decode_error"]),
                _num(d.get("fps"), 1),
                *(_num((stats.get(c) or {}).get("mean"), 3) for c in DRIVE_COLUMNS),
                str(sum(d.get("flags", {}).values())),
            ]  # fmt: skip
        else:
            cells = ["–"] * (5 + len(DRIVE_COLUMNS))
        status = escape(d["status"] + (" (earlier run)" if d.get("resumed") else ""))
        nums = "".join(f"<td class='num'>{escape(c)}</td>" for c in [*cells, str(d["attempts"])])
        rows.append(f"<tr><td>{_link(d)}</td><td>{status}</td>{nums}</tr>")
    return f"<section><h2>Drives</h2><table><tr>{head}</tr>{''.join(rows)}</table></section>"
