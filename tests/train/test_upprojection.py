"""UpProjection: every order of resize and convolution is the authors' resize-then-convolve."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from depthmask.nets.models.upprojection import (  # noqa: E402
    INTERPOLATION_WEIGHT,
    ORDERS,
    UpProjection,
    in_authors_order,
    order_macs,
)


def _block(in_channels: int, out_channels: int) -> UpProjection:
    torch.manual_seed(0)
    block = UpProjection(in_channels, out_channels)
    for bn in (block.bn1, block.bn1_2, block.bn2):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    return block


@pytest.mark.parametrize("order", ORDERS[1:])
@pytest.mark.parametrize("size", [(24, 30), (7, 9), (16, 20), (8, 23)])  # ×3-ish, odd, exactly ×2, one axis
def test_every_order_gives_the_authors_outputs(order: str, size: tuple[int, int]) -> None:
    block = _block(24, 3).eval()
    x = torch.randn(2, 24, 8, 10)
    with torch.no_grad():
        block.order = order
        fast = block(x, size)
        block.order = "resize_first"
        authors = block(x, size)
    assert fast.shape == authors.shape == (2, 3, *size)
    assert torch.allclose(fast, authors, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", ORDERS[1:])
def test_every_order_gives_the_authors_gradients(order: str) -> None:
    block = _block(64, 1).train()
    x = torch.randn(2, 64, 5, 6)
    grads = []
    for each in (order, "resize_first"):
        block.zero_grad()
        block.order = each
        block(x, (12, 15)).square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in block.parameters()]))
    # Summation order differs between the orders (and between CPU kinds' kernels): compare
    # against the gradients' own magnitude, not an absolute 1e-4 on values of ~400.
    scale = grads[1].abs().max().item()
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("channels", "outs", "coarse", "fine"),
    [
        (2048, 16, (8, 10), (114, 152)),
        (1024, 512, (8, 10), (15, 19)),
        (128, 64, (114, 152), (228, 304)),
        (12, 6, (9, 11), (18, 11)),
        (4, 8, (6, 6), (12, 12)),
        (1, 8, (6, 6), (12, 12)),
    ],
)
def test_the_cost_model_counts_what_each_order_computes(
    channels: int, outs: int, coarse: tuple[int, int], fine: tuple[int, int]
) -> None:
    """order_macs is the 5×5 work torch counts (FLOPs = 2 × multiply-adds); the choice is the cheapest."""
    from torch.utils.flop_counter import FlopCounterMode

    block = UpProjection(channels, outs).eval()
    x = torch.zeros(1, channels, *coarse)
    # conv1_2 (3×3 at the fine size) runs in every order: count it once to take it out.
    rest = 2 * fine[0] * fine[1] * outs * outs * 9
    counted = {}
    for order in ORDERS:
        block.order = order
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            block(x, fine)
        counted[order] = counter.get_total_flops() - rest
        assert counted[order] == 2 * sum(order_macs(order, channels, 2 * outs, coarse, fine)), order
    block.order = None
    chosen = block.order_for(coarse, fine)

    def cost(order: str) -> float:
        convolution, interpolation = order_macs(order, channels, 2 * outs, coarse, fine)  # type: ignore[arg-type]
        return convolution + INTERPOLATION_WEIGHT * interpolation

    assert cost(chosen) == min(cost(order) for order in ORDERS)


def test_the_choice_is_by_cost_and_the_authors_order_can_be_forced() -> None:
    assert UpProjection(2048, 16).order_for((8, 10), (114, 152)) == "convolve_first"  # MFF's widest block
    assert UpProjection(1024, 512).order_for((8, 10), (15, 19)) == "convolve_first"  # N's first decoder block
    assert UpProjection(128, 64).order_for((114, 152), (228, 304)) == "width_first"  # G's last block
    assert UpProjection(256, 128).order_for((57, 76), (114, 152)) == "width_first"  # measured faster there
    assert (
        UpProjection(1, 8).order_for((6, 6), (12, 12)) == "resize_first"
    )  # one channel in: rewrites cost more
    with pytest.raises(ValueError, match="unknown order"):
        order_macs("sideways", 4, 8, (6, 6), (12, 12))  # type: ignore[arg-type]
    model = torch.nn.Sequential(UpProjection(2048, 16), UpProjection(1024, 16))
    assert all(m.order_for((8, 10), (114, 152)) == "resize_first" for m in in_authors_order(model))


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
    coarse, fine = (4, 5), (16, 20)
    assert net.up.order_for(coarse, fine) == "convolve_first"
    assert authors.depth_net.up.order_for(coarse, fine) == "resize_first"  # the caller's is untouched
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
