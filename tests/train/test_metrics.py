"""Depth metrics and mask statistics against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from depthmask.train.metrics import (
    MetricAccumulator,
    crop_mask,
    dataset_metrics,
    image_errors,
    mask_statistics,
)

PRED = torch.tensor([[2.0, 4.0], [4.5, 5.0]])
GT = torch.tensor([[1.0, 4.0], [6.0, 5.0]])


def test_image_metrics_by_hand() -> None:
    e = image_errors(PRED, GT)
    # errors d − g: 1, 0, −1.5, 0; ratios max(d/g, g/d): 2, 1, 4/3, 1
    assert e["abs_rel"] == pytest.approx((1 / 1 + 1.5 / 6) / 4)  # 0.3125
    assert e["sq_rel"] == pytest.approx((1 / 1 + 2.25 / 6) / 4)  # 0.34375
    assert e["rmse"] == pytest.approx(math.sqrt((1 + 2.25) / 4))
    assert e["rmse_log"] == pytest.approx(math.sqrt((math.log(2) ** 2 + math.log(0.75) ** 2) / 4))
    assert e["log10"] == pytest.approx((math.log10(2) + math.log10(6 / 4.5)) / 4)
    assert (e["delta1"], e["delta2"], e["delta3"]) == (0.5, 0.75, 0.75)
    assert e["mse"] == pytest.approx(0.8125) and e["pixels"] == 4


def test_valid_mask_caps_and_clipping() -> None:
    valid = torch.tensor([[True, True], [False, True]])
    e = image_errors(PRED, GT, valid)  # drops the −1.5 pixel
    assert e["rmse"] == pytest.approx(math.sqrt(1 / 3)) and e["pixels"] == 3
    capped = image_errors(PRED, GT, max_depth=5.5)  # g = 6 is beyond the cap; g < max only
    assert capped["pixels"] == 3 and capped["rmse"] == pytest.approx(math.sqrt(1 / 3))
    # predictions are clipped to [min_depth, max_depth]: a negative output counts as min_depth
    neg = image_errors(torch.tensor([[-3.0]]), torch.tensor([[2.0]]), min_depth=0.5)
    assert neg["rmse"] == pytest.approx(1.5) and neg["abs_rel"] == pytest.approx(0.75)
    assert image_errors(PRED, torch.zeros(2, 2)) is None  # no ground truth at all


def test_prediction_is_upsampled_bilinearly_to_the_ground_truth() -> None:
    pred = torch.tensor([[[[1.0, 2.0]]]])  # 1×1×1×2 (like N's half-resolution output)
    gt = torch.tensor(
        [[1.0, 4 / 3, 5 / 3, 2.0]], dtype=torch.float64
    )  # align_corners=True (the authors'): 1, 4/3, 5/3, 2
    assert image_errors(pred, gt)["rmse"] == pytest.approx(0.0, abs=1e-12)
    half_pixel = image_errors(pred, gt, align_corners=False)  # half-pixel centres: 1, 1.25, 1.75, 2
    assert half_pixel["rmse"] == pytest.approx(math.sqrt(2 * (1 / 12) ** 2 / 4))


def test_dataset_rmse_is_root_of_mean_mse() -> None:
    acc = MetricAccumulator()
    acc.add(image_errors(torch.tensor([[2.0]]), torch.tensor([[1.0]])))  # MSE 1
    acc.add(image_errors(torch.tensor([[4.0]]), torch.tensor([[1.0]])))  # MSE 9
    acc.add(None)  # an image without valid pixels: counted apart, not averaged
    out = acc.result()
    assert out["rmse"] == pytest.approx(math.sqrt(5.0))  # the authors' NYU RMSE
    assert out["rmse_image_mean"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert out["abs_rel"] == pytest.approx((1.0 + 3.0) / 2) and acc.empty == 1
    assert dataset_metrics([None]) == {}


def test_garg_and_eigen_crops() -> None:
    garg = crop_mask(375, 1242, "garg")
    # rows int(0.40810811·375)=153 … int(0.99189189·375)=371, cols int(0.03594771·1242)=44 … 1197
    assert int(garg.sum()) == (371 - 153) * (1197 - 44)
    assert bool(garg[153, 44]) and not bool(garg[152, 44]) and not bool(garg[371, 44])
    eigen = crop_mask(375, 1242, "eigen")
    assert bool(eigen[124, 600]) and not bool(eigen[123, 600])  # int(0.3324324·375) = 124
    assert bool(crop_mask(4, 4, None).all())
    e = image_errors(torch.ones(375, 1242), torch.full((375, 1242), 2.0), crop="garg")
    assert e["pixels"] == int(garg.sum())


def test_mask_statistics_by_hand() -> None:
    mask = torch.tensor([[1.0, 0.0], [0.5, 0.02]]).view(1, 1, 2, 2)
    depth = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    masked = torch.tensor([[1.0, 2.0], [3.0, 2.0]]).view(1, 1, 2, 2)
    s = mask_statistics(mask, depth, masked, far_fraction=0.25)
    assert float(s["mask_mean"][0]) == pytest.approx(1.52 / 4)
    assert float(s["mask_keep"][0]) == 0.5  # 1 and 0.5 exceed ε = 0.025; 0.02 does not
    assert float(s["fid_rmse"][0]) == pytest.approx(1.0)  # sqrt(2² / 4)
    assert float(s["fid_abs_rel"][0]) == pytest.approx((2 / 4) / 4)
    assert float(s["far_attention"][0]) == pytest.approx(0.02 / 1.52)  # the farthest pixel (4 m) holds 0.02
    half = mask_statistics(mask, depth, masked, far_fraction=0.5)
    assert float(half["far_attention"][0]) == pytest.approx(0.52 / 1.52)  # 4 m and 3 m
    empty = mask_statistics(torch.zeros(1, 1, 2, 2), depth, masked)
    assert float(empty["far_attention"][0]) == 0.0 and float(empty["mask_keep"][0]) == 0.0
    ones = mask_statistics(torch.ones(2, 1, 8, 8), torch.rand(2, 1, 4, 4) + 1, torch.rand(2, 1, 4, 4))
    assert torch.allclose(ones["far_attention"], torch.full((2,), 13 / 64))  # round(0.2·64) = 13 pixels
