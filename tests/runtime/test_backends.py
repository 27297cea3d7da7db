"""One contract for every backend (so none drifts): describe, batches of 1 and 3 shaped as the metadata
says, parity with the PyTorch reference at the backend's precision, refusals, and close twice."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from depthmask.errors import ConfigError, ContractError, SourceError, module_available
from depthmask.export.parity import TOLERANCES, Tolerance, torch_reference, validate
from depthmask.runtime.backends import BACKENDS, Backend, create_backend

# bf16 keeps 8 significant bits (fp16 keeps 11): about 0.4 % per rounding against fp16's 0.05 %, so its
# gates are looser than parity's fp16 ones, yet tight enough to catch a wrong cast or a stat in bf16.
THREADS = 1  # two cores, shared with the other tests
BF16 = Tolerance("bf16", depth_abs_rel=0.03, depth_delta1=0.99, mask_iou=0.95, mask_mean_delta=0.01)


def _bf16_native() -> bool:
    from depthmask.runtime.backends.torch import cpu_bf16_supported

    return cpu_bf16_supported()


CASES = [
    pytest.param(("onnxruntime", {"providers": ["cpu"]}), id="onnxruntime"),
    pytest.param(("torch", {"precision": "fp32"}), id="torch-fp32"),
    pytest.param(("torch", {"precision": "bf16"}), id="torch-bf16"),
    pytest.param(("openvino", {"precision": "fp32"}), id="openvino-fp32"),
    pytest.param(("openvino", {"precision": "bf16"}), id="openvino-bf16"),
    pytest.param(("tensorrt", {}), id="tensorrt", marks=pytest.mark.trt),
]


@pytest.fixture
def model_for(audit_model: Path, nets: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """name → the file that backend runs (TensorRT: an engine built from the ONNX file, with sidecar)."""

    def pick(name: str) -> Path:
        if name != "tensorrt":
            return audit_model
        from depthmask.contract.metadata import read_metadata
        from depthmask.export.tensorrt import engine_from_onnx

        ckpt = read_metadata(audit_model)["checkpoints"]
        pair = (Path(ckpt["depth_net"]["checkpoint"]), Path(ckpt["mask_net"]["checkpoint"]))
        out = tmp_path_factory.mktemp("engine") / "tiny-audit.engine"
        return engine_from_onnx(audit_model, nets.config(pair, "audit", format="engine"), out)

    return pick


@pytest.fixture(params=CASES)
def backend(request: pytest.FixtureRequest, model_for: Any) -> Iterator[Backend]:
    """Each available backend, loaded on the tiny audit model."""
    name, options = request.param
    if name == "torch" and not module_available("torch"):
        pytest.skip("PyTorch is not installed (pip install 'depthmask[train]')")
    if name == "openvino" and not module_available("openvino"):
        pytest.skip("OpenVINO is not installed (pip install 'depthmask[openvino]')")
    if options.get("precision") == "bf16" and not _bf16_native():
        pytest.skip("this CPU has no native bf16 (needs AVX-512 BF16 or AMX)")
    threads = {"threads": THREADS} if name != "tensorrt" else {}
    b = create_backend(name, model_for(name), **options, **threads)
    b.load()
    yield b
    b.close()


def _tolerance(backend: Backend) -> Tolerance:
    if getattr(backend, "precision", None) == "bf16":
        return BF16
    return TOLERANCES[backend.info.metadata["precision"]]


def test_describe_is_json_and_names_the_backend(backend: Backend) -> None:
    d = backend.describe()
    assert d["backend"] == backend.name
    assert Path(d["model"]).name in ("tiny-audit.onnx", "tiny-audit.engine")
    json.dumps(d)  # goes into summary.json and benchmark rows as it is
    if backend.name == "onnxruntime":
        assert d["providers"] == ["CPUExecutionProvider"] and d["threads"] == THREADS
    if backend.name == "torch":
        assert d["device"] == "cpu" and d["precision"] in ("fp32", "bf16") and d["threads"] == THREADS


@pytest.mark.parametrize("batch", [1, 3])
def test_outputs_are_shaped_as_the_metadata_says(
    backend: Backend, sample_frames: np.ndarray, batch: int
) -> None:
    out = backend.infer(sample_frames[:batch])
    declared = backend.info.metadata["outputs"]
    assert list(out) == [o["name"] for o in declared] == list(backend.info.outputs)
    for o in declared:
        arr = out[o["name"]]
        assert arr.shape == (batch, *o["shape"][1:]), o["name"]
        assert arr.dtype == np.float32 and o["dtype"] == "float32"
        assert np.isfinite(arr).all(), o["name"]
    assert out["stats"].shape[1] == len(backend.info.stats_columns)


def test_parity_with_the_pytorch_reference(
    backend: Backend, audit_model: Path, sample_frames: np.ndarray
) -> None:
    from depthmask.contract.metadata import read_metadata
    from depthmask.nets.rebuild import graph_from_metadata

    meta = read_metadata(audit_model)
    reference = torch_reference(graph_from_metadata(meta, beside=audit_model.parent))
    result = validate(
        reference,
        backend,
        sample_frames,
        batch=3,
        stats_columns=meta["stats_columns"],
        tolerance=_tolerance(backend),
    )
    assert result.passed, [(g.what, g.value, g.limit) for g in result.failures]
    depth = result.output("depth")
    assert depth.valid_fraction > 0.99 and depth.scale > 1.0  # real depths: the gates mean something


def test_wrong_frames_are_refused_naming_expected_and_actual(
    backend: Backend, model_size: tuple[int, int]
) -> None:
    h, w = model_size
    with pytest.raises(ContractError, match=rf"\[batch, {h}, {w}, 3\].*uint8 \[2, 32, 48, 3\]"):
        backend.infer(np.zeros((2, 32, 48, 3), np.uint8))
    with pytest.raises(ContractError, match=rf"float32 \[1, {h}, {w}, 3\]"):
        backend.infer(np.zeros((1, h, w, 3), np.float32))


def test_close_twice_and_context_manager(backend: Backend, sample_frames: np.ndarray) -> None:
    backend.close()
    backend.close()
    with backend as again:  # load → infer → close again after a close
        assert again.infer(sample_frames[:1])["mask"].shape[0] == 1
    backend.close()


@pytest.mark.parametrize("name", sorted({p.values[0][0] for p in CASES}))
def test_missing_model_file_is_a_clear_error(name: str, tmp_path: Path) -> None:
    if name == "tensorrt" and not module_available("tensorrt"):
        pytest.skip("TensorRT is not installed (it needs an NVIDIA GPU)")
    if name == "openvino" and not module_available("openvino"):
        pytest.skip("OpenVINO is not installed (pip install 'depthmask[openvino]')")
    missing = tmp_path / ("nowhere.engine" if name == "tensorrt" else "nowhere.onnx")
    with pytest.raises(SourceError, match=r"nowhere\.(onnx|engine).* does not exist"):
        create_backend(name, missing).load()


def test_every_registered_backend_is_covered() -> None:
    assert {p.values[0][0] for p in CASES} == set(BACKENDS)


# -- torch-only -------------------------------------------------------------------------------------


def test_torch_backend_runs_a_graph_built_in_memory(audit_model: Path, sample_frames: np.ndarray) -> None:
    """The benchmarks' path: a graph passed in, its ModelInfo measured from it."""
    from depthmask.contract.metadata import read_metadata
    from depthmask.nets.rebuild import graph_from_metadata
    from depthmask.runtime.backends.torch import TorchBackend

    meta = read_metadata(audit_model)
    with TorchBackend(
        None, graph=graph_from_metadata(meta, beside=audit_model.parent), threads=THREADS
    ) as from_graph:
        info = from_graph.info
        got = from_graph.infer(sample_frames[:2])
    assert (info.height, info.width, info.mode, info.outputs) == (
        64,
        96,
        "audit",
        ("mask", "depth", "depth_masked", "stats"),
    )
    assert info.metadata["outputs"] == meta["outputs"]
    assert (
        info.metadata["checkpoints"]["depth_net"]["state_sha256"]
        == meta["checkpoints"]["depth_net"]["state_sha256"]
    )
    assert info.metadata["gflop_per_frame"] == pytest.approx(meta["gflop_per_frame"], rel=1e-3)
    with TorchBackend(audit_model, threads=THREADS) as from_file:
        want = from_file.infer(sample_frames[:2])
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-6)


def test_torch_backend_refuses_what_it_cannot_run(audit_model: Path) -> None:
    import torch

    from depthmask.runtime.backends.torch import TorchBackend

    with pytest.raises(ConfigError, match=r"fp16 runs on CUDA only.*bf16"):
        TorchBackend(audit_model, precision="fp16")
    with pytest.raises(ConfigError, match=r"'fp8' is not one of fp32, bf16, fp16$"):
        TorchBackend(audit_model, precision="fp8")
    with pytest.raises(ConfigError, match=r"'gpu'.*'cpu', 'cuda' or 'cuda:N'"):
        TorchBackend(audit_model, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"sees no CUDA GPU.*--device cpu"):
            TorchBackend(audit_model, device="cuda").load()


def test_torch_backend_refuses_weights_that_changed(audit_model: Path, tmp_path: Path) -> None:
    """The rebuild is hash-checked: other weights under the recorded name are never used silently."""
    import torch

    from depthmask.contract.metadata import read_metadata
    from depthmask.errors import CheckpointError
    from depthmask.nets.checkpoint import save_checkpoint
    from depthmask.nets.models import create_model
    from depthmask.runtime.backends.torch import TorchBackend

    name = read_metadata(audit_model)["checkpoints"]["depth_net"]["name"]
    torch.manual_seed(123)
    other = save_checkpoint(create_model(name), tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match=r"hash to .*pass the checkpoint it was exported from"):
        TorchBackend(audit_model, checkpoint_n=other).load()


def test_runtime_without_torch(audit_model: Path, tmp_path: Path) -> None:
    """`run` never imports torch unless --backend torch is chosen, which then says how to install it."""
    code = textwrap.dedent(
        f"""
        import sys
        class _Blocker:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}")
                return None
        sys.meta_path.insert(0, _Blocker())
        from typer.testing import CliRunner
        from depthmask.cli import app
        base = ["run", "synthetic:frames=2,height=64,width=96", "--model", {str(audit_model)!r},
                "--threads", "1", "--save", "depth"]
        r = CliRunner().invoke(app, [*base, "--out", {str(tmp_path / "ort")!r}])
        assert r.exit_code == 0, r.output
        assert "torch" not in sys.modules
        r = CliRunner().invoke(app, [*base, "--out", {str(tmp_path / "torch")!r}, "--backend", "torch"])
        assert r.exit_code == 1, r.output
        assert 'pip install "depthmask[train]"' in r.output and "Traceback" not in r.output, r.output
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
