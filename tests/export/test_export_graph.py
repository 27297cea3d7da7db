"""The fused graph in PyTorch: preprocessing, modes, one pass of N, and the stats against NumPy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from depthmask.contract.constants import EPSILON, FAR_FRACTION, FID_MIN_DEPTH, IMAGENET_MEAN, IMAGENET_STD
from depthmask.contract.spec import STATS_COLUMNS
from depthmask.errors import ConfigError
from depthmask.nets.graph import AuditGraph, Preprocess, far_pixels


def test_preprocess_matches_the_paper_normalisation(frames: np.ndarray) -> None:
    x = Preprocess("bgr")(torch.from_numpy(frames)).numpy()
    rgb = frames[..., ::-1].astype(np.float64) / 255.0
    want = ((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    assert x.shape == (4, 3, *frames.shape[1:3])
    np.testing.assert_allclose(x, want, atol=1e-5)


def test_rgb_graph_on_rgb_frames_equals_bgr_graph_on_bgr_frames(exported: dict, frames: np.ndarray) -> None:
    _, graph = exported["audit"]
    rgb = AuditGraph(graph.depth_net, graph.mask_net, mode="audit", channel_order="rgb")
    bgr_out = graph.named(torch.from_numpy(frames))
    rgb_out = rgb.named(torch.from_numpy(np.ascontiguousarray(frames[..., ::-1])))
    for name in bgr_out:
        torch.testing.assert_close(rgb_out[name], bgr_out[name])


def test_modes_and_shapes(exported: dict, frames: np.ndarray) -> None:
    h, w = frames.shape[1:3]
    shapes = {
        name: tuple(t.shape) for name, t in exported["audit"][1].named(torch.from_numpy(frames)).items()
    }
    assert shapes == {
        "mask": (4, 1, h, w),
        "depth": (4, 1, h // 2, w // 2),
        "depth_masked": (4, 1, h // 2, w // 2),
        "stats": (4, len(STATS_COLUMNS)),
    }
    assert list(exported["masked"][1].named(torch.from_numpy(frames))) == ["mask", "depth_masked"]
    assert list(exported["mask"][1].named(torch.from_numpy(frames))) == ["mask"]
    assert exported["mask"][1].depth_net is None  # N's weights are not carried in mask mode


def test_audit_runs_n_once_on_both_halves_and_masks_the_normalised_image(
    exported: dict, frames: np.ndarray
) -> None:
    _, graph = exported["audit"]
    calls = []
    hook = graph.depth_net.register_forward_hook(lambda _m, inputs, _o: calls.append(inputs[0].shape[0]))
    try:
        out = graph.named(torch.from_numpy(frames))
    finally:
        hook.remove()
    assert calls == [2 * len(frames)]  # one pass over [I; I ⊗ M]
    with torch.no_grad():
        x = graph.preprocess(torch.from_numpy(frames))
        mask = graph.mask_net(x)
        depth = graph.depth_net(x)
        depth_masked = graph.depth_net(x * mask)
    torch.testing.assert_close(out["mask"], mask)
    torch.testing.assert_close(out["depth"], depth, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["depth_masked"], depth_masked, rtol=1e-5, atol=1e-5)


def test_a_mode_that_runs_n_needs_n(exported: dict) -> None:
    with pytest.raises(ConfigError, match="runs the depth net N"):
        AuditGraph(None, exported["mask"][1].mask_net, mode="audit")
    with pytest.raises(ConfigError, match=r"unknown mode 'audits'.*Did you mean 'audit'"):
        AuditGraph(None, exported["mask"][1].mask_net, mode="audits")


def test_far_pixels_selects_the_top_fraction_like_topk() -> None:
    depth = torch.from_numpy(np.random.default_rng(0).gamma(2.0, 3.0, (3, 6144)).astype(np.float32))
    far = far_pixels(depth, FAR_FRACTION)
    k = round(FAR_FRACTION * depth.shape[1])
    want = torch.zeros_like(depth).scatter_(1, depth.topk(k, dim=1).indices, 1.0)
    torch.testing.assert_close(far, want, rtol=0, atol=0)


def numpy_stats(mask: np.ndarray, depth: np.ndarray, depth_masked: np.ndarray) -> np.ndarray:
    """contracts §1's statistics, recomputed independently with NumPy and OpenCV."""
    rows = []
    for m4, y4, yh4 in zip(mask, depth, depth_masked, strict=True):
        m, y, yh = m4[0].astype(np.float64), y4[0].astype(np.float64), yh4[0].astype(np.float64)
        # cv2's bilinear upsampling uses pixel centres like align_corners=False.
        far_depth = cv2.resize(y4[0], (m.shape[1], m.shape[0]), interpolation=cv2.INTER_LINEAR).ravel()
        k = round(FAR_FRACTION * far_depth.size)
        far = np.zeros(far_depth.size, dtype=bool)
        far[np.argsort(-far_depth, kind="stable")[:k]] = True
        values = {
            "mask_mean": m.mean(),
            "mask_keep": (m > EPSILON).mean(),
            "fid_rmse": np.sqrt(((y - yh) ** 2).mean()),
            "fid_abs_rel": (np.abs(y - yh) / np.maximum(y, FID_MIN_DEPTH)).mean(),
            "far_attention": m.ravel()[far].sum() / m.sum(),
            "depth_mean": y.mean(),
            "depth_masked_mean": yh.mean(),
        }
        rows.append([values[c] for c in STATS_COLUMNS])
    return np.array(rows)


def test_stats_columns_match_a_numpy_recomputation(exported: dict, frames: np.ndarray) -> None:
    out = {k: v.numpy() for k, v in exported["audit"][1].named(torch.from_numpy(frames)).items()}
    want = numpy_stats(out["mask"], out["depth"], out["depth_masked"])
    assert out["stats"].shape == want.shape
    np.testing.assert_allclose(out["stats"], want, rtol=2e-4, atol=1e-5)
    far = STATS_COLUMNS.index("far_attention")
    assert np.all((out["stats"][:, far] > 0) & (out["stats"][:, far] < 1))
