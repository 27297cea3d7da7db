"""Fuzzed model metadata: tampered dicts, ONNX property strings and sidecar bytes. Each case either
validates or is refused with one ContractError naming the file — never another exception."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fuzzing import ends_typed, fuzz, json_values
from hypothesis import given
from hypothesis import strategies as st

from depthmask.contract.metadata import build_metadata, from_props, read_metadata, to_props, validate_metadata
from depthmask.contract.model_info import ModelInfo
from depthmask.contract.sidecar import engine_metadata, sidecar_path
from depthmask.errors import ContractError

FUZZ = fuzz(cases=150, deadline_ms=2000)


def _valid(mode: str = "audit", regions: bool = False) -> dict[str, Any]:
    record = {"name": "hu2019_tiny", "checkpoint": "n.safetensors", "sha256": "0" * 64, "random_seed": None,
              "state_sha256": "1" * 64, "lambda": None}  # fmt: skip
    mask = {**record, "name": "mask_drn_tiny", "lambda": 5.0}
    return build_metadata(
        mode=mode, height=64, width=96, channel_order="bgr", batch=None, depth_size=(32, 48),
        depth_net=None if mode == "mask" else record, mask_net=mask, epsilon=0.025, far_fraction=0.2,
        opset=18, precision="fp32", gflop_per_frame=1.5, exporter="dynamo",
        max_regions=4 if regions and mode == "audit" else None,
        curve_keeps=(0.1, 0.5, 1.0) if regions and mode == "audit" else (),
    )  # fmt: skip


def _paths(meta: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into nested dicts and lists."""
    out = [prefix] if prefix else []
    if isinstance(meta, dict):
        for k, v in meta.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(meta, list):
        for i, v in enumerate(meta):
            out += _paths(v, (*prefix, i))
    return out


def _set(meta: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        meta = meta[key]
    meta[path[-1]] = value


def _delete(meta: Any, path: tuple[Any, ...]) -> None:
    for key in path[:-1]:
        meta = meta[key]
    del meta[path[-1]]


def test_the_valid_metadata_passes_in_every_mode() -> None:
    for mode in ("mask", "masked", "audit"):
        validate_metadata(_valid(mode), "m.onnx")
        assert ModelInfo.from_metadata(_valid(mode), "m.onnx").mode == mode
    info = ModelInfo.from_metadata(_valid("audit", regions=True), "m.onnx")
    assert info.max_regions == 4 and info.spec.inputs == ("frames", "regions")
    assert info.spec.outputs[-2:] == ("region_stats", "curve") and info.curve_keeps == (0.1, 0.5, 1.0)
    masked = _valid("masked")
    masked["regions"] = _valid("audit", regions=True)["regions"]
    try:
        validate_metadata(masked, "m.onnx")
    except ContractError as exc:
        assert "(mode audit only)" in str(exc)
    else:
        raise AssertionError("a region input on a masked-mode model was accepted")


@FUZZ
@given(
    mode=st.sampled_from(["mask", "masked", "audit"]),
    edits=st.lists(st.tuples(st.integers(0, 10_000), json_values(), st.booleans()), min_size=1, max_size=4),
    engine=st.booleans(),
    regions=st.booleans(),
)
def test_tampered_metadata_is_validated_or_refused(
    mode: str, edits: list[Any], engine: bool, regions: bool
) -> None:
    meta = _valid(mode, regions)
    if engine:
        meta = engine_metadata(meta, tensorrt_version="10.0", gpu="gpu", batch_profile=(1, 4, 8),
                               precision="fp16", builder_flags=[])  # fmt: skip
    for pick, value, delete in edits:
        paths = _paths(meta)
        path = paths[pick % len(paths)]
        if delete and isinstance(path[-1], str):
            _delete(meta, path)
        else:
            _set(meta, path, copy.deepcopy(value))
    source = "tampered.engine" if engine else "tampered.onnx"
    result = ends_typed("metadata dict", lambda: ModelInfo.from_metadata(meta, source))
    if isinstance(result, ContractError):
        assert source in str(result)
    else:  # whatever passed is usable by the runtime as it is
        assert (
            result.height > 0
            and result.width > 0
            and result.outputs
            and result.mode in ("mask", "masked", "audit")
        )
        assert result.max_regions is None or (result.mode == "audit" and result.max_regions >= 1)
        assert not result.curve_keeps or (result.mode == "audit" and result.curve_keeps[0] > 0)
        assert list(result.outputs) == list(result.spec.outputs)


@FUZZ
@given(props=st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=12))
def test_onnx_property_strings_decode_then_validate_or_refuse(props: dict[str, str]) -> None:
    base = to_props(_valid())
    merged = {**base, **props}
    meta = from_props(merged)  # decoding never raises: a value that is not JSON stays a string
    ends_typed("onnx props", lambda: validate_metadata(meta, "props.onnx"))


@FUZZ
@given(data=st.binary(max_size=400) | json_values().map(lambda v: json.dumps(v).encode()))
def test_sidecar_bytes_are_read_or_refused(tmp_path_factory: Any, data: bytes) -> None:
    folder = Path(tmp_path_factory.mktemp("sidecar"))
    engine = folder / "m.engine"
    sidecar_path(engine).write_bytes(data)
    result = ends_typed("sidecar bytes", lambda: read_metadata(engine))
    assert isinstance(result, ContractError)  # no random bytes make a valid sidecar
    assert "m.engine" in str(result)
