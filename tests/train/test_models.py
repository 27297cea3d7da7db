"""N and G: exact parameter counts of the paper's networks, shapes, registry look-ups."""

from __future__ import annotations

import pytest
import torch

from depthmask.errors import ConfigError, ModelNotFoundError
from depthmask.nets.models import create_model, list_models, model_entry


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "params", "out_hw"),
    [
        ("hu2019_resnet50", 67_569_473, (114, 152)),
        ("hu2019_densenet161", 77_101_151, (114, 152)),
        ("hu2019_senet154", 157_101_425, (114, 152)),
        ("fcrn_resnet50", None, (128, 160)),
    ],
)
def test_full_size_depth_nets(name: str, params: int | None, out_hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    if params is not None:
        assert n_params(model) == params
    assert model_entry(name).input_size == (228, 304)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 228, 304))
    assert tuple(out.shape) == (1, 1, *out_hw)
    assert torch.isfinite(out).all()


@pytest.mark.slow
def test_full_size_mask_net() -> None:
    torch.manual_seed(0)
    g = create_model("mask_drn_d_22").eval()
    assert n_params(g) == 25_259_761
    assert n_params(g.E) == 15_880_752
    keys = [k for k in g.state_dict() if not k.endswith("num_batches_tracked")]
    assert len(keys) == 172
    with torch.no_grad():
        m = g(torch.randn(2, 3, 228, 304))
    assert tuple(m.shape) == (2, 1, 228, 304)
    assert float(m.min()) > 0.0 and float(m.max()) < 1.0


def test_feature_block_shapes_match_the_spec() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 3, 228, 304)
    resnet = create_model("hu2019_resnet18").eval()
    with torch.no_grad():
        blocks = resnet.E(x)
    assert [tuple(b.shape[-2:]) for b in blocks] == [(57, 76), (29, 38), (15, 19), (8, 10)]
    dense = create_model("hu2019_densenet_tiny").eval()
    with torch.no_grad():
        blocks = dense.E(x)
    # DenseNet blocks are taken before each transition's pool: 57×76, 28×38, 14×19, 7×9.
    assert [tuple(b.shape[-2:]) for b in blocks] == [(57, 76), (28, 38), (14, 19), (7, 9)]


@pytest.mark.parametrize("name", ["hu2019_tiny", "hu2019_densenet_tiny", "fcrn_tiny", "mask_drn_tiny"])
@pytest.mark.parametrize("hw", [(64, 96), (61, 83)])
def test_small_members_shapes(name: str, hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 3, *hw))
    assert out.shape[:2] == (3, 1)
    if name.startswith("mask"):
        assert tuple(out.shape[-2:]) == hw
        assert float(out.min()) > 0 and float(out.max()) < 1
    elif name.startswith("hu2019"):
        # Half resolution for even sizes; 2 × block1 (stride 4, rounded up) in general.
        assert tuple(out.shape[-2:]) == tuple(2 * ((s + 3) // 4) for s in hw)
    assert n_params(model) < 2_000_000


def test_registry_lists_and_suggests() -> None:
    assert {"hu2019_resnet50", "hu2019_densenet161", "hu2019_senet154", "fcrn_resnet50"} <= set(
        list_models(role="depth")
    )
    assert list_models("mask*") == list_models(role="mask") == ["mask_drn_d_22", "mask_drn_tiny"]
    with pytest.raises(ModelNotFoundError, match="Did you mean 'hu2019_densenet161'"):
        create_model("hu2019_densenet16")
    with pytest.raises(ConfigError, match="does not take these settings"):
        create_model("hu2019_tiny", depth=3)
    with pytest.raises(ConfigError, match="no ImageNet weights"):
        from depthmask.nets.models.backbones import build_encoder

        build_encoder("resnet_tiny", pretrained=True)


def test_created_model_remembers_how_it_was_built() -> None:
    model = create_model("mask_drn_tiny", width=16)
    assert model.depthmask_name == "mask_drn_tiny"
    assert model.depthmask_kwargs == {"width": 16}
