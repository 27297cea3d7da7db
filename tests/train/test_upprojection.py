"""UpProjection: convolving before the resize is the same function as the authors' resize-then-convolve."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from depthmask.nets.models.upprojection import UpProjection, in_authors_order  # noqa: E402


def _block(in_channels: int, out_channels: int) -> UpProjection:
    torch.manual_seed(0)
    block = UpProjection(in_channels, out_channels)
    for bn in (block.bn1, block.bn1_2, block.bn2):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    return block


@pytest.mark.parametrize("size", [(24, 30), (7, 9), (16, 20)])  # ×3-ish, odd sizes, exactly ×2
def test_both_orders_give_the_same_outputs(size: tuple[int, int]) -> None:
    block = _block(96, 1).eval()  # 96 > 50 · 1: convolves first unless told otherwise
    assert block.convolves_first
    x = torch.randn(2, 96, 8, 10)
    with torch.no_grad():
        fast = block(x, size)
        block.conv_first = False
        authors = block(x, size)
    assert fast.shape == authors.shape == (2, 1, *size)
    assert torch.allclose(fast, authors, rtol=1e-5, atol=1e-5)


def test_both_orders_give_the_same_gradients() -> None:
    block = _block(64, 1).train()
    x = torch.randn(2, 64, 5, 6)
    grads = []
    for conv_first in (True, False):
        block.zero_grad()
        block.conv_first = conv_first
        block(x, (12, 15)).square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in block.parameters()]))
    # Summation order differs between the two orders (and between CPU kinds' kernels): compare
    # against the gradients' own magnitude, not an absolute 1e-4 on values of ~400.
    scale = grads[1].abs().max().item()
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5 * scale)


def test_the_choice_is_automatic_and_the_authors_order_can_be_forced() -> None:
    assert UpProjection(2048, 16).convolves_first  # MFF's widest block
    assert not UpProjection(512, 16).convolves_first  # narrower than 50 taps × 16 outputs
    assert not UpProjection(1024, 512).convolves_first  # a decoder block
    model = torch.nn.Sequential(UpProjection(2048, 16), UpProjection(1024, 16))
    assert all(not m.convolves_first for m in in_authors_order(model))


def test_the_authors_way_counts_its_own_flops() -> None:
    """bench's baseline runs copies of N and G in the authors' order: more FLOPs, same outputs."""
    import numpy as np

    from depthmask.bench.authors import AuthorsWay
    from depthmask.contract.model_info import ModelInfo

    class Wide(torch.nn.Module):  # a depth net whose fusion block convolves first
        def __init__(self) -> None:
            super().__init__()
            self.up = UpProjection(64, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.up(torch.nn.functional.avg_pool2d(x.repeat(1, 22, 1, 1)[:, :64], 4), x.shape[-2:])

    class Mask(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(x[:, :1])

    torch.manual_seed(0)
    net = Wide().eval()
    info = ModelInfo("<test>", 16, 20, "bgr", "audit", ("mask", "depth", "depth_masked"), (), 0.025, None)
    authors = AuthorsWay(net, Mask(), info)
    assert net.up.convolves_first and not authors.depth_net.up.convolves_first  # the caller's is untouched
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fused = net(torch.zeros(1, 3, 16, 20))
    assert authors.gflop_per_frame > 2 * counter.get_total_flops() / 1e9  # N twice, each dearer
    frames = np.random.default_rng(0).integers(0, 256, (1, 16, 20, 3), dtype=np.uint8)
    x = torch.from_numpy(((frames[0, ..., ::-1] / 255.0 - 0.45) / 0.225).astype(np.float32).copy())
    with torch.no_grad():
        ours = net(x.permute(2, 0, 1)[None]).numpy()
        theirs = authors.depth_net(x.permute(2, 0, 1)[None]).numpy()
    assert fused.shape == (1, 1, 16, 20) and np.allclose(ours, theirs, rtol=1e-5, atol=1e-5)
