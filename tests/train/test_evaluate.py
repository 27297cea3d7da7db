"""The evaluation protocol (Table 1, Figure 5, mask statistics) and `depthmask eval`, with tiny real nets.

N = hu2019_tiny with random weights and a 3 m output bias (so depth varies with the input and stays
positive); G = mask_drn_tiny whose last conv is set to give a mask of all ones, all zeros, or a random
mask that straddles ε. Data: a few NYU CSV-release test pairs written as 16-bit PNGs.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

import depthmask.cli.evaluate  # noqa: F401  (registers `depthmask eval` on the app)
from depthmask.cli.app import app
from depthmask.errors import CheckpointError, ConfigError
from depthmask.nets.checkpoint import save_checkpoint
from depthmask.nets.models import create_model
from depthmask.train.data import dataset_from_spec
from depthmask.train.evaluate import EvalConfig, edge_mask, evaluate

SIZE = (64, 96)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """NYU test CSV (3 pairs, 96×128 so the crop is 64×96), N, and G checkpoints (ones, zeros, random λ=3)."""
    root = tmp_path_factory.mktemp("eval")
    (root / "data" / "test").mkdir(parents=True)
    rows = []
    for i in range(3):
        rng = np.random.default_rng(i)
        rgb, depth = f"data/test/{i}_colors.png", f"data/test/{i}_depth.png"
        image = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (0, 0), 2.0)
        cv2.imwrite(str(root / rgb), image)
        mm = rng.integers(1500, 4500, (96, 128)).astype(np.uint16)
        mm[rng.random((96, 128)) < 0.1] = 0  # holes: not counted
        cv2.imwrite(str(root / depth), mm)
        rows.append(f"{rgb},{depth}")
    (root / "data" / "test.csv").write_text("\n".join(rows) + "\n")
    torch.manual_seed(0)
    n = create_model("hu2019_tiny")
    with torch.no_grad():
        n.R.conv2.weight.mul_(100.0)
        n.R.conv2.bias.fill_(3.0)
    out = {"root": root, "n": save_checkpoint(n, root / "n.safetensors", role="depth")}
    for name, bias, scale in (
        ("ones", 30.0, 0.0),
        ("zeros", -30.0, 0.0),
        ("lam3", math.log(0.025 / 0.975), 30.0),
    ):
        g = create_model("mask_drn_tiny")
        with torch.no_grad():
            g.D.conv.weight.mul_(scale)
            g.D.conv.bias.fill_(bias)
        extra = (
            {"role": "mask", "lambda": 3.0, "input_size": list(SIZE)} if name == "lam3" else {"role": "mask"}
        )
        out[name] = save_checkpoint(g, root / f"{name}.safetensors", **extra)
    return out


def _spec(files: dict[str, Path]) -> str:
    return f"nyu-csv:{files['root'] / 'data' / 'test.csv'}?short_side=96"


def _hand_rmse(files: dict[str, Path], mask_fn) -> float:
    """sqrt(mean over images of the per-image MSE) of N(I ⊗ mask) vs ground truth, computed directly."""
    from depthmask.nets.loading import load_network

    n = load_network(None, files["n"])
    ds = dataset_from_spec(_spec(files), split="test", input_size=SIZE)
    mses = []
    with torch.no_grad():
        for i in range(len(ds)):
            s = ds[i]
            x = s["image"][None]
            pred = n(x * mask_fn(x))
            pred = F.interpolate(
                pred.double(), size=s["depth"].shape[-2:], mode="bilinear", align_corners=True
            )
            p = pred[0, 0].numpy().clip(1e-3, None)
            g = s["depth"][0].double().numpy()
            valid = g > 1e-3
            mses.append(float(((p[valid] - g[valid]) ** 2).mean()))
    return math.sqrt(sum(mses) / len(mses))


def _cfg(files: dict[str, Path], out: Path, **kw) -> EvalConfig:
    return EvalConfig(
        data=_spec(files),
        depth_checkpoint=files["n"],
        masks=(files["ones"], files["zeros"], files["lam3"]),
        input_size=SIZE,
        batch_size=2,
        device="cpu",
        out=out,
        **kw,
    )


@pytest.fixture(scope="module")
def result(files: dict[str, Path]):
    return evaluate(_cfg(files, files["root"] / "out"))


def test_original_row_matches_a_hand_computation(files, result) -> None:
    original = result.condition("original")
    assert original.images == 3
    assert original.metrics["rmse"] == pytest.approx(_hand_rmse(files, lambda x: 1.0), rel=1e-6)
    assert original.stats["mask_mean"] == 1.0 and original.stats["fid_rmse"] == 0.0
    assert original.stats["far_attention"] == pytest.approx(round(0.2 * 64 * 96) / (64 * 96))
    t = result.table1[0]
    assert (t.label, t.rmse_m, t.rmse_m_prime, t.sparseness) == ("original", t.rmse_m, t.rmse_m, 1.0)
    assert t.rmse_m == original.metrics["rmse"]


def test_mask_of_ones_changes_nothing(result) -> None:
    row = {r.label: r for r in result.table1}["ones"]
    original = result.condition("original").metrics["rmse"]
    assert row.rmse_m == original and row.rmse_m_prime == original  # I ⊗ 1 = I, bit for bit
    assert row.sparseness == 1.0 and row.edge_sparseness == 1.0 and row.rmse_edges == original
    assert row.fid_rmse_m == 0.0 and result.condition("M", "ones").stats["mask_mean"] == 1.0


def test_mask_of_zeros_feeds_the_mean_colour(files, result) -> None:
    row = {r.label: r for r in result.table1}["zeros"]
    assert row.sparseness == 0.0 and row.edge_sparseness == 0.0
    expected = _hand_rmse(files, lambda x: torch.zeros_like(x[:, :1]))  # normalised 0 = ImageNet mean
    assert row.rmse_m_prime == pytest.approx(expected, rel=1e-6)
    assert row.rmse_edges == pytest.approx(expected, rel=1e-6)  # no edge pixel kept either
    assert row.rmse_m == pytest.approx(expected, rel=1e-4)  # M ≈ 1e-13, not exactly 0
    assert result.condition("M'", "zeros").stats["fid_rmse"] > 0.05
    assert row.rmse_m_prime != result.condition("original").metrics["rmse"]


def test_random_mask_and_edge_baseline_at_the_same_sparseness(files, result) -> None:
    row = {r.label: r for r in result.table1}["lam3"]
    assert row.lam == 3.0 and 0.05 < row.sparseness < 0.95
    # every image keeps round(s·H·W) edge pixels: the means agree to the rounding
    assert row.edge_sparseness == pytest.approx(row.sparseness, abs=1 / (64 * 96))
    keep = _hand_rmse(files, lambda x: edge_mask(x, row.sparseness))
    assert row.rmse_edges == pytest.approx(keep, rel=1e-6)
    m_prime = result.condition("M'", "lam3")
    assert m_prime.stats["mask_mean"] == m_prime.stats["mask_keep"] == row.sparseness
    assert result.effective["input_size_from"] == "--size"


def test_edge_mask_keeps_the_strongest_edges() -> None:
    rgb = torch.zeros(1, 3, 16, 16)
    rgb[..., 8:] = 1.0  # one vertical step edge at column 8
    from depthmask.train.data.transforms import normalize

    e = edge_mask(normalize(rgb), keep=2 * 16 / 256)
    assert int(e.sum()) == 32 and bool(e[0, 0, :, 7:9].all())  # the two columns either side of the step
    assert int(edge_mask(normalize(rgb), keep=0.0).sum()) == 0


def test_files_written(result) -> None:
    files = result.files
    with files["csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["condition"], r["mask_net"]) for r in rows[:4]] == [
        ("original", ""),
        ("M", "ones"),
        ("M'", "ones"),
        ("edges", "ones"),
    ]
    assert len(rows) == 10 and float(rows[0]["rmse"]) == pytest.approx(
        result.condition("original").metrics["rmse"]
    )
    with files["table1"].open() as f:
        table = list(csv.DictReader(f))
    assert [r["label"] for r in table] == ["original", "ones", "zeros", "lam3"] and table[3]["lam"] == "3.0"
    doc = json.loads(files["json"].read_text())
    assert doc["config"]["masks"][2].endswith("lam3.safetensors") and len(doc["table1"]) == 4
    assert doc["effective"]["ground_truth"] is True and "libraries" in doc["environment"]


def test_config_validation_and_missing_files(files, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        EvalConfig(data="synthetic:")
    with pytest.raises(ConfigError, match="--epsilon must be in"):
        EvalConfig(data="x", depth_network="hu2019_tiny", epsilon=1.5)
    with pytest.raises(ConfigError, match=r"G checkpoint .*nope\.safetensors' does not exist"):
        evaluate(
            EvalConfig(data=_spec(files), depth_checkpoint=files["n"], masks=(tmp_path / "nope.safetensors",))
        )
    with pytest.raises(ConfigError, match="does not name N's weights; pass --depth-checkpoint"):
        evaluate(EvalConfig(data=_spec(files), masks=(files["ones"],), out=tmp_path))
    with pytest.raises(CheckpointError, match="does not exist"):
        evaluate(EvalConfig(data=_spec(files), depth_checkpoint=tmp_path / "n.pt", out=tmp_path))


def test_cli_eval_writes_tables_and_exits_cleanly(files, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["eval", "-d", _spec(files), "--depth-checkpoint", str(files["n"]), "-m", str(files["lam3"])]
    args += [
        "--size",
        "64x96",
        "--device",
        "cpu",
        "--no-edges",
        "-b",
        "3",
        "--limit",
        "2",
        "-o",
        str(out),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Table 1" in res.output and "lam3" in res.output
    doc = json.loads((out / "eval.json").read_text())
    expected = EvalConfig(
        data=_spec(files),
        depth_checkpoint=files["n"],
        masks=(files["lam3"],),
        input_size=SIZE,
        edges=False,
        batch_size=3,
        limit=2,
        device="cpu",
        out=out,
    )
    assert doc["config"] == expected.to_dict() and doc["effective"]["samples"] == 2
    assert [c["condition"] for c in doc["conditions"]] == ["original", "M", "M'"]
    bad = runner.invoke(app, ["eval", "-d", _spec(files), "-m", str(tmp_path / "missing.safetensors")])
    assert bad.exit_code == 1 and "does not exist" in bad.output
    assert runner.invoke(app, ["eval", "--help"]).output.count("depthmask eval") >= 3


def test_frames_without_ground_truth_give_fidelity_only(files, tmp_path: Path) -> None:
    frames = str(files["root"] / "data" / "test" / "*_colors.png")
    from depthmask.nets.loading import load_network

    other = save_checkpoint(
        load_network(None, files["zeros"]), tmp_path / "zeros.safetensors", depth_sha256="ab" * 32
    )
    res = evaluate(
        EvalConfig(
            data=frames,
            depth_checkpoint=files["n"],
            masks=(other,),
            input_size=SIZE,
            device="cpu",
            out=tmp_path,
        )
    )
    assert res.effective["ground_truth"] is False and res.effective["samples"] == 3
    assert all(c.metrics == {} for c in res.conditions)
    zeros = res.table1[1]
    assert zeros.rmse_m_prime is None and zeros.fid_rmse_m_prime > 0.05 and zeros.sparseness == 0.0
    with res.files["csv"].open() as f:
        assert next(csv.DictReader(f))["rmse"] == ""
    assert json.loads(res.files["json"].read_text())["table1"][1]["rmse_m"] is None
    assert res.warnings == [
        "zeros was trained against other N weights (sha256 abababababab…) than the N evaluated"
    ]


def test_depth_metrics_of_n_alone_on_the_synthetic_scene(files, tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "eval",
        "-d",
        "synthetic:frames=2,seed=1",
        "--depth-checkpoint",
        str(files["n"]),
        "--size",
        "64x96",
    ]
    res = runner.invoke(app, [*args, "--device", "cpu", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "eval.json").read_text())
    assert [c["condition"] for c in doc["conditions"]] == ["original"] and len(doc["table1"]) == 1
    original = doc["conditions"][0]
    assert original["images"] == 2 and 0 < original["metrics"]["rmse"] < 100
    assert (
        doc["effective"]["dataset"] == "SyntheticDepth"
        and doc["effective"]["metric_settings"]["crop"] is None
    )
