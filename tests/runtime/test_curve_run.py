"""Faithfulness curves as a run mode: the audit graph's optional `curve` output (`export --curve`), one
batched pass of N per frame over I, I ⊗ M and every kept map. Checked against independent computations:
eval's own top-k selection (`top_share`, torch's topk) and agreement measure, ONNX Runtime against
PyTorch, and the summary's mean curve recomputed from audit.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from depthmask.contract.fidelity import curve_auc
from depthmask.contract.metadata import read_metadata
from depthmask.contract.spec import CURVE_COLUMNS, CURVE_METHODS
from depthmask.errors import ConfigError
from depthmask.export.config import ExportConfig
from depthmask.nets.curve import TIE_JITTER, agreement
from depthmask.nets.graph import AuditGraph, tie_scale
from depthmask.runtime.backends import create_backend
from depthmask.runtime.backends.onnxruntime import OnnxRuntimeBackend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import run
from depthmask.train.faithfulness import top_share

KEEPS = (0.05, 0.2, 0.5, 1.0)


def frames_at(height: int, width: int, count: int = 2, seed: int = 4) -> np.ndarray:
    from depthmask.export.frames import collect, frames_from_source

    return collect(frames_from_source(f"synthetic:seed={seed}", height, width, count))


def test_gs_curve_is_evals_curve(curve_model) -> None:
    """G's points against eval's way: torch's topk keeps the top k % of the (tie-broken) mask, N runs on
    I ⊗ M_k, the same agreement; and against the plain mask's topk, up to the jitter's reordering."""
    _, graph = curve_model
    frames = torch.from_numpy(frames_at(*graph.input_size))
    out = graph.named(frames)
    curve = out["curve"]
    assert tuple(curve.shape) == (2, len(CURVE_METHODS), len(KEEPS), len(CURVE_COLUMNS))
    x = graph.preprocess(frames)
    span = tie_scale(out["mask"].flatten(1)).view(-1, 1, 1, 1)
    broken = out["mask"] + TIE_JITTER * span * graph.curve.jitter
    # δ1 counts pixels against a threshold, and N's up-projections' matrix products round differently
    # for another batch (the graph runs all kept maps at once): a pixel on the threshold may flip, so
    # δ1 agrees to four pixels of the 1,536 here (32×48 depth), abs_rel to float rounding.
    for j, keep in enumerate(KEEPS):
        want = agreement(out["depth"], graph.depth_net(x * top_share(broken, keep)))
        np.testing.assert_allclose(curve[:, 0, j, 1], want["fid_delta1"], atol=4 / 1536)
        np.testing.assert_allclose(curve[:, 0, j, 2], want["fid_abs_rel"], rtol=1e-4, atol=1e-5)
        plain = agreement(out["depth"], graph.depth_net(x * top_share(out["mask"], keep)))
        np.testing.assert_allclose(curve[:, 0, j, 1], plain["fid_delta1"], atol=1e-2)
    np.testing.assert_allclose(curve[..., 0], np.broadcast_to(np.array(KEEPS), curve.shape[:3]), atol=1e-3)
    np.testing.assert_allclose(curve[:, :, -1, 1:], [[[1.0, 0.0]] * 3] * 2, atol=1e-6)  # all kept: N(I)


def test_ties_do_not_move_the_kept_share() -> None:
    """A flat frame: every edge magnitude is 0 and G's mask one value; each method still keeps k."""

    class Flat(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full_like(x[:, :1], 0.5) if x.shape[1] == 3 and not self.training else x[:, :1]

    depth = torch.nn.Conv2d(3, 1, 1)
    graph = AuditGraph(depth, Flat(), input_size=(32, 48), curve=KEEPS)
    frames = torch.full((1, 32, 48, 3), 128, dtype=torch.uint8)
    shares = graph.named(frames)["curve"][0, :, :, 0]
    np.testing.assert_allclose(shares, np.broadcast_to(np.array(KEEPS), shares.shape), atol=2 / (32 * 48))


def test_onnx_runtime_and_the_torch_backend_match_the_graph(curve_model) -> None:
    path, graph = curve_model
    frames = frames_at(*graph.input_size, count=3)
    want = graph.named(torch.from_numpy(frames))["curve"].numpy()
    assert read_metadata(path)["curve"]["keeps"] == list(KEEPS)
    for name in ("onnxruntime", "torch"):
        with create_backend(name, path, threads=1) as backend:
            got = backend.infer(frames)["curve"]
        np.testing.assert_allclose(got, want, atol=2e-3, err_msg=name)


def test_a_run_records_each_frames_curve_and_the_mean(curve_model, tmp_path: Path) -> None:
    path, _ = curve_model
    frames = 5
    cfg = RunConfig(
        sources=(f"synthetic:frames={frames},height=64,width=96,seed=7",), model=path, out=tmp_path / "r",
        threads=1, save=frozenset(), batch=2,
    )  # fmt: skip
    summary = run(cfg)
    records = [json.loads(line) for line in (tmp_path / "r" / "audit.jsonl").read_text().splitlines()]
    assert len(records) == frames and all(set(r["curve"]) == set(CURVE_METHODS) for r in records)
    for method in CURVE_METHODS:
        mean = np.mean([r["curve"][method]["delta1"] for r in records], axis=0)
        got = summary["curve"]["methods"][method]
        np.testing.assert_allclose(got["delta1"], mean, atol=1e-5)
        assert got["auc"] == pytest.approx(curve_auc(list(KEEPS), list(mean)), abs=1e-5)
        assert got["frames"] == frames
    from depthmask.report import build_report

    assert "<h2>Faithfulness curves</h2>" in build_report(tmp_path / "r").read_text()


def test_the_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="--curve needs mode 'audit'"):
        ExportConfig(random_weights=True, mode="masked", curve=(0.1, 1.0))
    for bad in ((0.5, 0.2), (0.0, 1.0), (1.5,), tuple(i / 20 for i in range(1, 21))):
        with pytest.raises(ConfigError, match="curve keeps must be"):
            ExportConfig(random_weights=True, curve=bad)
    with pytest.raises(ConfigError, match="needs the frames' size"):
        AuditGraph(torch.nn.Conv2d(3, 1, 1), torch.nn.Conv2d(3, 1, 1), curve=(0.5,))
    with pytest.raises(ConfigError, match="need mode 'audit'"):
        AuditGraph(
            torch.nn.Conv2d(3, 1, 1), torch.nn.Conv2d(3, 1, 1), mode="masked", input_size=(8, 8), curve=(0.5,)
        )


def test_onnx_runtime_backend_loads_a_curve_model(curve_model) -> None:
    path, _ = curve_model
    with OnnxRuntimeBackend(path, threads=1) as backend:
        assert backend.info.curve_keeps == KEEPS and backend.info.outputs[-1] == "curve"
