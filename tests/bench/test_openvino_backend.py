"""The OpenVINO backend (an optional extra): the Backend protocol on our ONNX export, and its refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench_tiny import SIZE

from depthmask.errors import ConfigError, module_available
from depthmask.runtime.backends import Backend, create_backend

pytestmark = pytest.mark.skipif(
    not module_available("openvino"), reason="OpenVINO is not installed (pip install 'depthmask[openvino]')"
)


def test_runs_the_export_like_onnxruntime(tiny_onnx: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, *SIZE, 3), dtype=np.uint8)
    with create_backend("onnxruntime", tiny_onnx, providers=["cpu"], threads=1) as ort:
        want = ort.infer(frames)
    with create_backend("openvino", tiny_onnx, precision="fp32", threads=1) as ov:
        assert isinstance(ov, Backend)  # the protocol, once loaded (`info` comes from the file)
        got = ov.infer(frames)
        got1 = ov.infer(frames[:1])  # a second batch size compiles its own static model
        info = ov.describe()
    assert info["compiled_batches"] == [1, 3] and info["inference_precision_hint"] == "f32"
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name].shape == value.shape and got[name].dtype == np.float32
        np.testing.assert_allclose(got[name], value, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(value).max()))
    np.testing.assert_allclose(got1["mask"], got["mask"][:1], rtol=1e-4, atol=1e-5)


def test_refuses_int8_of_an_fp32_export_and_wrong_frames(tiny_onnx: Path) -> None:
    with pytest.raises(ConfigError, match="QDQ export"):
        create_backend("openvino", tiny_onnx, precision="int8").load()
    with pytest.raises(ConfigError, match="not one of"):
        create_backend("openvino", tiny_onnx, precision="fp64")
    backend = create_backend("openvino", tiny_onnx)
    backend.load()
    with pytest.raises(Exception, match="uint8 frames"):
        backend.infer(np.zeros((1, 8, 8, 3), np.uint8))
    backend.close()
    backend.close()  # twice is fine
