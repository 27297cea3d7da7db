"""Shared test settings: deterministic, few threads (CI has 2 cores), markers that skip with a reason."""

from __future__ import annotations

import pytest

from depthmask.errors import module_available


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_trt = module_available("tensorrt")
    has_gpu = False
    if module_available("torch"):
        import torch

        has_gpu = torch.cuda.is_available()
    for item in items:
        if "trt" in item.keywords and not has_trt:
            item.add_marker(pytest.mark.skip(reason="TensorRT is not installed (it needs an NVIDIA GPU)"))
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="no CUDA GPU on this machine"))
