"""The authors' released files: DataParallel prefix, dotted DenseNet names, no BN counters, legacy pickle."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from depthmask.errors import CheckpointError
from depthmask.nets.authors import detect_network, to_authors_layout
from depthmask.nets.loading import load_network
from depthmask.nets.models import create_model


def _randomise_bn(model: torch.nn.Module) -> None:
    # Non-trivial running statistics so a mis-assigned BN key would change the output.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _write_authors_file(model: torch.nn.Module, path: Path) -> None:
    state = to_authors_layout(model.state_dict())
    # Saved the way PyTorch 0.3.1 did: the legacy (non-zip) serialisation.
    torch.save(state, path, _use_new_zipfile_serialization=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("hu2019_resnet50", "model_resnet"),
        ("hu2019_densenet161", "model_densenet"),
        ("hu2019_senet154", "model_senet"),
        ("mask_drn_d_22", "mask_resnet"),
    ],
)
def test_released_layout_loads_strictly_and_gives_identical_outputs(
    name: str, filename: str, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    _randomise_bn(model)
    path = tmp_path / filename
    _write_authors_file(model, path)

    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert all(k.startswith("module.") for k in raw)
    assert not any(k.endswith("num_batches_tracked") for k in raw)
    if name == "hu2019_densenet161":
        assert "module.E.features.denseblock1.denselayer1.norm.1.weight" in raw
        assert "module.E.features.denseblock1.denselayer1.conv.2.weight" in raw
    if name == "mask_drn_d_22":
        assert len(raw) == 172

    loaded = load_network(None, path)  # network detected from the keys
    assert loaded.depthmask_name == name
    assert not loaded.training
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_detect_network_refuses_unknown_keys() -> None:
    with pytest.raises(CheckpointError, match="could not tell which network"):
        detect_network({"conv.weight": torch.zeros(1)})


def test_weights_that_do_not_fit_are_refused_with_the_keys(tmp_path: Path) -> None:
    g = create_model("mask_drn_tiny")
    path = tmp_path / "mask_tiny"
    _write_authors_file(g, path)
    with pytest.raises(CheckpointError, match=r"does not fit network 'hu2019_tiny': missing"):
        load_network("hu2019_tiny", path)

    state = g.state_dict()
    state["D.conv.bias"] = torch.zeros(2)
    broken = tmp_path / "broken"
    torch.save(to_authors_layout(state), broken)
    with pytest.raises(CheckpointError, match=r"wrong shape \(1\): D.conv.bias"):
        load_network("mask_drn_tiny", broken)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil"
    torch.save({"net": torch.nn.Linear(1, 1)}, path)  # a pickled module, not tensors
    with pytest.raises(CheckpointError, match="loads without unpickling"):
        load_network("hu2019_tiny", path)
