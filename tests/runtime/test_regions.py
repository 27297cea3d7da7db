"""Region-conditioned audits: the `regions` input of the fused graph (letterbox padding left out of
every statistic, per-box statistics), exported to ONNX and run on ONNX Runtime, and `run --roi /
--roi-file` end to end. Each check compares against an independent computation: statistics recomputed
with NumPy on the cropped outputs, a graph run on the unpadded frame, a count of the boxes asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from depthmask.contract.constants import EPSILON, FID_MIN_DEPTH, IMAGENET_MEAN, IMAGENET_STD
from depthmask.contract.spec import REGION_COLUMNS, STATS_COLUMNS
from depthmask.errors import ConfigError, ContractError
from depthmask.nets.graph import AuditGraph
from depthmask.runtime.backends.onnxruntime import OnnxRuntimeBackend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.regions import Box, parse_roi, read_region_file, region_maps, stack_maps
from depthmask.runtime.run import run
from depthmask.sources.fit import LETTERBOX_GREY, fit_frame, placement

THREADS = 1


def frames_at(height: int, width: int, count: int = 2, seed: int = 4) -> np.ndarray:
    from depthmask.export.frames import collect, frames_from_source

    return collect(frames_from_source(f"synthetic:seed={seed}", height, width, count))


def letterboxed(content: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames fitted by letterbox and their maps (the content only)."""
    place = placement(content.shape[1:3], height, width, "letterbox")
    fitted = np.stack([fit_frame(f, height, width, "letterbox") for f in content])
    maps = np.stack([region_maps((), place) for _ in content])
    return fitted, maps


def stats_of_content(out: dict[str, np.ndarray], rows: slice, depth_rows: slice) -> dict[str, np.ndarray]:
    """The frame statistics recomputed with NumPy on the content rows of each output only."""
    m = out["mask"][:, 0, rows].reshape(len(out["mask"]), -1).astype(np.float64)
    y = out["depth"][:, 0, depth_rows].reshape(len(m), -1).astype(np.float64)
    yh = out["depth_masked"][:, 0, depth_rows].reshape(len(m), -1).astype(np.float64)
    d = y - yh
    return {
        "mask_mean": m.mean(1),
        "mask_keep": (m > EPSILON).mean(1),
        "fid_rmse": np.sqrt((d * d).mean(1)),
        "fid_abs_rel": (np.abs(d) / np.maximum(y, FID_MIN_DEPTH)).mean(1),
        "depth_mean": y.mean(1),
        "depth_masked_mean": yh.mean(1),
    }


def test_whole_frame_maps_give_the_same_statistics_as_a_graph_without_regions(region_model) -> None:
    _, graph = region_model
    plain = AuditGraph(graph.depth_net, graph.mask_net, input_size=graph.input_size)
    frames = torch.from_numpy(frames_at(*graph.input_size))
    want = plain.named(frames)["stats"]
    got = graph.named(frames)
    torch.testing.assert_close(got["stats"], want, rtol=1e-5, atol=1e-6)
    whole = got["region_stats"][:, 0]  # map 0 of a frame with no padding is the frame
    assert torch.allclose(whole[:, REGION_COLUMNS.index("area")], torch.ones(2))
    assert torch.allclose(whole[:, REGION_COLUMNS.index("mask_share")], torch.ones(2))
    for column in ("mask_mean", "mask_keep", "fid_abs_rel", "depth_mean"):
        torch.testing.assert_close(
            whole[:, REGION_COLUMNS.index(column)], want[:, STATS_COLUMNS.index(column)], rtol=1e-5, atol=1e-6
        )


def test_letterboxed_statistics_are_those_of_the_content_alone(region_model) -> None:
    """The tiny nets (convolutions, N at half size): the padded frame's statistics equal NumPy's over
    the content rows of the same outputs (the padding's pixels left out)."""
    _, graph = region_model
    height, width = graph.input_size  # 64×96; content 40×96 lands on rows 12…52 (depth rows 6…26)
    fitted, maps = letterboxed(frames_at(40, width), height, width)
    out = {k: v.numpy() for k, v in graph.named(torch.from_numpy(fitted), torch.from_numpy(maps)).items()}
    want = stats_of_content(out, slice(12, 52), slice(6, 26))
    for column, values in want.items():
        np.testing.assert_allclose(out["stats"][:, STATS_COLUMNS.index(column)], values, rtol=1e-4, atol=1e-6)
    padded = {k: v.numpy() for k, v in graph.named(torch.from_numpy(fitted)).items()}  # padding counted
    assert not np.allclose(padded["stats"][:, 0], out["stats"][:, 0], rtol=1e-3)  # the maps changed it


class Pointwise(nn.Module):
    """A per-pixel network (1×1 convolutions): its output at a pixel depends on that pixel alone, so
    the content of a letterboxed frame gives exactly what the unpadded frame gives."""

    def __init__(self, seed: int, mask: bool) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Tanh(), nn.Conv2d(8, 1, 1))
        self.mask = mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return torch.sigmoid(y) if self.mask else 3.0 + torch.nn.functional.softplus(y)


class GreyIsFar(nn.Module):
    """A per-pixel depth net that puts letterbox grey farthest of all: were the padding not left out,
    it would be the whole of the farthest 20 % (and far_attention 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = (LETTERBOX_GREY / 255.0 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
        distance = (x - grey.view(1, 3, 1, 1)).square().sum(1, keepdim=True)
        return 1.0 + 50.0 * torch.exp(-distance)


@pytest.mark.parametrize("depth_net", [Pointwise(1, mask=False), GreyIsFar()], ids=["pointwise", "grey-far"])
def test_letterboxed_statistics_equal_the_unpadded_frames(depth_net: nn.Module) -> None:
    """Every column, far_attention's top-20 % included: the graph on the letterboxed frame with its
    content map against the same graph on the frame without padding."""
    graph = AuditGraph(depth_net, Pointwise(2, mask=True), regions=True)
    content = frames_at(40, 96, count=3)
    fitted, maps = letterboxed(content, 64, 96)
    boxed = graph.named(torch.from_numpy(fitted), torch.from_numpy(maps))["stats"]
    bare = graph.named(torch.from_numpy(content))["stats"]
    torch.testing.assert_close(boxed, bare, rtol=1e-5, atol=1e-6)
    assert bare[:, STATS_COLUMNS.index("far_attention")].min() > 0.05


def test_onnx_runtime_matches_torch_on_boxes_and_letterbox(region_model) -> None:
    path, graph = region_model
    height, width = graph.input_size
    fitted, _ = letterboxed(frames_at(40, width, count=3), height, width)
    place = placement((40, width), height, width, "letterbox")
    boxes = (Box("a", 10, 5, 60, 30), Box("b", 0, 0, width, 40), Box("c", 50, 20, 90, 39.5))
    maps = stack_maps(
        [region_maps(boxes[: k + 1], place) for k in range(3)]
    )  # 2, 3, 4 maps, as run stacks them
    with OnnxRuntimeBackend(path, threads=THREADS) as backend:
        got = backend.infer(fitted, maps)
        whole = backend.infer(fitted)  # without maps: one map each, the whole frame
    want = graph.named(torch.from_numpy(fitted), torch.from_numpy(maps))
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value.numpy(), rtol=1e-4, atol=2e-5, err_msg=name)
    assert whole["region_stats"].shape == (3, 1, len(REGION_COLUMNS))
    box_over_all = got["region_stats"][:, 2]  # box b covers the whole source frame
    np.testing.assert_allclose(box_over_all[1:, REGION_COLUMNS.index("mask_share")], 1.0, rtol=1e-6)
    np.testing.assert_allclose(box_over_all[1:, REGION_COLUMNS.index("area")], 1.0, rtol=1e-6)
    assert np.all(got["region_stats"][:, 1, REGION_COLUMNS.index("mask_share")] < 1.0)


def test_backends_refuse_maps_they_cannot_take(region_model, audit_model: Path) -> None:
    path, graph = region_model
    frames = frames_at(*graph.input_size, count=1)
    with OnnxRuntimeBackend(path, threads=THREADS) as backend:
        with pytest.raises(ContractError, match=r"float32 region maps \[1, R ≥ 1, 64, 96\]"):
            backend.infer(frames, np.ones((1, 2, 32, 48), np.float32))
        with pytest.raises(ContractError, match="float32 region maps"):
            backend.infer(frames, np.ones((1, 2, 64, 96), np.float64))
    with (
        OnnxRuntimeBackend(audit_model, threads=THREADS) as backend,
        pytest.raises(ContractError, match="takes no region maps; export it with"),
    ):
        backend.infer(frames, np.ones((1, 1, 64, 96), np.float32))


# -- the maps -------------------------------------------------------------------------------------


def test_maps_follow_the_placement() -> None:
    letterbox = placement((40, 96), 64, 96, "letterbox")
    content, whole = region_maps((Box("all", 0, 0, 96, 40),), letterbox)
    assert content[:12].sum() == 0 and content[52:].sum() == 0 and content[12:52].min() == 1.0
    np.testing.assert_array_equal(whole, content)  # a box over the whole source is the content
    # Half a pixel at each edge counts half; the map's sum is the box's area in input pixels.
    (_, half) = region_maps((Box("h", 10.5, 4.5, 20.5, 8.5),), letterbox)
    assert half.sum() == pytest.approx(10 * 4)
    assert half[16, 10] == pytest.approx(0.25) and half[17, 12] == 1.0
    # Scaled (a 80×192 source to 64×96 under letterbox: ×0.5); under crop a box outside the window is empty.
    scaled = placement((80, 192), 64, 96, "letterbox")
    assert region_maps((Box("s", 0, 0, 20, 20),), scaled)[1].sum() == pytest.approx(100)
    crop = placement((64, 300), 64, 96, "crop")  # the window is the centre 96 columns
    assert region_maps((Box("gone", 0, 0, 50, 64),), crop)[1].sum() == 0.0


def test_box_texts_are_parsed_or_refused_with_the_form() -> None:
    assert parse_roi("lead=400,150,800,375") == Box("lead", 400, 150, 800, 375)
    for bad, match in (
        ("lead", "write NAME=X0,Y0,X1,Y1"),
        ("lead=1,2,3", "four finite numbers"),
        ("lead=a,b,c,d", "must be numbers"),
        ("lead=5,5,1,1", "is empty"),
        ("=1,2,3,4", "region name"),
        ("lead=1,2,nan,4", "four finite numbers"),
    ):
        with pytest.raises(ConfigError, match=match):
            parse_roi(bad)
    with pytest.raises(ConfigError, match="lead appear twice"):
        RunConfig(sources=("synthetic:",), model=Path("m.onnx"), roi=(parse_roi("lead=0,0,1,1"),) * 2)


def test_region_files_are_read_whole_or_refused_by_line(tmp_path: Path) -> None:
    good = tmp_path / "boxes.jsonl"
    good.write_text(
        '{"frame": 0, "boxes": [{"name": "car", "box": [1, 2, 30, 40]}]}\n\n'
        '{"frame": 2, "source": "s", "boxes": [{"label": "person", "box": [0, 0, 5, 5]}, '
        '{"box": [1, 1, 2, 2]}]}\n'
    )
    regions = read_region_file(good)
    assert [b.name for b in regions.boxes_for("s", 2)] == ["person", "box1"]
    assert [b.name for b in regions.boxes_for("other", 0)] == ["car"] and regions.boxes_for("other", 2) == ()
    for text, match in (
        ('{"frame": -1}', r"boxes.jsonl:1: \"frame\" must be a frame index"),
        ('{"frame": 0, "boxes": [{"name": "a", "box": [0, 0, 1]}]}', r"boxes\[0\]: box"),
        (
            '{"frame": 0, "boxes": [{"name": "a", "box": [0,0,1,1]}, {"name": "a", "box": [0,0,2,2]}]}',
            "twice",
        ),
        ("[1, 2]", "expected an object"),
        ("{not json", "not JSON"),
    ):
        bad = tmp_path / "boxes.jsonl"
        bad.write_text(text + "\n")
        with pytest.raises(ConfigError, match=match):
            read_region_file(bad)
    with pytest.raises(ConfigError, match="no such file"):
        read_region_file(tmp_path / "missing.jsonl")


# -- run end to end -------------------------------------------------------------------------------


def records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]


def test_run_audits_every_frame_on_its_boxes(region_model, tmp_path: Path) -> None:
    """Fixed boxes on every frame, a detector's boxes on some: each record lists exactly the boxes asked
    for it (counted from the inputs, not from the run), and a box over the whole frame has all the mass."""
    model, _ = region_model
    source, frames = "synthetic:frames=7,height=40,width=96,seed=3", 7
    detections = {1: ["car"], 4: ["car", "person"], 6: ["sign"]}
    lines = [
        {"frame": f, "boxes": [{"name": n, "box": [5 * k, 2, 5 * k + 30, 30]} for k, n in enumerate(names)]}
        for f, names in detections.items()
    ]
    region_file = tmp_path / "detections.jsonl"
    region_file.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cfg = RunConfig(
        sources=(source,), model=model, out=tmp_path / "run", threads=THREADS, fit="letterbox", batch=3,
        save=frozenset(), roi=(parse_roi("all=0,0,96,40"), parse_roi("left=0,0,48,40")), roi_file=region_file,
    )  # fmt: skip
    summary = run(cfg)
    recs = records(tmp_path / "run")
    assert len(recs) == frames and all(r["status"] == "ok" for r in recs)
    for r in recs:
        want = ["all", "left", *detections.get(r["frame"], [])]
        assert [region["name"] for region in r["regions"]] == want
        whole = r["regions"][0]
        assert whole["mask_share"] == pytest.approx(1.0, abs=1e-5) and whole["area"] == pytest.approx(1.0)
        assert whole["mask_mean"] == pytest.approx(r["mask_mean"], rel=1e-4)
        assert 0.0 < r["regions"][1]["area"] < 1.0
    assert summary["regions"]["all"]["frames"] == frames and summary["regions"]["car"]["frames"] == 2
    assert summary["regions"]["sign"]["frames"] == 1 and summary["regions_over"] == 0
    assert "left out of every statistic" in " ".join(w["message"] for w in summary["warnings"])
    assert summary["config"]["roi"] == {"all": [0.0, 0.0, 96.0, 40.0], "left": [0.0, 0.0, 48.0, 40.0]}


def test_an_engine_that_takes_fewer_boxes_names_the_rest(region_model, tmp_path: Path) -> None:
    """A backend that takes 2 maps a frame (a TensorRT profile's maximum): the first box is audited and
    the others are named in the record, never dropped silently."""
    model, _ = region_model

    class TwoMaps(OnnxRuntimeBackend):
        max_maps = 2

    backend = TwoMaps(model, threads=THREADS)
    backend.load()
    try:
        rois = tuple(parse_roi(f"b{k}=0,0,{10 + k},{10 + k}") for k in range(3))
        cfg = RunConfig(
            sources=("synthetic:frames=3,height=64,width=96",), model=model, out=tmp_path / "run",
            threads=THREADS, save=frozenset(), roi=rois,
        )  # fmt: skip
        summary = run(cfg, backend=backend)
    finally:
        backend.close()
    recs = records(tmp_path / "run")
    assert len(recs) == 3
    assert all(
        [g["name"] for g in r["regions"]] == ["b0"] and r["regions_over"] == ["b1", "b2"] for r in recs
    )
    assert summary["regions_over"] == 3


def test_boxes_need_a_region_model_and_letterbox_says_what_it_counts(
    audit_model: Path, tmp_path: Path
) -> None:
    cfg = RunConfig(
        sources=("synthetic:frames=2,height=40,width=96",), model=audit_model, out=tmp_path / "a",
        threads=THREADS, save=frozenset(), roi=(parse_roi("x=0,0,5,5"),),
    )  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"takes no region maps; export it with `depthmask export --regions N`"
    ):
        run(cfg)
    plain = RunConfig(
        sources=("synthetic:frames=2,height=40,width=96",), model=audit_model, out=tmp_path / "b",
        threads=THREADS, save=frozenset(), fit="letterbox",
    )  # fmt: skip
    summary = run(plain)
    assert "the statistics include them: export the model with --regions 0" in " ".join(
        w["message"] for w in summary["warnings"]
    )


@pytest.mark.parametrize("name", ["openvino", "torch"])
def test_every_cpu_backend_takes_the_maps(region_model, name: str) -> None:
    """OpenVINO (the number of maps stays dynamic: no recompilation per count) and the torch backend
    (the graph rebuilt from the file's metadata, region input included) agree with ONNX Runtime."""
    from depthmask.runtime.backends import create_backend
    from depthmask.runtime.regions import stack_maps

    path, graph = region_model
    fitted, _ = letterboxed(frames_at(40, graph.input_size[1], count=2), *graph.input_size)
    place = placement((40, graph.input_size[1]), *graph.input_size, "letterbox")
    maps = [stack_maps([region_maps(b, place) for b in ((), (Box("x", 5, 5, 50, 30),))])]
    maps.append(stack_maps([region_maps((Box("y", 0, 0, 20, 20), Box("z", 40, 0, 96, 40)), place)] * 2))
    with OnnxRuntimeBackend(path, threads=THREADS) as reference:
        want = [reference.infer(fitted, m) for m in maps]
    if name == "openvino":
        pytest.importorskip("openvino")
    with create_backend(name, path, threads=THREADS) as backend:
        got = [backend.infer(fitted, m) for m in maps]
        if name == "openvino":
            assert backend.describe()["compiled_batches"] == [2]  # 2 and 3 maps: one compilation
    for g, w in zip(got, want, strict=True):
        for key in w:
            np.testing.assert_allclose(g[key], w[key], rtol=1e-3, atol=1e-4, err_msg=f"{name} {key}")


def test_the_command_line_takes_boxes_and_a_region_file(region_model, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from depthmask.cli import app

    model, _ = region_model
    boxes = tmp_path / "boxes.jsonl"
    boxes.write_text('{"frame": 1, "boxes": [{"name": "car", "box": [10, 10, 40, 30]}]}\n')
    argv = [
        "run", "synthetic:frames=3,height=40,width=96", "--model", str(model), "--out", str(tmp_path / "r"),
        "--fit", "letterbox", "--save", "mask", "--threads", "1", "--roi", "road=0,20,96,40",
        "--roi-file", str(boxes),
    ]  # fmt: skip
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    recs = records(tmp_path / "r")
    assert [[g["name"] for g in r["regions"]] for r in recs] == [["road"], ["road", "car"], ["road"]]
    assert "<h2>Regions</h2>" in (tmp_path / "r" / "report.html").read_text()
    bad = CliRunner().invoke(app, [*argv[:-4], "--roi", "road=0,20,96"])
    assert bad.exit_code == 1 and "four finite numbers" in bad.output
