"""BenchConfig validation and the CLI's parsing into it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from depthmask.bench.config import BenchConfig
from depthmask.cli.bench import parse_batches, parse_list
from depthmask.errors import ConfigError
from depthmask.settings import parse_size


def test_defaults_follow_the_latency_conventions() -> None:
    cfg = BenchConfig(depth_net="hu2019_tiny")
    assert cfg.seconds >= 3.0 and cfg.iters >= 20  # contracts §5
    assert cfg.random_weights
    assert cfg.to_dict()["backends"] == ["onnxruntime"]


def test_unknown_backend_names_the_closest() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'openvino'"):
        BenchConfig(backends=("openvin",))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"precisions": ("fp64",)}, "unknown precision"),
        ({"batches": (0,)}, "positive frame counts"),
        ({"height": 64}, "both"),
        ({"height": 8, "width": 8}, "at least 16"),
        ({"iters": 0}, "--iters"),
        ({"max_seconds": 0}, "--max-seconds"),
        ({"devices": ("tpu",)}, "unknown device"),
        ({"checkpoint_n": Path("/nonexistent.safetensors")}, "does not exist"),
    ],
)
def test_bad_values_are_refused(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BenchConfig(**kw)


def test_model_and_network_are_exclusive(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    with pytest.raises(ConfigError, match="not both"):
        BenchConfig(model=model, depth_net="hu2019_tiny")
    with pytest.raises(ConfigError, match="does not exist"):
        BenchConfig(model=tmp_path / "missing.onnx")
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"")
    with pytest.raises(ConfigError, match="fp32 ONNX"):
        BenchConfig(model=engine)


def test_frozen_and_derived_with_replace() -> None:
    cfg = BenchConfig(batches=[1, 4])  # lists become tuples
    assert cfg.batches == (1, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.iters = 3  # type: ignore[misc]
    assert dataclasses.replace(cfg, iters=3).iters == 3


def test_cli_parsers() -> None:
    assert parse_size("228x304") == (228, 304)
    assert parse_size("256×832") == (256, 832)
    assert parse_size(None) is None
    assert parse_batches("1, 4,8") == (1, 4, 8)
    assert parse_list("ONNXRuntime,torch", "backend") == ("onnxruntime", "torch")
    with pytest.raises(ConfigError, match="HxW"):
        parse_size("228")
    with pytest.raises(ConfigError, match="frame counts"):
        parse_batches("1,four")
