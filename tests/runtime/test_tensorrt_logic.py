"""The TensorRT path's own logic, without TensorRT: batch planning (chunks and padding), checked
`set_input_shape` / `set_tensor_address`, the optimization profile from `--batch-profile`, the QDQ check for
explicit int8, the timing cache and the GPU compatibility rules.

Small fakes stand in for TensorRT's execution context and builder config here; they test our logic
around those calls, not TensorRT. The real path (a built engine run through the backend) is tested where
TensorRT and a GPU exist: tests/export/test_export_tensorrt.py and tests/runtime/test_backends.py
(markers `trt`, `gpu`).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from depthmask.contract.compat import check_engine_compatible
from depthmask.errors import ConfigError, ContractError
from depthmask.export.tensorrt import (
    _timing_cache,
    check_qdq_for_tensorrt,
    device_record,
    input_profiles,
    profile_shapes,
)
from depthmask.runtime.backends.tensorrt import (
    TensorRTBackend,
    _checked,
    padded,
    plan_batches,
    set_input_shape_checked,
    set_tensor_address_checked,
)

PROFILE = ((2, 8, 12, 3), (4, 8, 12, 3), (4, 8, 12, 3))


class FakeContext:
    """Stands in for IExecutionContext: accepts shapes inside the profile, returns False otherwise (as
    TensorRT 10 does); "executes" by writing each frame's mean into the `depth` output."""

    def __init__(self, mem: FakeMemory, profile: tuple[tuple[int, ...], ...] = PROFILE) -> None:
        self.mem, self.profile, self.shape, self.shapes_set = mem, profile, None, []
        self.address_ok = True

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        if not self.profile[0][0] <= shape[0] <= self.profile[2][0]:
            return False
        self.shape = shape
        self.shapes_set.append(shape[0])
        return True

    def set_tensor_address(self, name: str, address: int) -> bool:
        return self.address_ok

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return (self.shape[0], 1)

    def execute_async_v3(self, stream: int) -> bool:
        frames = self.mem.device[1][: int(np.prod(self.shape))].reshape(self.shape)
        out = frames.reshape(self.shape[0], -1).mean(axis=1, dtype=np.float32)[:, None]
        self.mem.device[2][: out.size] = out.ravel()
        return True


class FakeMemory:
    """Stands in for cuda_memory: device buffers are NumPy arrays keyed by a fake pointer."""

    stream_handle = 0

    def __init__(self) -> None:
        self.device = {1: np.zeros(4 * 8 * 12 * 3, np.uint8), 2: np.zeros(4, np.float32)}

    def to_device(self, ptr: int, src: np.ndarray) -> None:
        self.device[ptr][: src.size] = src.ravel()

    def to_host(self, dst: np.ndarray, ptr: int) -> None:
        dst[...] = self.device[ptr][: dst.size].reshape(dst.shape)

    def synchronize(self) -> None:
        pass


def fake_backend() -> tuple[TensorRTBackend, FakeContext]:
    backend = TensorRTBackend("fake.engine")
    backend.mem = FakeMemory()
    backend.context = FakeContext(backend.mem)
    backend.info = SimpleNamespace(
        height=8,
        width=12,
        check_frames=lambda frames: None,
        max_regions=None,
        feeds=lambda frames, regions=None: {"frames": frames},
    )
    backend.input_name, backend.outputs, backend.profile = "frames", ["depth"], PROFILE
    backend.inputs, backend.profiles, backend.max_maps = ["frames"], {"frames": PROFILE}, 1
    backend.min_batch, backend.max_batch = 2, 4
    backend.device_ptr = {"frames": 1, "depth": 2}
    backend.host = {"frames": np.zeros((4, 8, 12, 3), np.uint8), "depth": np.zeros((4, 1), np.float32)}
    return backend, backend.context


def test_plan_batches_chunks_above_the_maximum_and_pads_below_the_minimum() -> None:
    assert plan_batches(10, 1, 4) == [(0, 4, 4), (4, 8, 4), (8, 10, 2)]
    assert plan_batches(9, 4, 8) == [(0, 8, 8), (8, 9, 4)]
    assert plan_batches(2, 4, 8) == [(0, 2, 4)]
    assert plan_batches(8, 8, 8) == [(0, 8, 8)]
    assert plan_batches(0, 1, 4) == []
    with pytest.raises(ContractError, match=r"4\.\.2"):
        plan_batches(3, 4, 2)


def test_padded_appends_zero_frames() -> None:
    frames = np.full((1, 2, 2, 3), 7, np.uint8)
    out = padded(frames, 3)
    assert out.shape == (3, 2, 2, 3) and out.dtype == np.uint8
    assert (out[0] == 7).all() and not out[1:].any()
    assert padded(frames, 1) is frames


def test_refused_calls_name_the_tensor_shape_and_profile() -> None:
    context = FakeContext(FakeMemory())
    set_input_shape_checked(context, "frames", (3, 8, 12, 3), PROFILE)
    with pytest.raises(
        ContractError,
        match=r"input shape \(5, 8, 12, 3\) for 'frames'.*min \(2, 8, 12, 3\), opt \(4, 8, 12, 3\), max",
    ):
        set_input_shape_checked(context, "frames", (5, 8, 12, 3), PROFILE)
    context.address_ok = False
    with pytest.raises(ContractError, match=r"device address 0x10 for 'depth'"):
        set_tensor_address_checked(context, "depth", 16)
    _checked(True, "anything")
    with pytest.raises(ContractError, match="TensorRT refused x"):
        _checked(False, "x")


def test_short_batches_are_padded_to_the_profile_minimum_and_sliced_back() -> None:
    backend, context = fake_backend()
    frames = np.arange(1 * 8 * 12 * 3, dtype=np.uint8).reshape(1, 8, 12, 3)
    out = backend.infer(frames)
    assert context.shapes_set == [2]  # one frame ran as a batch of two (the profile's minimum)
    assert not backend.mem.device[1][frames.size : 2 * frames.size].any()  # the padding is zeros
    assert out["depth"].shape == (1, 1)
    np.testing.assert_allclose(out["depth"][:, 0], frames.reshape(1, -1).mean(axis=1), rtol=1e-6)


def test_long_batches_run_in_chunks_with_the_tail_padded() -> None:
    backend, context = fake_backend()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (9, 8, 12, 3), dtype=np.uint8)
    out = backend.infer(frames)
    assert context.shapes_set == [4, 4, 2]  # 4 + 4 + 1 frame padded to 2
    assert out["depth"].shape == (9, 1)
    np.testing.assert_allclose(out["depth"][:, 0], frames.reshape(9, -1).mean(axis=1), rtol=1e-6)


def test_profile_shapes_from_batch_profile() -> None:
    assert profile_shapes((1, 4, 16), 64, 96) == ((1, 64, 96, 3), (4, 64, 96, 3), (16, 64, 96, 3))
    assert profile_shapes((8, 8, 8), 64, 96)[0] == (8, 64, 96, 3)
    for bad in ((4, 2, 8), (0, 1, 2), (1, 8, 4)):
        with pytest.raises(ConfigError, match=r"--batch-profile needs 1 ≤ min ≤ opt ≤ max"):
            profile_shapes(bad, 64, 96)
    with pytest.raises(ConfigError, match=r"--batch-profile takes MIN,OPT,MAX"):
        profile_shapes((1, 2), 64, 96)  # type: ignore[arg-type]


def test_region_engines_profile_the_maps_and_refuse_more_than_they_take() -> None:
    profiles = input_profiles((1, 4, 16), 64, 96, max_regions=4)
    assert profiles["frames"] == profile_shapes((1, 4, 16), 64, 96)
    assert profiles["regions"] == ((1, 1, 64, 96), (4, 4, 64, 96), (16, 4, 64, 96))
    assert list(input_profiles((1, 4, 16), 64, 96)) == ["frames"]
    with pytest.raises(ConfigError, match="region maps must be a positive number"):
        input_profiles((1, 4, 16), 64, 96, max_regions=0)

    backend, context = fake_backend()
    maps_profile = ((2, 1, 8, 12), (4, 2, 8, 12), (4, 2, 8, 12))
    backend.inputs, backend.max_maps = ["frames", "regions"], 2
    backend.profiles = {"frames": PROFILE, "regions": maps_profile}
    backend.info.feeds = lambda frames, regions=None: {"frames": frames, "regions": regions}
    backend.info.max_regions = 2
    frames = np.zeros((1, 8, 12, 3), np.uint8)
    with pytest.raises(ContractError, match=r"at most 2 region maps a frame .* --regions 2"):
        backend.infer(frames, np.ones((1, 3, 8, 12), np.float32))
    seen = []
    context.set_input_shape = lambda name, shape: seen.append((name, shape)) or True
    backend._set_shapes(3, 2)
    assert seen == [("frames", (3, 8, 12, 3)), ("regions", (3, 2, 8, 12))]


def _qdq_model(zero_point_type: int, zero: int = 0):
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], name="q0"),
        helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], name="dq0"),
    ]
    inits = [
        helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]),
        helper.make_tensor("zp", zero_point_type, [], [zero]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        inits,
    )
    return onnx.helper.make_model(graph)


def test_qdq_for_tensorrt_must_be_symmetric_int8() -> None:
    from onnx import TensorProto, helper

    assert check_qdq_for_tensorrt(_qdq_model(TensorProto.INT8), "m.onnx") == 2
    with pytest.raises(ContractError, match=r"m\.onnx is not symmetric int8 QDQ.*q0 \(uint8 zero point\)"):
        check_qdq_for_tensorrt(_qdq_model(TensorProto.UINT8, 128), "m.onnx")
    with pytest.raises(ContractError, match="not symmetric int8"):
        check_qdq_for_tensorrt(_qdq_model(TensorProto.INT8, 3), "m.onnx")
    plain = helper.make_model(
        helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
    )
    with pytest.raises(ContractError, match="not an int8 export"):
        check_qdq_for_tensorrt(plain, "m.onnx")


class FakeBuilderConfig:
    """Stands in for IBuilderConfig's timing-cache calls."""

    def __init__(self, accept: bool = True) -> None:
        self.accept, self.loaded, self.ignore_mismatch = accept, None, None

    def create_timing_cache(self, data: bytes) -> object:
        self.loaded = data
        return object()

    def set_timing_cache(self, cache: object, ignore_mismatch: bool) -> bool:
        self.ignore_mismatch = ignore_mismatch
        return self.accept


def test_timing_cache_is_loaded_when_it_exists_and_a_refusal_is_an_error(tmp_path: Path) -> None:
    config = FakeBuilderConfig()
    _timing_cache(config, tmp_path / "none.cache")
    assert config.loaded == b"" and config.ignore_mismatch is False
    cache = tmp_path / "m.timing-cache"
    cache.write_bytes(b"tactics")
    _timing_cache(config, cache)
    assert config.loaded == b"tactics"
    with pytest.raises(ContractError, match=r"refused the timing cache .*m\.timing-cache.*--timing-cache"):
        _timing_cache(FakeBuilderConfig(accept=False), cache)


H200 = {"tensorrt_version": "10.9.0", "gpu": "NVIDIA H200", "gpu_compute_capability": "9.0"}


def test_engines_match_the_gpu_by_compute_capability_and_name() -> None:
    check_engine_compatible(
        H200, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA H200", compute_capability="9.0"
    )
    with pytest.raises(
        ContractError,
        match=r"built for GPU 'NVIDIA H200' \(compute capability 9\.0\); this GPU is 'NVIDIA A100-SXM4-80GB' "
        r"\(compute capability 8\.0\).*depthmask export --format engine",
    ):
        check_engine_compatible(
            H200, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA A100-SXM4-80GB", compute_capability="8.0"
        )
    with pytest.raises(ContractError, match=r"compute capability matches but the GPU model differs"):
        check_engine_compatible(
            H200, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA H100 80GB HBM3", compute_capability="9.0"
        )


def test_hardware_compatible_engines_uuid_and_older_sidecars() -> None:
    ampere_plus = {**H200, "hardware_compatibility_level": "AMPERE_PLUS"}
    check_engine_compatible(
        ampere_plus,
        "m.engine",
        tensorrt_version="10.9.0",
        gpu="NVIDIA H100 80GB HBM3",
        compute_capability="9.0",
    )
    check_engine_compatible(
        ampere_plus, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA A100", compute_capability="8.0"
    )
    with pytest.raises(ContractError, match="another compute capability"):
        check_engine_compatible(
            ampere_plus, "m.engine", tensorrt_version="10.9.0", gpu="Tesla T4", compute_capability="7.5"
        )
    with pytest.raises(ContractError, match="another compute capability"):
        check_engine_compatible(
            {**H200, "hardware_compatibility_level": "NONE"}, "m.engine", tensorrt_version="10.9.0",
            gpu="NVIDIA A100", compute_capability="8.0",
        )  # fmt: skip
    same_device = {**H200, "gpu_uuid": "1234-ab"}
    check_engine_compatible(  # the very device that built it, whatever the driver now calls it
        same_device, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA H200 NVL", uuid="GPU-1234-AB"
    )
    older = {"tensorrt_version": "10.9.0", "gpu": "NVIDIA H200"}  # no capability: by name, as before
    check_engine_compatible(
        older, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA H200", compute_capability="9.0"
    )
    with pytest.raises(ContractError, match=r"built for GPU 'NVIDIA H200'; this GPU is 'NVIDIA H100'"):
        check_engine_compatible(older, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA H100")
    with pytest.raises(ContractError, match=r"this GPU is 'NVIDIA H100'"):  # capability unknown here: by name
        check_engine_compatible(H200, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA H100")


def test_the_sidecar_records_the_building_gpus_compute_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_record() == {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=0: (9, 0))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=0: SimpleNamespace(uuid="GPU-12"))
    assert device_record() == {"gpu_compute_capability": "9.0", "gpu_uuid": "GPU-12"}
