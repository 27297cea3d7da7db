"""Shared fixtures: small trained-like checkpoints and their fp32 exports in each mode, made once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from export_nets import SIZE, config, make_checkpoints

from depthmask.export.frames import collect, frames_from_source


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(N, G) = hu2019_tiny and mask_drn_tiny depthmask checkpoints."""
    return make_checkpoints(tmp_path_factory.mktemp("checkpoints"), size=SIZE)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory, checkpoints: tuple[Path, Path]) -> dict:
    """mode → (fp32 ONNX path, the PyTorch AuditGraph it came from), for mask, masked and audit.

    audit uses hu2019_tiny; masked uses fcrn_tiny, so a second depth family is exported too.
    """
    from depthmask.export.onnx import graph_from_config, onnx_from_graph

    folder = tmp_path_factory.mktemp("onnx")
    fcrn = make_checkpoints(folder / "fcrn", depth_net="fcrn_tiny", size=SIZE)
    out = {}
    for mode in ("mask", "masked", "audit"):
        cfg = config(fcrn if mode == "masked" else checkpoints, mode)
        graph = graph_from_config(cfg)
        out[mode] = (onnx_from_graph(graph, folder / f"tiny-{mode}.onnx", cfg), graph)
    return out


@pytest.fixture(scope="session")
def frames() -> np.ndarray:
    """Four synthetic driving frames (uint8 BGR) at SIZE, not seen by the checkpoints' BatchNorm."""
    return collect(frames_from_source("synthetic:seed=2", SIZE[0], SIZE[1], 4))
