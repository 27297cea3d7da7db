"""Does the pipeline overlap decode, inference and writing? (issue: end-to-end ≥ 90 % of backend-only).

A backend that sleeps a fixed time per batch stands in for the accelerator (its throughput is known
exactly: batch / sleep); the source is a real video file decoded by OpenCV and the sinks are the real
audit log, per-frame files and overlay video. End-to-end frames/s over backend-only frames/s is the
overlap efficiency; 1.0 means decode and writing are fully hidden behind inference.

    python benchmarks/streaming_overlap.py [--frames 200] [--batch 4] [--sleep-ms 40]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.contract.model_info import ModelInfo
from depthmask.environment import fingerprint
from depthmask.runtime.backends.base import BackendBase
from depthmask.runtime.overlay import overlay_size
from depthmask.runtime.pipeline import Pipeline, PipelineOptions
from depthmask.runtime.sinks.audit import AuditLogSink
from depthmask.runtime.sinks.files import FrameFilesSink
from depthmask.runtime.sinks.video import OverlayVideoSink
from depthmask.sources import VideoFileSource

H, W = 128, 416
COLUMNS = ("mask_mean", "mask_keep")


class SleepBackend(BackendBase):
    """Returns well-formed outputs after sleeping `sleep_s` per batch (a device with known speed)."""

    name = "sleep"

    def __init__(self, sleep_s: float) -> None:
        self.sleep_s = sleep_s
        meta = {
            "format_version": "1",
            "mode": "audit",
            "input": {"height": H, "width": W},
            "outputs": ["mask", "depth", "depth_masked", "stats"],
            "stats_columns": list(COLUMNS),
        }
        self.info = ModelInfo.from_metadata(meta, "sleep")

    def load(self) -> None:
        """Nothing to load."""

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Sleep, then return outputs shaped like the fused graph's."""
        time.sleep(self.sleep_s)
        b = frames.shape[0]
        mask = frames[..., :1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        depth = np.full((b, 1, H // 2, W // 2), 10.0, np.float32)
        stats = np.stack([mask.mean((1, 2, 3)), (mask > 0.025).mean((1, 2, 3))], axis=1).astype(np.float32)
        return {"mask": mask, "depth": depth, "depth_masked": depth, "stats": stats}

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> dict[str, Any]:
        """Its sleep."""
        return {"backend": self.name, "sleep_s": self.sleep_s}


def make_video(path: Path, frames: int) -> None:
    """A 375×1242 (KITTI-sized) test video, so decode and resize cost what they cost on real drives."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (1242, 375))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (375, 1242, 3), dtype=np.uint8)
    for i in range(frames):
        writer.write(np.roll(base, 7 * i, axis=1))
    writer.release()


def measure(frames: int, batch: int, sleep_ms: float) -> dict[str, Any]:
    """Backend-only and end-to-end throughput, and their ratio."""
    backend = SleepBackend(sleep_ms / 1e3)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        video = tmp_path / "drive.mp4"
        make_video(video, frames)
        x = np.zeros((batch, H, W, 3), np.uint8)
        t0 = time.perf_counter()
        n_batches = -(-frames // batch)
        for _ in range(n_batches):
            backend.infer(x)
        backend_fps = frames / (time.perf_counter() - t0)

        source = VideoFileSource(video)
        source.open()
        out = tmp_path / "run"
        sinks = [
            OverlayVideoSink(
                out, [source.source_id], {source.source_id: 10.0}, overlay_size(H, W, True, True)
            ),
            FrameFilesSink(out, {"depth", "mask"}, [source.source_id]),
            AuditLogSink(out / "audit.jsonl", COLUMNS),
        ]
        for s in sinks:
            s.open()
        report = Pipeline(
            [source], ["every"], backend, sinks, PipelineOptions(batch=batch, max_wait_ms=50)
        ).run()
        for s in sinks:
            s.close()
        source.close()
    e2e_fps = report.counts["ok"] / report.wall_s
    return {
        "frames": frames,
        "batch": batch,
        "sleep_ms_per_batch": sleep_ms,
        "backend_only_fps": round(backend_fps, 2),
        "end_to_end_fps": round(e2e_fps, 2),
        "overlap_efficiency": round(e2e_fps / backend_fps, 4),
        "ok_frames": report.counts["ok"],
    }


def main() -> None:
    """Run the measurement and write benchmarks/results/streaming_overlap.json."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--sleep-ms", type=float, default=40.0)
    p.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "streaming_overlap.json")
    args = p.parse_args()
    rows = [measure(args.frames, args.batch, args.sleep_ms), measure(args.frames, 1, args.sleep_ms / 4)]
    for r in rows:
        print(json.dumps(r))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "environment": fingerprint()}, indent=2))


if __name__ == "__main__":
    main()
