"""Shared fixtures of the bench tests: tiny networks, a small frame size, one exported ONNX file."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_tiny import SIZE


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hu2019_tiny + mask_drn_tiny (random weights, seed 0) exported in audit mode at SIZE."""
    from depthmask.export.config import ExportConfig
    from depthmask.export.onnx import onnx_from_checkpoint

    cfg = ExportConfig(
        depth_net="hu2019_tiny",
        mask_net="mask_drn_tiny",
        random_weights=True,
        height=SIZE[0],
        width=SIZE[1],
        check=False,
    )
    return onnx_from_checkpoint(cfg, tmp_path_factory.mktemp("bench-onnx") / "tiny-audit.onnx")
