"""`golden_from_model`: run a model on the first K frames of a source and store its outputs as the golden
reference — DIR/golden.npz (frames as uint8 and every output) and DIR/golden.json (what made them).

golden.json names files by their name only (the model, a source given as an absolute path): it is
committed beside CI configs and read on other machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from depthmask import __version__
from depthmask.contract.hashing import sha256_of
from depthmask.errors import ConfigError, OutputError, SourceError

GOLDEN_JSON = "golden.json"
GOLDEN_NPZ = "golden.npz"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class RecordConfig:
    """Every setting of `depthmask golden record`."""

    model: Path
    source: str
    out: Path
    frames: int = 4
    batch: int = 4
    backend: str | None = None  # None: by the model's suffix

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ConfigError(f"--frames must be ≥ 1; got {self.frames}")
        if self.batch < 1:
            raise ConfigError(f"--batch must be ≥ 1; got {self.batch}")


def portable(spec: str) -> str:
    """A source spec as golden.json keeps it: an absolute path becomes its name (no machine's layout)."""
    return Path(spec).name if Path(spec).is_absolute() else spec


def checkpoint_hashes(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Name and hashes of N's and G's weights from a model's metadata (paths left out); {} when absent."""
    out: dict[str, dict[str, Any]] = {}
    for role, entry in (metadata.get("checkpoints") or {}).items():
        if isinstance(entry, dict):
            out[str(role)] = {k: entry[k] for k in ("name", "sha256", "state_sha256") if entry.get(k)}
    return out


def open_backend(model: Path, backend: str | None) -> Any:
    """The runtime backend for `model`, loaded."""
    from depthmask.runtime.backends import create_backend

    if not Path(model).is_file():
        raise ConfigError(f"model {model} does not exist")
    runner = create_backend(backend, model)
    runner.load()
    return runner


def read_frames(spec: str, count: int, height: int, width: int) -> tuple[np.ndarray, list[int]]:
    """The first `count` decodable frames of `spec`, fitted to height×width as the runtime fits them
    (uint8 [K, H, W, 3], BGR) and their source indices."""
    from depthmask.sources import fit_frame, open_source

    frames: list[np.ndarray] = []
    indices: list[int] = []
    source = open_source(spec)
    source.open()
    try:
        for frame in source:
            if frame.ok and frame.image is not None:
                frames.append(fit_frame(frame.image, height, width))
                indices.append(int(frame.index))
            if len(frames) == count:
                break
    finally:
        source.close()
    if not frames:
        raise SourceError(f"source {spec!r} gave no decodable frame")
    return np.stack(frames), indices


def infer_all(runner: Any, frames: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    """Every output of `frames` run in batches of `batch`, concatenated (float32)."""
    parts = [runner.infer(frames[i : i + batch]) for i in range(0, len(frames), batch)]
    return {k: np.concatenate([np.asarray(p[k], dtype=np.float32) for p in parts]) for k in parts[0]}


def golden_from_model(cfg: RecordConfig) -> dict[str, Any]:
    """Record the golden outputs of `cfg.model`; returns golden.json's content."""
    runner = open_backend(cfg.model, cfg.backend)
    try:
        info = runner.info
        frames, indices = read_frames(cfg.source, cfg.frames, info.height, info.width)
        outputs = infer_all(runner, frames, cfg.batch)
        backend_name = runner.name
    finally:
        runner.close()
    columns = list(info.stats_columns)
    stats = outputs.get("stats")
    per_frame = (
        [dict(zip(columns, (float(v) for v in row), strict=True)) for row in stats]
        if stats is not None
        else []
    )
    doc = {
        "format_version": FORMAT_VERSION,
        "model": {
            "file": Path(cfg.model).name,
            "sha256": sha256_of(cfg.model),
            "backend": backend_name,
            "precision": info.metadata.get("precision"),
            "checkpoints": checkpoint_hashes(info.metadata),
        },
        "source": portable(cfg.source),
        "frames": len(frames),
        "frames_asked": cfg.frames,
        "frame_indices": indices,
        "input": {"height": info.height, "width": info.width, "channel_order": info.channel_order},
        "epsilon": info.epsilon,
        "outputs": sorted(outputs),
        "stats_columns": columns,
        "stats": per_frame,
        "npz": GOLDEN_NPZ,
        "depthmask_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        cfg.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cfg.out / GOLDEN_NPZ, frames=frames, **outputs)
        (cfg.out / GOLDEN_JSON).write_text(json.dumps(doc, indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write the golden outputs to {cfg.out}: {exc}") from None
    return doc


def read_golden(directory: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """golden.json and the arrays of golden.npz in `directory`."""
    directory = Path(directory)
    doc_path, npz_path = directory / GOLDEN_JSON, directory / GOLDEN_NPZ
    if not doc_path.is_file() or not npz_path.is_file():
        raise ConfigError(
            f"{directory} holds no golden outputs ({GOLDEN_JSON} and {GOLDEN_NPZ}); "
            "make them with: depthmask golden record MODEL --source S --out DIR"
        )
    try:
        doc = json.loads(doc_path.read_text())
        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the golden outputs in {directory}: {exc}") from None
    if "frames" not in arrays or not isinstance(doc, dict):
        raise ConfigError(f"{npz_path} holds no frames; record it again")
    return doc, arrays
