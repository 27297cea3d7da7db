"""Training G by Algorithm 1 against a frozen small N on the synthetic drive: a larger λ gives sparser
masks, and G's mask keeps N's prediction closer than an equally sparse random mask; N is never changed."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch

from depthmask.contract.hashing import sha256_of
from depthmask.nets.checkpoint import read_config
from depthmask.nets.loading import load_network
from depthmask.nets.models import create_model
from depthmask.train.config import DepthTrainConfig, MaskTrainConfig
from depthmask.train.data import dataset_from_spec
from depthmask.train.losses import mask_objective
from depthmask.train.tasks import KEEP_THRESHOLD, MaskTask
from depthmask.train.trainer import train_depth, train_mask

SIZE = (32, 48)
SCENES = "synthetic:frames=160,seed=0,max_depth=20"  # far capped at 20 m, as in test_training_depth


@pytest.fixture(scope="module")
def trained_n(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("n")
    cfg = DepthTrainConfig(
        network="hu2019_tiny",
        data=SCENES,
        input_size=SIZE,
        epochs=6,  # 120 steps of batch 8
        lr=2e-3,
        workers=0,
        checkpoint_every=0,
        progress=False,
        out=out,
    )
    train_depth(cfg)
    return out / "last.safetensors"


def _rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).mean().sqrt())


def _evaluate(n: torch.nn.Module, g: torch.nn.Module, images: torch.Tensor) -> dict[str, float]:
    """Mask statistics and how far N(I ⊗ mask) lands from N(I), for G's mask and random equivalents."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        y = n(images)
        m = g(images)
        keep = (m > KEEP_THRESHOLD).float()
        # Same values as M, placed at random pixels: equally sparse (same mean, same distribution).
        shuffled = torch.stack(
            [mi.flatten()[torch.randperm(mi.numel(), generator=gen)].view_as(mi) for mi in m]
        )
        random_binary = (torch.rand(keep.shape, generator=gen) < keep.mean()).float()
        return {
            "mask_mean": float(m.mean()),
            "keep": float(keep.mean()),
            "rmse_m": _rmse(n(images * m), y),
            "rmse_shuffled": _rmse(n(images * shuffled), y),
            "rmse_m_prime": _rmse(n(images * keep), y),
            "rmse_random_binary": _rmse(n(images * random_binary), y),
        }


def test_lambda_trades_fidelity_for_sparsity(trained_n: Path, tmp_path: Path) -> None:
    n_sha = sha256_of(trained_n)
    held_out = dataset_from_spec(SCENES, split="test", input_size=SIZE)  # another scene (seed 1000)
    images = torch.stack([held_out[i]["image"] for i in range(0, 160, 4)])
    n = load_network(None, trained_n)
    results = {}
    for lam in (1.0, 5.0):
        cfg = MaskTrainConfig(
            network="mask_drn_tiny",
            depth_checkpoint=trained_n,
            data=SCENES,
            input_size=SIZE,
            epochs=12,  # 240 steps of batch 8
            lr=1e-3,
            lam=lam,
            workers=0,
            checkpoint_every=0,
            progress=False,
            out=tmp_path / f"lam{lam:g}",
        )
        result = train_mask(cfg)
        header = read_config(tmp_path / f"lam{lam:g}" / "last.safetensors")
        assert (header["role"], header["lambda"], header["depth_sha256"]) == ("mask", lam, n_sha)
        g = load_network(None, tmp_path / f"lam{lam:g}" / "last.safetensors", role="mask")
        results[lam] = _evaluate(n, g, images)
        print(f"λ={lam:g}: " + ", ".join(f"{k} {v:.3f}" for k, v in results[lam].items()))
        assert set(result.metrics) == {"loss", "dif", "mask_mean", "keep"}
    # N was frozen: its file is untouched and the copy G trained against kept its weights.
    assert sha256_of(trained_n) == n_sha
    one, five = results[1.0], results[5.0]
    assert five["mask_mean"] < one["mask_mean"]
    assert five["keep"] < one["keep"]
    for r in (one, five):
        assert r["rmse_m"] < r["rmse_shuffled"]
        # At λ = 1 M' may keep every pixel, and then both binary masks are all ones (equal errors).
        assert r["rmse_m_prime"] <= r["rmse_random_binary"]
    assert five["rmse_m_prime"] < five["rmse_random_binary"]


def test_algorithm1_step_updates_g_only() -> None:
    """One step of Algorithm 1: N in eval mode without parameter gradients, G's gradient flows through N."""
    torch.manual_seed(0)
    n = create_model("hu2019_tiny")
    n_before = {k: v.clone() for k, v in n.state_dict().items()}
    g = create_model("mask_drn_tiny").train()
    task = MaskTask(g, n, lam=5.0)
    data = dataset_from_spec("synthetic:frames=4", split="train", input_size=SIZE)
    images = torch.stack([data[i]["image"] for i in range(4)])
    out = task.compute(g, {"image": images}, contextlib.nullcontext)
    out.loss.backward()
    assert not n.training and not any(p.requires_grad for p in n.parameters())
    assert all(p.grad is None for p in n.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
    for k, v in n.state_dict().items():  # BatchNorm running statistics untouched (eval mode)
        assert torch.equal(v, n_before[k]), k
    # The loss is Eq. 4 on the normalised image: l_dif(N(I), N(I ⊗ G(I))) + λ·mean(G(I)).
    with torch.no_grad():
        m = g(images)
        expected = mask_objective(n(images), n(images * m), m, 5.0).total
    assert torch.allclose(out.loss.detach(), expected, rtol=1e-5, atol=1e-6)


def test_the_ranking_term_adds_n_on_the_binarised_top_k_with_a_straight_through_gradient() -> None:
    """`--rank-weight μ`: the loss is Eq. 4 plus μ·l_dif(N(I), N(I ⊗ K)), K the binary map of G's largest
    k share (k drawn from torch's generator); G gets its gradient through K, N none."""
    from depthmask.train.faithfulness import top_share
    from depthmask.train.losses import hu_loss
    from depthmask.train.tasks import RANK_KEEPS

    torch.manual_seed(0)
    n, g = create_model("hu2019_tiny"), create_model("mask_drn_tiny").train()
    data = dataset_from_spec("synthetic:frames=2", split="train", input_size=SIZE)
    images = torch.stack([data[i]["image"] for i in range(2)])
    plain = MaskTask(g, n, lam=5.0).compute(g, {"image": images}, contextlib.nullcontext)
    torch.manual_seed(7)
    out = MaskTask(g, n, lam=5.0, rank_weight=3.0).compute(g, {"image": images}, contextlib.nullcontext)
    torch.manual_seed(7)
    k = RANK_KEEPS[int(torch.randint(len(RANK_KEEPS), ()))]
    with torch.no_grad():
        m = g(images)
        kept = top_share(m, k)
        rank = hu_loss(n(images * kept), n(images))
    assert kept.mean().item() == pytest.approx(k, abs=1 / kept[0].numel())  # exactly the k share
    assert torch.allclose(out.metrics["rank"], rank, rtol=1e-5)
    assert torch.allclose(out.loss.detach(), plain.loss.detach() + 3.0 * rank, rtol=1e-5, atol=1e-6)
    assert "rank" not in plain.metrics
    # Only the ranking term's gradient: it reaches G through the binary map (straight through).
    only = MaskTask(g, n, lam=0.0, rank_weight=1.0)
    g.zero_grad()
    only.ranking_term(images, n(images).detach(), g(images), contextlib.nullcontext).backward()
    assert all(p.grad is None for p in n.parameters())
    assert sum(p.grad.abs().sum() for p in g.parameters() if p.grad is not None) > 0
