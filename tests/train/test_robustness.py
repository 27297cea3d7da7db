"""Robustness × attention (`depthmask eval --corrupt`): corruptions that are reproducible and grow with
their severity, a row recomputed here by hand, the table and heat-map the command writes, and settings
that cannot work refused with the fix."""

# ruff: noqa: F811  (pytest passes the imported `files` fixture in as an argument of the same name)
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_evaluate import SIZE, _spec, files  # noqa: F401  (the module's fixture: NYU pairs, N, three G)
from typer.testing import CliRunner

from depthmask.cli.app import app
from depthmask.errors import ConfigError, MissingDependencyError
from depthmask.nets.loading import load_network
from depthmask.sources.corruptions import CORRUPTIONS, Corruptor
from depthmask.synthetic.config import SceneConfig
from depthmask.synthetic.scene import render_frame
from depthmask.train.data import dataset_from_spec
from depthmask.train.evaluate import EvalConfig
from depthmask.train.robustness import _from_uint8, _to_uint8, robustness_table

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # albumentations' own notices


def test_every_corruption_is_reproducible_and_stronger_at_severity_5() -> None:
    frame = render_frame(SceneConfig(height=64, width=96, seed=4), 3).image
    for name in CORRUPTIONS:
        once, twice = Corruptor(name, 3, seed=7)(frame), Corruptor(name, 3, seed=7)(frame)
        assert once.shape == frame.shape and once.dtype == np.uint8 and np.array_equal(once, twice), name
        mild = np.abs(Corruptor(name, 1)(frame).astype(float) - frame).mean()
        strong = np.abs(Corruptor(name, 5)(frame).astype(float) - frame).mean()
        assert 0 < mild < strong, (name, mild, strong)


def test_a_row_is_n_and_g_on_the_corrupted_frame(files: dict[str, Path]) -> None:
    n = load_network(None, files["n"]).eval()
    g = load_network(None, files["lam3"], role="mask").eval()
    ones = load_network(None, files["ones"], role="mask").eval()
    ds = dataset_from_spec(_spec(files), split="test", input_size=SIZE)
    rows = robustness_table(n, [("lam3", g), ("ones", ones)], ds, ["noise"], [4], settings={}, batch_size=2)
    lam3, all_ones = rows
    corrupt = Corruptor("noise", 4, seed=0)
    moved, ious = [], []
    with torch.no_grad():
        for i in range(len(ds)):  # the table corrupts in dataset order with one seeded pipeline
            x = ds[i]["image"][None]
            xc = _from_uint8(corrupt(_to_uint8(x)[0])[None], x)
            y, yc = n(x).clamp_min(1e-3), n(xc).clamp_min(1e-3)
            moved.append(float(((y - yc).abs() / y).mean()))
            a, b = g(xc) > 0.025, g(x) > 0.025
            ious.append(float((a & b).sum() / (a | b).sum().clamp_min(1)) if (a | b).any() else 1.0)
    assert lam3.depth_abs_rel_vs_clean == pytest.approx(np.mean(moved), rel=1e-4)
    assert lam3.mask_iou == pytest.approx(np.mean(ious), abs=1e-6)
    assert lam3.abs_rel_gt is not None and lam3.abs_rel_gt_clean is not None  # NYU pairs have depth
    # A mask of ones keeps every pixel, corrupted or not: nothing moves in it.
    assert all_ones.mask_iou == 1.0 and all_ones.mask_mean_change == pytest.approx(0, abs=1e-6)


def test_eval_corrupt_writes_the_table_and_the_heat_map(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["eval", "-d", _spec(files), "--depth-checkpoint", str(files["n"]), "-m", str(files["lam3"]),
            "--size", "64x96", "--device", "cpu", "--out", str(out), "--no-edges", "--corrupt", "blur,jpeg",
            "--severity", "1,5"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "corrupt.csv").open()))
    assert [(r["corruption"], r["severity"]) for r in rows] == [("blur", "1"), ("blur", "5"), ("jpeg", "1"),
                                                                 ("jpeg", "5")]  # fmt: skip
    doc = json.loads((out / "eval.json").read_text())
    assert len(doc["robustness"]) == 4 and all(0 <= r["mask_iou"] <= 1 for r in doc["robustness"])
    svg = (out / "corrupt.svg").read_text()
    assert svg.startswith("<svg") and "severity 5" in svg and "jpeg" in svg
    page = (out / "report.html").read_text()
    assert "Robustness × attention" in page and "mask IoU" in page


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"corruptions": ("fgo",)}, "Did you mean 'fog'"),
        ({"corruptions": ("fog",), "severities": (0,)}, "--severity"),
        ({"corruptions": ("fog",), "severities": (6,)}, "--severity"),
        ({"corruptions": ("fog",), "masks": ()}, "at least one G"),
    ],
)
def test_corruption_settings_that_cannot_work_are_refused(
    files: dict[str, Path], kw: dict, message: str
) -> None:
    base = {"data": "synthetic:", "depth_checkpoint": files["n"], "masks": (files["lam3"],)}
    with pytest.raises(ConfigError, match=message):
        EvalConfig(**(base | kw))


def test_without_albumentations_one_line_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "albumentations", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'depthmask\[train\]'"):
        Corruptor("fog", 1)
