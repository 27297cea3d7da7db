"""A real exported model for the runtime tests: hu2019_tiny + mask_drn_tiny in audit mode at 64×96.

The networks come from the export tests' helper (`tests/export/export_nets.py`): seeded weights whose
BatchNorm statistics are settled on synthetic frames, so depth spreads around 3 m and the mask around ε
(freshly initialised nets give depth ≈ 0 m everywhere, against which a depth-PNG comparison could not
fail). They are saved as depthmask checkpoints first, so the torch backend rebuilds them from the ONNX
file's metadata and checks their hashes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

EXPORT_TESTS = Path(__file__).resolve().parents[1] / "export"
THREADS = 1  # CI has two cores and the runtime tests share them


def export_nets() -> ModuleType:
    """tests/export/export_nets.py, imported under the name the export tests use (once per session)."""
    if "export_nets" not in sys.modules:
        spec = importlib.util.spec_from_file_location("export_nets", EXPORT_TESTS / "export_nets.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["export_nets"] = module
        spec.loader.exec_module(module)
    return sys.modules["export_nets"]


@pytest.fixture(scope="session")
def nets() -> ModuleType:
    """The export tests' helper module (make_checkpoints, config, SIZE)."""
    return export_nets()


@pytest.fixture(scope="session")
def model_size() -> tuple[int, int]:
    """(H, W) of the exported model."""
    return tuple(export_nets().SIZE)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def audit_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An fp32 audit-mode ONNX file (dynamic batch) exported from tiny checkpoints, made once."""
    import torch

    from depthmask.export.onnx import onnx_from_checkpoint

    torch.set_num_threads(THREADS)
    nets = export_nets()
    folder = tmp_path_factory.mktemp("runtime-model")
    checkpoints = nets.make_checkpoints(folder, size=nets.SIZE)
    return onnx_from_checkpoint(nets.config(checkpoints, "audit"), folder / "tiny-audit.onnx")


@pytest.fixture(scope="session")
def sample_frames(model_size: tuple[int, int]) -> np.ndarray:
    """Four synthetic driving frames (uint8 BGR) at the model's size."""
    from depthmask.export.frames import collect, frames_from_source

    return collect(frames_from_source("synthetic:seed=2", *model_size, 4))


@pytest.fixture(scope="session")
def region_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """(fp32 ONNX with the `regions` input planned for 3 boxes, the PyTorch AuditGraph it came from)."""
    import torch

    from depthmask.export.onnx import graph_from_config, onnx_from_graph

    torch.set_num_threads(THREADS)
    nets = export_nets()
    folder = tmp_path_factory.mktemp("region-model")
    cfg = nets.config(nets.make_checkpoints(folder, size=nets.SIZE), "audit", regions=3)
    graph = graph_from_config(cfg)
    return onnx_from_graph(graph, folder / "tiny-regions.onnx", cfg), graph


@pytest.fixture(scope="session")
def curve_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """(fp32 ONNX with the `curve` output at 5, 20, 50 and 100 %, the PyTorch AuditGraph it came from)."""
    import torch

    from depthmask.export.onnx import graph_from_config, onnx_from_graph

    torch.set_num_threads(THREADS)
    nets = export_nets()
    folder = tmp_path_factory.mktemp("curve-model")
    cfg = nets.config(nets.make_checkpoints(folder, size=nets.SIZE), "audit", curve=(0.05, 0.2, 0.5, 1.0))
    graph = graph_from_config(cfg)
    return onnx_from_graph(graph, folder / "tiny-curve.onnx", cfg), graph
