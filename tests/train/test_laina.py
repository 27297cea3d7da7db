"""FCRN as published (Laina et al., 3DV 2016): the fast up-convolution is un-pooling + a 5×5 conv, the
full-size network's shapes and parameter count, and the reverse Huber loss against values by hand."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from depthmask.cli import app
from depthmask.nets.checkpoint import read_config
from depthmask.nets.models import create_model, model_entry
from depthmask.nets.models.fast_upprojection import FastUpConv, FastUpProjection, fast_kernels_from_5x5
from depthmask.train.config import DepthTrainConfig, config_from_dict
from depthmask.train.losses import DEPTH_LOSSES, berhu_loss
from depthmask.train.trainer import train_depth


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def unpool_then_5x5(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The slow form: each value at the top-left of a 2×2 block of zeros, then a 5×5 conv with padding 2."""
    b, c, h, w = x.shape
    unpooled = x.new_zeros(b, c, 2 * h, 2 * w)
    unpooled[..., 0::2, 0::2] = x
    return F.conv2d(unpooled, weight, bias, padding=2)


def _fast_from(weight: torch.Tensor, bias: torch.Tensor, padding: str = "after") -> FastUpConv:
    up = FastUpConv(weight.shape[1], weight.shape[0], padding)  # type: ignore[arg-type]
    if padding == "after":
        up.load_5x5(weight, bias)
    else:  # load_5x5 refuses: the identity holds only for "after"; the same kernels, set directly
        with torch.no_grad():
            convs = (up.conv_a, up.conv_b, up.conv_c, up.conv_d)
            for conv, kernel in zip(convs, fast_kernels_from_5x5(weight), strict=True):
                conv.weight.copy_(kernel)
                conv.bias.copy_(bias)
    return up


@pytest.mark.parametrize("hw", [(6, 8), (5, 7), (1, 1), (2, 9)])
def test_fast_upconv_is_unpooling_then_a_5x5_conv(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, *hw)
    weight, bias = torch.randn(5, 8, 5, 5), torch.randn(5)
    with torch.no_grad():
        fast = _fast_from(weight, bias)(x)
    slow = unpool_then_5x5(x, weight, bias)
    assert fast.shape == slow.shape == (2, 5, 2 * hw[0], 2 * hw[1])
    diff = (fast - slow).abs().max().item()
    print(f"{hw}: max |fast − un-pool + 5×5| = {diff:.2e} (values up to {slow.abs().max().item():.1f})")
    assert diff < 1e-5


def test_the_four_kernels_are_sub_samplings_of_the_5x5() -> None:
    w = torch.arange(25.0).reshape(1, 1, 5, 5)  # w[r, c] = 5r + c
    a, b, c, d = fast_kernels_from_5x5(w)
    assert [tuple(k.shape[-2:]) for k in (a, b, c, d)] == [(3, 3), (2, 3), (3, 2), (2, 2)]
    assert a[0, 0].tolist() == [[0, 2, 4], [10, 12, 14], [20, 22, 24]]
    assert b[0, 0].tolist() == [[5, 7, 9], [15, 17, 19]]
    assert c[0, 0].tolist() == [[1, 3], [11, 13], [21, 23]]
    assert d[0, 0].tolist() == [[6, 8], [16, 18]]
    with pytest.raises(ValueError, match="5×5"):
        fast_kernels_from_5x5(torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match='padding="after"'):
        FastUpConv(1, 1, "before").load_5x5(w)
    with pytest.raises(ValueError, match="padding must be one of after, before"):
        FastUpConv(1, 1, "top")  # type: ignore[arg-type]


def test_the_authors_tensorflow_padding_reads_one_coarse_pixel_earlier() -> None:
    """padding="before" (their NYU model): odd rows / columns hold the identity's two pixels up / left."""
    torch.manual_seed(1)
    x = torch.randn(1, 3, 6, 7)
    weight, bias = torch.randn(2, 3, 5, 5), torch.randn(2)
    with torch.no_grad():
        exact, tf = _fast_from(weight, bias)(x), _fast_from(weight, bias, "before")(x)
    torch.testing.assert_close(tf[..., 0::2, 0::2], exact[..., 0::2, 0::2])  # A: padded alike
    torch.testing.assert_close(tf[..., 3::2, 0::2], exact[..., 1:-2:2, 0::2])  # B
    torch.testing.assert_close(tf[..., 0::2, 3::2], exact[..., 0::2, 1:-2:2])  # C
    torch.testing.assert_close(tf[..., 3::2, 3::2], exact[..., 1:-2:2, 1:-2:2])  # D
    assert not torch.allclose(tf, exact)


def test_fast_upprojection_doubles_the_size_and_trains() -> None:
    torch.manual_seed(0)
    block = FastUpProjection(8, 4).train()
    x = torch.randn(2, 8, 5, 7, requires_grad=True)
    y = block(x)
    assert y.shape == (2, 4, 10, 14) and float(y.detach().min()) >= 0.0
    y.square().mean().backward()
    assert x.grad is not None and all(p.grad is not None for p in block.parameters())
    names = {k.rsplit(".", 1)[0] for k in block.state_dict()}
    assert {"upconv1.conv_a", "upconv1.conv_d", "bn1", "conv1_2", "bn1_2", "upconv2.conv_b", "bn2"} <= names


@pytest.mark.slow
def test_fcrn_resnet50_is_the_published_network() -> None:
    torch.manual_seed(0)
    model = create_model("fcrn_resnet50").eval()
    assert model_entry("fcrn_resnet50").input_size == (228, 304)
    # Laina et al. report 63.6 M: ResNet-50 without its classifier 23,508,032 + the decoder 40,064,641.
    assert (n_params(model), n_params(model.E), n_params(model.D)) == (63_572_673, 23_508_032, 40_064_641)
    assert [type(m).__name__ for m in (model.D.up1, model.D.up4)] == ["FastUpProjection"] * 2
    assert model.D.up4.conv1_2.out_channels == 64 and model.D.conv.bias is not None
    with torch.no_grad():
        out = model(torch.randn(1, 3, 228, 304))
    assert tuple(out.shape) == (1, 1, 128, 160)
    assert torch.isfinite(out).all() and float(out.min()) >= 0.0  # the final ReLU


@pytest.mark.slow
def test_the_bilinear_variant_keeps_its_checkpoint_layout() -> None:
    model = create_model("fcrn_resnet50_bilinear").eval()
    assert n_params(model) == 63_563_009
    keys = model.state_dict()
    assert {"D.conv.weight", "D.up1.conv1.weight", "D.up4.conv2.weight", "D.pred.bias"} <= set(keys)
    assert "D.conv.bias" not in keys and tuple(keys["D.up1.conv1.weight"].shape) == (512, 1024, 5, 5)
    with torch.no_grad():
        assert tuple(model(torch.randn(1, 3, 228, 304)).shape) == (1, 1, 128, 160)


@pytest.mark.parametrize("name", ["fcrn_tiny", "fcrn_bilinear_tiny"])
def test_tiny_members_output_sixteen_times_the_last_block(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.randn(2, 3, 61, 83)
    with torch.no_grad():
        h, w = model.E(x)[-1].shape[-2:]
        assert tuple(model(x).shape) == (2, 1, 16 * h, 16 * w)


def test_fcrn_settings_reach_the_decoder() -> None:
    model = create_model("fcrn_tiny", dropout=0.3, padding="before")
    assert model.D.drop.p == 0.3 and model.D.up2.upconv2.padding == "before"
    assert model.depthmask_kwargs == {"dropout": 0.3, "padding": "before"}


# -- reverse Huber -------------------------------------------------------------------------------------


def _errors(*values: float) -> tuple[torch.Tensor, torch.Tensor]:
    """pred with these signed errors against a zero target, 1×1×1×N."""
    pred = torch.tensor(values, dtype=torch.float64).reshape(1, 1, 1, -1)
    return pred.requires_grad_(True), torch.zeros_like(pred)


def test_berhu_by_hand() -> None:
    pred, target = _errors(0.1, -0.5, 1.0)  # c = 0.2 · 1.0
    expected = [0.1, (0.25 + 0.04) / 0.4, (1.0 + 0.04) / 0.4]
    loss = berhu_loss(pred, target)
    assert loss.item() == pytest.approx(sum(expected) / 3, abs=1e-12)
    # c is the step's constant: d/de (e² + c²)/(2c) = e/c, not the 2.6 a c = 0.2|e| tracked would give.
    loss.backward()
    assert pred.grad.flatten().tolist() == pytest.approx([1 / 3, -2.5 / 3, 5 / 3], abs=1e-12)


def test_berhu_counts_only_valid_pixels_for_c_and_the_mean() -> None:
    pred, target = _errors(0.1, -0.5, 1.0, 3.0)
    valid = torch.tensor([True, True, True, False]).reshape(1, 1, 1, 4)
    expected = (0.1 + (0.25 + 0.04) / 0.4 + (1.0 + 0.04) / 0.4) / 3  # c from 1.0, not 3.0
    assert berhu_loss(pred, target, valid).item() == pytest.approx(expected, abs=1e-12)


def test_berhu_c_is_over_the_whole_batch() -> None:
    pred = torch.tensor([[0.1, 0.5], [1.0, 0.05]], dtype=torch.float64).reshape(2, 1, 1, 2)
    each = [0.1, (0.25 + 0.04) / 0.4, (1.0 + 0.04) / 0.4, 0.05]  # c = 0.2 for both images
    assert berhu_loss(pred, torch.zeros_like(pred)).item() == pytest.approx(sum(each) / 4, abs=1e-12)


def test_berhu_with_no_error_is_zero_and_finite() -> None:
    pred = torch.full((2, 1, 3, 3), 2.0, requires_grad=True)
    loss = berhu_loss(pred, pred.detach().clone())
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(pred.grad).all() and not pred.grad.any()
    # No valid pixel at all: c = 0 and nothing counted.
    other = pred.detach() + 1.0
    none_valid = torch.zeros_like(pred, dtype=torch.bool)
    assert berhu_loss(pred, other, none_valid).item() == 0.0


def test_berhu_is_a_training_loss_choice(tmp_path: Path) -> None:
    assert DEPTH_LOSSES["berhu"] is berhu_loss
    result = CliRunner().invoke(
        app, [*shlex.split("train depth -d synthetic: -n fcrn_tiny --loss berhu"), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert config_from_dict(json.loads(result.stdout)).loss == "berhu"
    cfg = DepthTrainConfig(
        network="fcrn_tiny",
        data="synthetic:frames=8",
        input_size=(32, 48),
        batch_size=4,
        epochs=1,
        workers=0,
        checkpoint_every=0,
        loss="berhu",
        progress=False,
        tensorboard=False,
        out=tmp_path,
    )
    assert train_depth(cfg).step == 2
    assert read_config(tmp_path / "last.safetensors")["loss"] == "berhu"
