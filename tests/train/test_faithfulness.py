"""Faithfulness curves (`depthmask eval --curve`): each point recomputed here by hand for one G, the ends
of the curves fixed by construction (all pixels kept: N(I) itself), the random baseline reproducible,
and the files the command writes."""

# ruff: noqa: F811  (pytest passes the imported `files` fixture in as an argument of the same name)
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from test_evaluate import SIZE, _spec, files  # noqa: F401  (the module's fixture: NYU pairs, N, three G)
from typer.testing import CliRunner

from depthmask.cli.app import app
from depthmask.contract.fidelity import curve_auc as auc
from depthmask.errors import ConfigError
from depthmask.nets.loading import load_network
from depthmask.train.data import dataset_from_spec
from depthmask.train.evaluate import EvalConfig, evaluate
from depthmask.train.faithfulness import faithfulness_curves, top_share

KEEPS = (0.1, 0.5, 1.0)


def _nets(paths: dict[str, Path]) -> tuple[torch.nn.Module, torch.nn.Module, object]:
    n = load_network(None, paths["n"]).eval()
    g = load_network(None, paths["lam3"], role="mask").eval()
    return n, g, dataset_from_spec(_spec(paths), split="test", input_size=SIZE)


def test_each_point_is_n_on_the_top_k_share_against_n(files: dict[str, Path]) -> None:
    n, g, ds = _nets(files)
    curves = {c.method: c for c in faithfulness_curves(n, [("lam3", g)], ds, keeps=KEEPS, batch_size=2)}
    with torch.no_grad():
        for j, keep in enumerate(KEEPS):
            agree = []
            for i in range(len(ds)):
                x = ds[i]["image"][None]
                y = n(x).clamp_min(1e-3)
                kept = top_share(g(x), keep)
                assert int(kept.sum()) == round(keep * SIZE[0] * SIZE[1])
                yk = n(x * kept).clamp_min(1e-3)
                agree.append(float((torch.maximum(yk / y, y / yk) < 1.25).float().mean()))
            assert curves["G"].points[j].fid_delta1 == pytest.approx(sum(agree) / len(agree), abs=1e-3)
    for c in curves.values():  # every pixel kept is the image itself
        last = c.points[-1]
        assert last.keep == 1.0 and last.fid_delta1 == 1.0 and last.fid_rmse == pytest.approx(0, abs=1e-4)
        assert 0 <= c.auc <= 1
        assert c.auc == pytest.approx(auc([p.keep for p in c.points], [p.fid_delta1 for p in c.points]))
    again = faithfulness_curves(n, [("lam3", g)], ds, keeps=KEEPS, batch_size=2)
    assert [c.points for c in again if c.method == "random"] == [curves["random"].points]  # seeded
    assert auc([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.5)


def test_eval_curve_writes_the_csv_the_chart_and_the_aucs(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["eval", "-d", _spec(files), "--depth-checkpoint", str(files["n"]), "-m", str(files["lam3"]),
            "-m", str(files["ones"]), "--size", "64x96", "--device", "cpu", "--out", str(out), "--curve",
            "--curve-keep", "10,50,100", "--no-edges"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "curve.csv").open()))
    assert len(rows) == 2 * 3 * 3 and {r["method"] for r in rows} == {"G", "random", "edges"}
    doc = json.loads((out / "eval.json").read_text())
    ones = {c["method"]: c for c in doc["curves"] if c["mask_net"] == "ones"}
    assert all(0 <= c["auc"] <= 1 for c in doc["curves"])
    assert (out / "curve.svg").read_text().startswith("<svg") and "AUC" in result.output
    page = (out / "report.html").read_text()  # the eval's own report shows the curves
    assert "Faithfulness curves" in page and "<svg" in page and "Table 1" in page
    (out / "report.html").unlink()
    assert CliRunner().invoke(app, ["report", str(out)]).exit_code == 0  # `depthmask report` rebuilds it
    assert "depthmask evaluation report" in (out / "report.html").read_text()
    # G of all ones ranks every pixel the same: its top-k is a block, not a better choice than random.
    assert ones["G"]["points"][-1]["fid_delta1"] == 1.0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"curve": True, "masks": ()}, "at least one G"),
        ({"curve_keeps": (0.0, 0.5)}, "--curve-keep"),
        ({"curve_keeps": (0.5, 1.5)}, "--curve-keep"),
        ({"curve_keeps": (0.5, 0.5)}, "--curve-keep"),
        ({"curve_keeps": ()}, "--curve-keep"),
    ],
)
def test_curve_settings_that_cannot_work_are_refused(files: dict[str, Path], kw: dict, message: str) -> None:
    base = {"data": "synthetic:", "depth_checkpoint": files["n"], "masks": (files["lam3"],)}
    with pytest.raises(ConfigError, match=message):
        EvalConfig(**(base | kw))


def test_evaluate_with_a_curve_keeps_table_1(files: dict[str, Path], tmp_path: Path) -> None:
    cfg = EvalConfig(
        data=_spec(files), depth_checkpoint=files["n"], masks=(files["lam3"],), input_size=SIZE,
        device="cpu", out=tmp_path, curve=True, curve_keeps=KEEPS,
    )  # fmt: skip
    result = evaluate(cfg)
    assert len(result.curves) == 3 and result.table1 and result.files["curve"].is_file()
