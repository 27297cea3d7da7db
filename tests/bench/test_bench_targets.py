"""Which combinations run here, and why the others cannot (an `unavailable: why` row, never a crash)."""

from __future__ import annotations

import pytest

from depthmask.bench import targets


def test_tensorrt_always_targets_cuda_and_needs_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert targets.devices_for("tensorrt", ("cpu",)) == ("cuda",)
    monkeypatch.setattr(targets, "cuda_available", lambda: False)
    assert targets.unavailable("tensorrt", "cuda", "fp16") == "no CUDA GPU"
    assert targets.unavailable("torch", "cuda", "fp16") == "no CUDA GPU"
    assert targets.unavailable("onnxruntime", "cuda", "fp32") == "no CUDA GPU"
    assert targets.unavailable("authors", "cuda", "fp32") == "no CUDA GPU"


def test_with_a_gpu_but_without_tensorrt_the_reason_is_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "cuda_available", lambda: True)
    monkeypatch.setattr(targets, "module_available", lambda name: name != "tensorrt")
    assert "TensorRT is not installed" in (targets.unavailable("tensorrt", "cuda", "int8") or "")


@pytest.mark.parametrize(
    ("path", "precision", "phrase"),
    [
        ("authors", "bf16", "fp32 only"),
        ("torch", "int8", "no int8 path"),
        ("torch", "fp16", "no fast fp16"),
        ("onnxruntime", "bf16", "no bf16"),
        ("tensorrt", "bf16", "no bf16 engine"),
    ],
)
def test_precisions_a_path_has_no_kernels_for(path: str, precision: str, phrase: str) -> None:
    assert phrase in (targets.unavailable(path, "cpu", precision) or "")


def test_cpu_paths_that_run_here() -> None:
    assert targets.unavailable("onnxruntime", "cpu", "fp32") is None
    assert targets.unavailable("onnxruntime", "cpu", "int8") is None
    assert targets.unavailable("authors", "cpu", "fp32") is None
    assert targets.unavailable("openvino", "cuda", "fp32") is not None


def test_bf16_needs_native_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "cpu_has_bf16", lambda: False)
    assert "no native bf16" in (targets.unavailable("torch", "cpu", "bf16") or "")
