"""Shared fixtures of the bench tests: tiny networks, a small frame size, one exported ONNX file."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_tiny import tiny_export_config


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hu2019_tiny + mask_drn_tiny (random weights, seed 0) exported in audit mode at SIZE."""
    from depthmask.export.onnx import onnx_from_checkpoint

    out = tmp_path_factory.mktemp("bench-onnx") / "tiny-audit.onnx"
    return onnx_from_checkpoint(tiny_export_config(), out)
