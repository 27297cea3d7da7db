"""Metadata (contracts §2): round trips through ONNX and sidecars, and refusals that name what differs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from export_nets import SIZE

from depthmask.contract.metadata import (
    REQUIRED_KEYS,
    check_frames,
    check_io,
    from_props,
    read_metadata,
    read_onnx_metadata,
    to_props,
    validate_metadata,
)
from depthmask.contract.sidecar import engine_metadata, read_sidecar, sidecar_path, write_sidecar
from depthmask.errors import ContractError


def test_props_round_trip(exported: dict) -> None:
    meta = read_metadata(exported["audit"][0])
    props = to_props(meta)
    assert all(isinstance(v, str) for v in props.values())
    assert json.loads(props["input"]) == meta["input"] and props["mode"] == "audit"
    assert from_props(props) == meta
    assert set(REQUIRED_KEYS) <= set(meta)


def test_onnx_metadata_is_readable_by_the_runtime(exported: dict) -> None:
    from depthmask.runtime.backends.onnxruntime import read_onnx_info

    info = read_onnx_info(exported["audit"][0])
    assert (info.height, info.width, info.channel_order, info.batch) == (*SIZE, "bgr", None)
    assert info.outputs == ("mask", "depth", "depth_masked", "stats")
    assert info.stats_columns == tuple(read_metadata(exported["audit"][0])["stats_columns"])


def test_sidecar_round_trip(tmp_path: Path, exported: dict) -> None:
    meta = read_metadata(exported["audit"][0])
    side = engine_metadata(
        meta, tensorrt_version="10.9.0", gpu="NVIDIA H100", batch_profile=(1, 4, 16), precision="fp16",
        builder_flags=["FP16"],
    )  # fmt: skip
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine bytes stay standard")
    assert write_sidecar(engine, side) == sidecar_path(engine) == tmp_path / "m.engine.json"
    assert read_sidecar(engine) == side
    assert read_metadata(engine)["batch_profile"] == {"min": 1, "opt": 4, "max": 16}
    assert engine.read_bytes() == b"engine bytes stay standard"


def test_missing_metadata_is_refused(tmp_path: Path, exported: dict) -> None:
    model = onnx.load(str(exported["mask"][0]))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(
        ContractError, match=r"bare\.onnx: depthmask metadata is missing format_version.*Re-export"
    ):
        read_metadata(bare)
    from depthmask.export.parity import runner_for

    with pytest.raises(ContractError, match=r"bare\.onnx: depthmask metadata is missing format_version"):
        runner_for(bare)  # the runtime refuses it with the same words
    with pytest.raises(ContractError, match=r"m\.engine has no metadata sidecar m\.engine\.json"):
        read_metadata(tmp_path / "m.engine")


def test_inconsistent_metadata_names_expected_and_actual(exported: dict) -> None:
    meta = read_onnx_metadata(exported["audit"][0])
    bad = {**meta, "stats_columns": meta["stats_columns"][:-1]}
    with pytest.raises(
        ContractError,
        match=r"x\.onnx: .*stats_columns = \[.*\] \(expected \[.*depth_masked_mean'\] for mode 'audit'",
    ):
        validate_metadata(bad, "x.onnx")
    bad = {**meta, "input": {**meta["input"], "dtype": "float32"}}
    with pytest.raises(ContractError, match=r"input\.dtype = 'float32' \(expected 'uint8'\)"):
        validate_metadata(bad, "x.onnx")
    with pytest.raises(ContractError, match="missing tensorrt_version, gpu, batch_profile"):
        validate_metadata(meta, "x.engine")


def test_graph_io_must_match_its_metadata(exported: dict) -> None:
    meta = read_onnx_metadata(exported["audit"][0])
    good = [("frames", "uint8", ["batch", *SIZE, 3])]
    check_io(meta, "m.onnx", inputs=good, outputs=["mask", "depth", "depth_masked", "stats"])
    with pytest.raises(
        ContractError, match=r"declares input 'frames' uint8 \['batch', 64, 96, 3\]; .* \[.*, 128"
    ):
        check_io(meta, "m.onnx", inputs=[("frames", "uint8", ["batch", 128, 96, 3])], outputs=["mask"])
    with pytest.raises(ContractError, match="lists outputs"):
        check_io(meta, "m.onnx", inputs=good, outputs=["mask"])


def test_frames_of_the_wrong_size_or_dtype_are_refused(exported: dict) -> None:
    meta = read_onnx_metadata(exported["audit"][0])
    check_frames(meta, np.zeros((2, *SIZE, 3), np.uint8), "m.onnx")
    with pytest.raises(
        ContractError, match=r"takes uint8 frames \[batch, 64, 96, 3\].*got uint8 \[2, 96, 64, 3\]"
    ):
        check_frames(meta, np.zeros((2, 96, 64, 3), np.uint8), "m.onnx")
    with pytest.raises(ContractError, match=r"got float32 \[1, 64, 96, 3\]"):
        check_frames(meta, np.zeros((1, *SIZE, 3), np.float32), "m.onnx")
    fixed = {**meta, "input": {**meta["input"], "batch": 2}}
    with pytest.raises(ContractError, match=r"\[2, 64, 96, 3\].*got uint8 \[3, 64, 96, 3\]"):
        check_frames(fixed, np.zeros((3, *SIZE, 3), np.uint8), "m.onnx")


def test_metadata_of_another_graph_is_refused(tmp_path: Path, exported: dict) -> None:
    model = onnx.load(str(exported["audit"][0]))
    foreign = onnx.load(str(exported["mask"][0]))
    del model.metadata_props[:]
    model.metadata_props.extend(foreign.metadata_props)  # a mask-mode description on the audit graph
    onnx.save(model, str(tmp_path / "mixed.onnx"))
    with pytest.raises(
        ContractError, match=r"mixed\.onnx: metadata lists outputs \['mask'\] but the graph has"
    ):
        read_metadata(tmp_path / "mixed.onnx")


def test_recorded_paths_are_relative_to_the_artefact(
    exported: dict, checkpoints: tuple, tmp_path: Path
) -> None:
    """No absolute path in the metadata; the rebuild finds the weights from the artefact's folder."""
    import os

    from depthmask.nets.rebuild import graph_from_metadata

    model = exported["audit"][0]
    meta = read_onnx_metadata(model)
    n = meta["checkpoints"]["depth_net"]["checkpoint"]
    assert not Path(n).is_absolute() and (model.parent / n).resolve() == Path(checkpoints[0]).resolve()
    assert not any(Path(v).is_absolute() for v in meta["export_config"].values() if isinstance(v, str))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    here = os.getcwd()
    os.chdir(elsewhere)  # the recorded path must not depend on where the rebuild runs
    try:
        graph = graph_from_metadata(meta, beside=model.parent)
    finally:
        os.chdir(here)
    assert graph.provenance["depth_net"]["state_sha256"] == meta["checkpoints"]["depth_net"]["state_sha256"]
