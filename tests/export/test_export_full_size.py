"""The paper's networks at their size: ResNet-50 N and DRN-D-22 G fused in audit mode at 228×304."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from depthmask.contract.metadata import read_metadata
from depthmask.export.config import ExportConfig


@pytest.mark.slow
# DenseNet-161 exports the same way (the small DenseNet family test covers its graph); one full-size
# network keeps the suite inside its time budget on a 2-core CI machine.
@pytest.mark.parametrize("depth_net", ["hu2019_resnet50"])
def test_full_size_audit_export_checks_and_runs(tmp_path: Path, depth_net: str) -> None:
    from depthmask.export.onnx import onnx_from_checkpoint

    t0 = time.perf_counter()
    cfg = ExportConfig(depth_net=depth_net, mask_net="mask_drn_d_22", random_weights=True, check=False)
    path = onnx_from_checkpoint(cfg, tmp_path / f"{depth_net}-audit.onnx")
    exported = time.perf_counter() - t0
    onnx.checker.check_model(str(path), full_check=True)
    meta = read_metadata(path)
    assert (meta["input"]["height"], meta["input"]["width"]) == (228, 304)
    assert [o["shape"] for o in meta["outputs"]] == [
        ["batch", 1, 228, 304], ["batch", 1, 114, 152], ["batch", 1, 114, 152], ["batch", 7],
    ]  # fmt: skip
    assert meta["gflop_per_frame"] > 100  # G once and N twice at 228×304, counted at export
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(0).integers(0, 256, (1, 228, 304, 3), dtype=np.uint8)
    t1 = time.perf_counter()
    mask, depth, depth_masked, stats = session.run(None, {"frames": frames})
    ran = time.perf_counter() - t1
    assert mask.shape == (1, 1, 228, 304) and depth.shape == depth_masked.shape == (1, 1, 114, 152)
    assert np.isfinite(stats).all() and mask.min() >= 0.0 and mask.max() <= 1.0
    print(f"{depth_net}: export {exported:.0f} s, one audit frame in ONNX Runtime {ran:.1f} s, "
          f"{meta['gflop_per_frame']:.0f} GFLOP/frame, {path.stat().st_size / 2**20:.0f} MiB")  # fmt: skip
