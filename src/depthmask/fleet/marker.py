"""The completion marker of a drive: written last, after its outputs are whole, so a rerun can skip it.

`drives/<name>/complete.json` holds the drive's spec, the model's sha256, the settings that change its
records, the record count and the size of its audit.jsonl. A drive counts as complete only when all of
them match: another model, other settings, or an audit log cut or rewritten since make it due again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from depthmask.contract.hashing import sha256_of
from depthmask.runtime.config import RunConfig
from depthmask.runtime.sinks.audit import write_json_atomic

MARKER = "complete.json"
MARKER_VERSION = 1
# RunConfig fields that change a drive's records or outputs (threads, device, workers and the folder
# do not: they change how fast, not what).
RECORD_SETTINGS = (
    "backend", "batch", "policy", "save", "fit", "precision", "depth_range", "depth_net", "max_frames",
    "overlay_width", "jump_iou", "roi", "roi_file",
)  # fmt: skip


def record_settings(run: RunConfig) -> dict[str, Any]:
    """The settings a marker is matched on (a region file by its content too: edited boxes redo a drive)."""
    d = run.to_dict()
    settings = {k: d[k] for k in RECORD_SETTINGS}
    if run.roi_file is not None and run.roi_file.is_file():
        settings["roi_file_sha256"] = sha256_of(run.roi_file)
    return json.loads(json.dumps(settings))  # as the marker reads back


def write_marker(folder: Path, spec: str, model_sha256: str, run: RunConfig, extra: dict[str, Any]) -> dict:
    """Mark `folder` complete (atomically, last); returns the marker. `extra`: attempts, worker, …"""
    audit = folder / "audit.jsonl"
    with open(audit, "rb") as f:
        records = sum(1 for _ in f)
    marker = {
        "version": MARKER_VERSION,
        "drive": spec,
        "model_sha256": model_sha256,
        "settings": record_settings(run),
        "records": records,
        "audit_bytes": audit.stat().st_size,
        "completed": time.time(),
        **extra,
    }
    write_json_atomic(folder / MARKER, marker)
    return marker


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker in `folder`, or None (none there, unreadable, or not a marker)."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("version") == MARKER_VERSION else None


def is_complete(folder: Path, spec: str, model_sha256: str, run: RunConfig) -> bool:
    """True when `folder` holds this drive's whole audit by this model with these settings."""
    marker = read_marker(folder)
    if marker is None:
        return False
    try:
        size = (folder / "audit.jsonl").stat().st_size
    except OSError:
        return False
    return (
        marker.get("drive") == spec
        and marker.get("model_sha256") == model_sha256
        and marker.get("settings") == record_settings(run)
        and marker.get("audit_bytes") == size
        and (folder / "summary.json").is_file()
    )
