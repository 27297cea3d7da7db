"""TensorRT: engines from the fp32 ONNX at every precision (on a GPU machine with TensorRT), and the
checks that run everywhere: a clear install message, and refusing engines from another TensorRT/GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_nets import SIZE, config

from depthmask.contract.compat import check_engine_compatible
from depthmask.contract.metadata import read_metadata
from depthmask.contract.sidecar import sidecar_path
from depthmask.errors import ContractError, MissingDependencyError, module_available
from depthmask.export.frames import collect, frames_from_source
from depthmask.export.tensorrt import import_tensorrt, tensorrt_providers


def test_missing_tensorrt_says_how_to_install() -> None:
    if module_available("tensorrt"):
        pytest.skip("TensorRT is installed here")
    with pytest.raises(MissingDependencyError, match=r"pip install 'depthmask\[gpu\]'.*need a CUDA GPU"):
        import_tensorrt()


def test_engine_from_another_tensorrt_or_gpu_is_refused() -> None:
    meta = {"tensorrt_version": "10.3.0", "gpu": "NVIDIA A100-SXM4-80GB"}
    check_engine_compatible(meta, "m.engine", tensorrt_version="10.3.0", gpu="NVIDIA A100-SXM4-80GB")
    with pytest.raises(
        ContractError, match=r"built with TensorRT 10\.3\.0; this is TensorRT 10\.9\.0.*rebuild"
    ):
        check_engine_compatible(meta, "m.engine", tensorrt_version="10.9.0", gpu="NVIDIA A100-SXM4-80GB")
    with pytest.raises(
        ContractError, match=r"built for GPU 'NVIDIA A100-SXM4-80GB'; this GPU is 'NVIDIA H100"
    ):
        check_engine_compatible(meta, "m.engine", tensorrt_version="10.3.0", gpu="NVIDIA H100 80GB HBM3")


def test_ort_tensorrt_provider_options(tmp_path: Path) -> None:
    providers = tensorrt_providers(tmp_path / "cache", fp16=True, frame_shape=SIZE, batch_profile=(1, 4, 8))
    name, options = providers[0]
    assert name == "TensorrtExecutionProvider" and providers[1:] == [
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert options["trt_engine_cache_enable"] is True and options["trt_fp16_enable"] is True
    assert options["trt_engine_cache_path"] == str(tmp_path / "cache")
    assert options["trt_profile_max_shapes"] == "frames:8x64x96x3"


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_builds_and_matches_pytorch(
    precision: str, exported: dict, checkpoints: tuple[Path, Path], tmp_path: Path, frames
) -> None:
    from depthmask.export.parity import runner_for, torch_reference, validate
    from depthmask.export.tensorrt import engine_from_onnx

    cfg = config(
        checkpoints, "audit", format="engine", precision=precision, batch_profile=(1, 2, 4),
        calibration="synthetic:seed=3" if precision == "int8" else None, calibration_frames=16,
    )  # fmt: skip
    calibration = collect(frames_from_source("synthetic:seed=3", *SIZE, 16)) if precision == "int8" else None
    engine = engine_from_onnx(
        exported["audit"][0], cfg, tmp_path / f"m-{precision}.engine", calibration=calibration
    )
    meta = read_metadata(engine)
    assert meta["precision"] == precision and meta["batch_profile"] == {"min": 1, "opt": 2, "max": 4}
    assert (tmp_path / f"m-{precision}.engine.timing-cache").is_file()
    if precision == "int8":  # explicit quantization: QDQ calibrated on the frames, no calibrator cache
        assert meta["calibration"]["frames"] == 16 and "INT8" in meta["builder_flags"]
        assert not (tmp_path / "m-int8.engine.calib-cache").exists()
    assert meta["gpu_compute_capability"].count(".") == 1
    backend = runner_for(engine)  # the runtime's TensorRT backend: sidecar, compatibility, deserialise
    try:
        result = validate(
            torch_reference(exported["audit"][1]), backend, frames, precision=precision, batch=4,
            stats_columns=meta["stats_columns"],
        )  # fmt: skip
    finally:
        backend.close()
    assert result.passed, [(g.what, g.value, g.limit) for g in result.failures]
    side = json.loads(sidecar_path(engine).read_text())
    side["tensorrt_version"] = "0.0.0"
    sidecar_path(engine).write_text(json.dumps(side))
    with pytest.raises(ContractError, match=r"built with TensorRT 0\.0\.0"):
        runner_for(engine)
