"""`depthmask golden record|verify`: the shipped demo model recorded on 4 synthetic frames, verified against
itself (pass), against an edited copy (exit 4), a model of another size (exit 1) and gate files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from depthmask.cli import app
from depthmask.contract import exits
from depthmask.demo import shipped_model
from depthmask.errors import ConfigError
from depthmask.golden import GateLimits, read_gate

runner = CliRunner()
SOURCE = "synthetic:frames=4,height=128,width=416,seed=3"
WIDE = {"COLUMNS": "200"}


def _invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], env=WIDE, terminal_width=200)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "g"
    result = _invoke("golden", "record", shipped_model(), "--source", SOURCE, "--frames", "4", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def _edited(
    src: Path, dst: Path, *, scale: dict[str, float] | None = None, size: tuple[int, int] | None = None
):
    model = onnx.load(str(src))
    for init in model.graph.initializer:
        if scale and init.name in scale:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * scale[init.name], init.name))
    if size is not None:
        h, w = size
        props = {p.key: p for p in model.metadata_props}
        inp = json.loads(props["input"].value)
        props["input"].value = json.dumps({**inp, "height": h, "width": w})
        outs = json.loads(props["outputs"].value)
        for o in outs:
            if len(o["shape"]) == 4:
                factor = 416 // o["shape"][3]
                o["shape"][2:] = [h // factor, w // factor]
        props["outputs"].value = json.dumps(outs)
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[1].dim_value, dims[2].dim_value = h, w
    onnx.save(model, str(dst))
    return dst


def test_record_writes_the_frames_outputs_and_a_portable_description(golden: Path, tmp_path: Path) -> None:
    doc = json.loads((golden / "golden.json").read_text())
    assert doc["model"]["file"] == "demo-audit.onnx" and len(doc["model"]["sha256"]) == 64
    assert doc["model"]["checkpoints"]["depth_net"]["sha256"]
    assert (doc["frames"], doc["input"]) == (4, {"height": 128, "width": 416, "channel_order": "bgr"})
    assert doc["source"] == SOURCE and len(doc["stats"]) == 4
    assert set(doc["stats"][0]) == set(doc["stats_columns"])
    text = (golden / "golden.json").read_text()
    assert "/work" not in text and str(golden.parent) not in text and str(tmp_path) not in text
    with np.load(golden / "golden.npz") as npz:
        assert npz["frames"].dtype == np.uint8 and npz["frames"].shape == (4, 128, 416, 3)
        assert {"mask", "depth", "depth_masked", "stats"} <= set(npz.files)


def test_an_absolute_source_path_is_stored_by_its_name() -> None:
    from depthmask.golden.record import portable

    assert portable("/data/drives/drive_0001_sync") == "drive_0001_sync"
    assert portable("clips/a.mp4") == "clips/a.mp4"


def test_verify_the_same_model_passes(golden: Path) -> None:
    result = _invoke("golden", "verify", shipped_model(), golden)
    assert result.exit_code == 0, result.output
    assert "gate: PASS" in result.output and "FAIL" not in result.output
    report = json.loads((golden / "verify-demo-audit.onnx.json").read_text())
    assert report["passed"]
    by_name = {o["name"]: o for o in report["outputs"]}
    assert by_name["depth"]["abs_rel"] == 0.0 and by_name["depth_masked"]["abs_rel"] == 0.0
    assert by_name["mask"]["iou"] == 1.0
    assert report["latency_ms"]["p99"] > 0 and report["fps"] > 0
    assert {c["key"] for c in report["checks"]} == {"max_abs_rel", "min_iou"}


def test_a_worse_artefact_fails_the_gate_naming_the_limit(golden: Path, tmp_path: Path) -> None:
    worse = _edited(shipped_model(), tmp_path / "worse.onnx", scale={"depth_net.R.conv2.weight": 1.05})
    out = tmp_path / "verify.json"
    result = _invoke("golden", "verify", worse, golden, "--json", out)
    assert result.exit_code == exits.CHECK_FAILED, result.output
    assert "gate: FAIL" in result.output and "gate failed: max_abs_rel (depth abs_rel)" in result.output
    report = json.loads(out.read_text())
    failed = [c for c in report["checks"] if not c["ok"]]
    assert {c["key"] for c in failed} == {"max_abs_rel"}
    assert all(c["missed_by"] > 0 for c in failed)


def test_flags_and_gate_files_set_the_limits(golden: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate.toml"
    gate.write_text("min_fps = 1e9\nmax_p99_ms = 1e9\n")
    result = _invoke(
        "golden", "verify", shipped_model(), golden, "--gate", gate, "--json", tmp_path / "r.json"
    )
    assert result.exit_code == exits.CHECK_FAILED, result.output
    assert "min_fps (throughput fps)" in result.output
    # a flag overrides the file
    result = _invoke("golden", "verify", shipped_model(), golden, "--gate", gate, "--min-fps", "0")
    assert result.exit_code == 0, result.output
    assert "max_p99_ms" in result.output and "min_fps" in result.output


def test_a_gate_file_with_an_unknown_key_is_refused(golden: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps({"max_abs_rel": 0.02, "min_iuo": 0.9}))
    result = _invoke("golden", "verify", shipped_model(), golden, "--gate", gate)
    assert result.exit_code == exits.USER_ERROR, result.output
    assert "gate.json" in result.output and "'min_iuo'" in result.output and "min_iou" in result.output
    with pytest.raises(ConfigError, match="must be ≥ 0"):
        GateLimits().updated({"max-abs-rel": -1})
    bad = tmp_path / "gate.yaml"
    bad.write_text("x: 1")
    with pytest.raises(ConfigError, match=r"\.json or \.toml"):
        read_gate(bad)


def test_a_model_of_another_size_is_refused(golden: Path, tmp_path: Path) -> None:
    other = _edited(shipped_model(), tmp_path / "small.onnx", size=(64, 208))
    result = _invoke("golden", "verify", other, golden)
    assert result.exit_code == exits.USER_ERROR, result.output
    assert "208×64" in result.output and "416×128" in result.output


def test_verify_needs_no_torch(golden: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from depthmask.cli import app\n"
        f"r = CliRunner().invoke(app, ['golden', 'verify', {str(shipped_model())!r}, {str(golden)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'verify imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
