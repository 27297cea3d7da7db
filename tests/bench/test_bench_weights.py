"""Settling random weights (`depthmask.bench.weights`): residual branches damped, heads aimed and scaled."""

from __future__ import annotations

import numpy as np
import pytest
from bench_tiny import SIZE, tiny_export_config

torch = pytest.importorskip("torch")

from depthmask.bench.weights import (  # noqa: E402
    DEPTH_HEAD,
    MASK_HEAD,
    RESIDUAL_GAIN,
    last_single_channel_conv,
    principal_direction,
    residual_branch_norms,
    settle,
)
from depthmask.export.frames import collect, frames_from_source  # noqa: E402


def _graph():
    from depthmask.export.onnx import graph_from_config

    return graph_from_config(tiny_export_config()).eval()


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return collect(frames_from_source("synthetic:seed=7", SIZE[0], SIZE[1], 4))


def _head_output(net, x):
    seen = []
    hook = last_single_channel_conv(net).register_forward_hook(lambda _m, _a, out: seen.append(out))
    with torch.no_grad():
        net(x)
    hook.remove()
    return seen[0]


def test_settled_heads_sit_where_asked_and_branches_are_damped(frames: np.ndarray) -> None:
    graph = _graph()
    settle(graph, frames)
    norms = list(residual_branch_norms(graph.mask_net)) + list(residual_branch_norms(graph.depth_net))
    assert len(norms) >= 4  # both tiny nets have residual blocks (ResNet and DRN)
    assert all(torch.all(n.weight == RESIDUAL_GAIN) for n in norms)

    x = graph.preprocess(torch.from_numpy(frames))
    logits = _head_output(graph.mask_net, x)
    assert float(logits.mean()) == pytest.approx(MASK_HEAD.mean, abs=1e-3)
    assert float(logits.std()) == pytest.approx(MASK_HEAD.std, rel=1e-3)
    with torch.no_grad():
        both = torch.cat([x, x * graph.mask_net(x)])
    depth = _head_output(graph.depth_net, both)
    assert float(depth.mean()) == pytest.approx(DEPTH_HEAD.mean, abs=1e-3)
    assert float(depth.std()) == pytest.approx(DEPTH_HEAD.std, rel=1e-3)


def test_settling_twice_gives_the_same_weights(frames: np.ndarray) -> None:
    once, twice = _graph(), _graph()
    settle(once, frames)
    settle(twice, frames)
    settle(twice, frames)
    for (name, a), b in zip(once.state_dict().items(), twice.state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5), name


def test_the_principal_direction_carries_more_variance_than_random_read_outs() -> None:
    gen = torch.Generator().manual_seed(0)
    # Eight channels driven by one shared signal plus independent noise: the coherent direction wins.
    signal = torch.randn(2, 1, 16, 16, generator=gen)
    x = signal * torch.linspace(0.5, 1.5, 8).view(1, 8, 1, 1) + 0.3 * torch.randn(2, 8, 16, 16, generator=gen)
    conv = torch.nn.Conv2d(8, 1, kernel_size=3, padding=1)
    w = principal_direction(conv, [x])
    assert float(w.norm()) == pytest.approx(1.0, abs=1e-5)
    assert float(w.sum()) > 0  # the sign is fixed

    def variance(weight: torch.Tensor) -> float:
        return float(torch.nn.functional.conv2d(x, weight, padding=1).var())

    randoms = [torch.randn(w.shape, generator=gen) for _ in range(20)]
    assert all(variance(w) > variance(r / r.norm()) for r in randoms)
