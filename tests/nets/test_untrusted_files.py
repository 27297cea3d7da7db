"""Files are untrusted: nothing a file names is imported, and a file that cannot be read is one clear line.

A `module:factory` N runs code, so depthmask imports one only when the user names it (`--depth-net`,
`--network`, `--depth-network`, or `trusted_factory=` in Python). Here `evil.py` writes a marker when it
is imported or called; every path that reads a network name from a file (a checkpoint's config, an
artefact's metadata or sidecar, a G's record of its N, a training state) must refuse it, naming the file
and the spec, and leave no marker. Malformed checkpoints and pickles with Python objects are refused with
one CheckpointError line, never a traceback.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from depthmask.cli.app import app
from depthmask.contract.metadata import build_metadata
from depthmask.contract.sidecar import engine_metadata, write_sidecar
from depthmask.errors import CheckpointError, ConfigError, ContractError, DepthmaskError
from depthmask.nets.authors import read_authors_file
from depthmask.nets.checkpoint import FORMAT, read_config, save_checkpoint
from depthmask.nets.loading import load_network
from depthmask.nets.models import create_model
from depthmask.nets.provenance import provenance_of
from depthmask.nets.rebuild import graph_from_metadata
from depthmask.train.config import DepthTrainConfig
from depthmask.train.state import STATE_FORMAT, load_state, save_state

runner = CliRunner()
SIZE = (64, 96)  # H, W of the tiny networks' frames

EVIL = """\
from pathlib import Path

MARKER = Path(__file__).with_name("marker")
MARKER.write_text("imported")


def build():
    MARKER.write_text("called")
    from depthmask.nets.models import create_model

    return create_model("hu2019_tiny")
"""


class Evil:
    """A user's own N in a file: its spec, and the marker its code writes when it runs."""

    def __init__(self, folder: Path) -> None:
        (folder / "evil.py").write_text(EVIL)
        self.spec = f"{folder / 'evil.py'}:build"
        self.marker = folder / "marker"


@pytest.fixture
def evil(tmp_path: Path) -> Evil:
    return Evil(tmp_path)


@pytest.fixture
def evil_n(tmp_path: Path, evil: Evil) -> Path:
    """hu2019_tiny's weights in a depthmask checkpoint whose config names evil.py:build as the network."""
    torch.manual_seed(0)
    n = create_model("hu2019_tiny")
    n.depthmask_name = evil.spec  # what save_checkpoint records as `network`
    return save_checkpoint(n, tmp_path / "n.safetensors")


@pytest.fixture
def tiny_g(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    return save_checkpoint(create_model("mask_drn_tiny"), tmp_path / "g.safetensors", **{"lambda": 5.0})


def _refused(result: Any, *named: object) -> None:
    """Exit 1 with one `error:` line naming every item of `named`, and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    for item in named:
        assert str(item) in lines[0], (item, lines[0])


# -- a module:factory named by a file is never imported ------------------------------------------------


def test_load_network_refuses_a_factory_a_checkpoint_names(evil: Evil, evil_n: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        load_network(None, evil_n)
    message = str(info.value)
    assert str(evil_n) in message and evil.spec in message and f"--depth-net {evil.spec}" in message
    # Trusting some other spec is not trusting this one.
    with pytest.raises(CheckpointError, match=r"you named 'other\.py:build'"):
        load_network(None, evil_n, trusted_factory="other.py:build")
    # A spec passed as the network but not marked as the user's is refused too.
    with pytest.raises(ConfigError, match="trusted_factory"):
        load_network(evil.spec, evil_n)
    assert not evil.marker.exists()


def test_a_factory_the_user_names_is_imported(tmp_path: Path, evil: Evil, evil_n: Path) -> None:
    model = load_network(None, evil_n, input_size=SIZE, trusted_factory=evil.spec)
    assert evil.marker.read_text() == "called"
    assert model.depthmask_name == evil.spec
    evil.marker.unlink()

    # The same file and spec on the command line: the user named it, so it loads and converts.
    out = tmp_path / "again.safetensors"
    result = runner.invoke(app, ["convert", str(evil_n), str(out), "--network", evil.spec])
    assert result.exit_code == 0, result.output
    assert evil.marker.read_text() == "called"
    assert read_config(out)["network"] == evil.spec


def test_convert_refuses_a_factory_the_checkpoint_names(tmp_path: Path, evil: Evil, evil_n: Path) -> None:
    result = runner.invoke(app, ["convert", str(evil_n), str(tmp_path / "out.safetensors")])
    _refused(result, evil_n, evil.spec, "--network")
    assert not evil.marker.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_export_refuses_a_factory_the_checkpoint_names(
    tmp_path: Path, evil: Evil, evil_n: Path, tiny_g: Path
) -> None:
    out = tmp_path / "m.onnx"
    args = ["export", "--checkpoint-n", str(evil_n), "--checkpoint-g", str(tiny_g)]
    result = runner.invoke(app, [*args, "--size", "64x96", "--no-check", "-o", str(out)])
    _refused(result, evil_n, evil.spec, "--depth-net")
    assert not evil.marker.exists()
    assert not out.exists()


def test_eval_refuses_a_factory_named_by_n_or_by_gs_record(
    tmp_path: Path, evil: Evil, evil_n: Path, tiny_g: Path
) -> None:
    common = ["eval", "-d", "synthetic:frames=2", "--size", "64x96", "--device", "cpu"]
    result = runner.invoke(app, [*common, "--depth-checkpoint", str(evil_n), "-o", str(tmp_path / "e1")])
    _refused(result, evil_n, evil.spec, "--depth-network")

    # A G that records its N as evil.py:build (with N's weights beside it): eval takes N from that record.
    plain_n = tmp_path / "plain_n.safetensors"
    save_file(create_model("hu2019_tiny").state_dict(), str(plain_n))
    g = create_model("mask_drn_tiny")
    extra = {"lambda": 5.0, "depth_network": evil.spec, "depth_checkpoint": str(plain_n)}
    g_rec = save_checkpoint(g, tmp_path / "g_rec.safetensors", **extra)
    result = runner.invoke(app, [*common, "-m", str(g_rec), "-o", str(tmp_path / "e2")])
    _refused(result, g_rec, evil.spec, "--depth-network")
    assert not evil.marker.exists()


def test_train_mask_refuses_a_factory_the_n_checkpoint_names(
    tmp_path: Path, evil: Evil, evil_n: Path
) -> None:
    args = ["train", "mask", "-d", "synthetic:frames=4", "-n", "mask_drn_tiny", "--depth-checkpoint"]
    more = ["--size", "32x48", "--device", "cpu", "--workers", "0", "-o", str(tmp_path / "run")]
    result = runner.invoke(app, [*args, str(evil_n), *more])
    _refused(result, evil_n, evil.spec, "--depth-network")
    assert not evil.marker.exists()


def test_info_describes_a_factory_checkpoint_without_importing_it(
    evil: Evil, evil_n: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import depthmask.cli.info

    monkeypatch.setattr(depthmask.cli.info.console, "width", 400)  # long tmp paths stay on one line
    result = runner.invoke(app, ["info", str(evil_n)])
    assert result.exit_code == 0, result.output
    assert evil.spec in result.output and "imports it only when you name it" in result.output
    assert not evil.marker.exists()


def _metadata(evil: Evil, n: Path, g: Path) -> dict[str, Any]:
    """Valid audit-mode metadata at SIZE whose depth net record names evil.py:build."""
    depth = {**provenance_of(load_network("hu2019_tiny", n)).to_dict(), "name": evil.spec}
    mask = provenance_of(load_network(None, g)).to_dict()
    return build_metadata(
        mode="audit",
        height=SIZE[0],
        width=SIZE[1],
        channel_order="bgr",
        batch=None,
        depth_size=(SIZE[0] // 2, SIZE[1] // 2),
        depth_net=depth,
        mask_net=mask,
        epsilon=0.025,
        far_fraction=0.2,
        opset=18,
        precision="fp32",
        gflop_per_frame=0.1,
        exporter="test",
    )


def test_metadata_naming_a_factory_is_refused_unless_the_user_names_it(
    tmp_path: Path, evil: Evil, evil_n: Path, tiny_g: Path
) -> None:
    meta = _metadata(evil, evil_n, tiny_g)
    with pytest.raises(ContractError) as info:
        graph_from_metadata(meta, artefact=tmp_path / "m.onnx")  # the torch backend's call, plus the name
    assert "m.onnx's metadata" in str(info.value) and evil.spec in str(info.value)
    with pytest.raises(ContractError, match="records the depth net"):
        graph_from_metadata(meta, depth_net="hu2019_tiny")
    assert not evil.marker.exists()

    graph = graph_from_metadata(meta, depth_net=evil.spec)  # `depthmask run/check --depth-net evil.py:build`
    assert evil.marker.read_text() == "called"
    assert graph.depth_net.depthmask_name == evil.spec


def test_check_and_the_torch_backend_refuse_a_sidecar_naming_a_factory(
    tmp_path: Path, evil: Evil, evil_n: Path, tiny_g: Path
) -> None:
    from depthmask.runtime.backends.torch import TorchBackend

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not read: the reference is rebuilt first")
    sidecar = engine_metadata(
        _metadata(evil, evil_n, tiny_g),
        tensorrt_version="10.0",
        gpu="test",
        batch_profile=(1, 2, 4),
        precision="fp32",
        builder_flags=[],
    )
    write_sidecar(engine, sidecar)
    result = runner.invoke(app, ["check", str(engine)])
    _refused(result, engine, evil.spec, "--depth-net")
    with pytest.raises(ContractError, match="not registered"):
        TorchBackend(engine).load()
    assert not evil.marker.exists()


def test_resume_never_builds_the_network_a_training_state_names(tmp_path: Path, evil: Evil) -> None:
    run = tmp_path / "run"
    saved = DepthTrainConfig(network=evil.spec, data="synthetic:frames=4", out=run).to_dict()
    state = {
        "config": saved,
        "model": {},
        "optimizer": {},
        "scheduler": {},
        "scaler": {},
        "step": 1,
        "epoch": 0,
        "batch": 1,
        "rng": [],
    }
    path = save_state(run / "last.state.pt", state)
    assert load_state(path)["config"]["network"] == evil.spec  # read as data only
    args = ["train", "depth", "-d", "synthetic:frames=4", "-n", "hu2019_tiny", "--size", "32x48"]
    more = ["--device", "cpu", "--workers", "0", "-o", str(run), "--resume", str(path)]
    result = runner.invoke(app, [*args, *more])
    _refused(result, "--resume", evil.spec)
    assert not evil.marker.exists()


# -- checkpoints that cannot be read ------------------------------------------------------------------


def _raw_safetensors(path: Path, header: bytes, data: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


def _with_config(path: Path, config: Any) -> Path:
    """hu2019_tiny's weights under a header config (a JSON-encodable value, or raw text as str)."""
    text = config if isinstance(config, str) else json.dumps(config)
    save_file(create_model("hu2019_tiny").state_dict(), str(path), metadata={"depthmask": text})
    return path


def _truncated(path: Path) -> Path:
    whole = save_checkpoint(create_model("hu2019_tiny"), path.with_name("whole.safetensors")).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _bytes(data: bytes) -> Any:
    def write(path: Path) -> Path:
        path.write_bytes(data)
        return path

    return write


def _config(config: Any) -> Any:
    return lambda path: _with_config(path, config)


def _header(header: bytes, data: bytes = b"", length: int | None = None) -> Any:
    def write(path: Path) -> Path:
        n = len(header) if length is None else length
        path.write_bytes(struct.pack("<Q", n) + header + data)
        return path

    return write


TENSOR_16_BYTES = b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}'
# name → (how to write the file, what the message says)
MALFORMED: dict[str, tuple[Any, str]] = {
    "config not JSON": (_config("{not json"), "is not JSON"),
    "config a JSON list": (_config([1, 2]), "is a JSON list"),
    "network missing": (_config({"format": FORMAT}), "'network' is missing"),
    "network 123": (_config({"format": FORMAT, "network": 123}), "'network' is 123"),
    "network empty": (_config({"format": FORMAT, "network": ""}), "'network' is ''"),
    "kwargs a string": (
        _config({"format": FORMAT, "network": "hu2019_tiny", "kwargs": "mff_width=4"}),
        "'kwargs' is 'mff_width=4'",
    ),
    "kwargs an object value": (
        _config({"format": FORMAT, "network": "hu2019_tiny", "kwargs": {"mff_width": {"a": 1}}}),
        "'kwargs' is",
    ),
    "lambda not finite": (
        _config({"format": FORMAT, "network": "hu2019_tiny", "lambda": float("inf")}),
        "'lambda' is inf",
    ),
    "lambda a string": (_config({"format": FORMAT, "network": "hu2019_tiny", "lambda": "5"}), "'lambda'"),
    "format foreign": (_config({"format": "other/9", "network": "hu2019_tiny"}), "'format' is 'other/9'"),
    "format missing": (_config({"network": "hu2019_tiny"}), "'format' is missing"),
    "input_size wrong": (
        _config({"format": FORMAT, "network": "hu2019_tiny", "input_size": "64x96"}),
        "'input_size'",
    ),
    "garbage": (_bytes(b"\x13\x37 this is not a checkpoint " * 4), "header length"),
    "truncated": (_truncated, "truncated"),
    "too short": (_bytes(b"\x01\x02"), "too short"),
    "empty": (_bytes(b""), "too short"),
    "header length past the end": (_header(b"{}", length=1 << 20), "header length says 1,048,576"),
    "header not UTF-8": (_header(b'{"\xff\xfe": 1}'), "not UTF-8"),
    "header not JSON": (_header(b"{nope"), "is not JSON"),
    "header a JSON list": (_header(b"[1, 2]"), "is a JSON list"),
    "metadata not strings": (_header(b'{"__metadata__": {"depthmask": 5}}'), "'__metadata__'"),
    "tensor entry wrong": (_header(b'{"w": {"dtype": "F32", "shape": "4"}}'), "header entry 'w'"),
    "tensor past the end": (_header(TENSOR_16_BYTES, b"\0" * 8), "truncated"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_checkpoint_is_one_checkpoint_error(tmp_path: Path, case: str) -> None:
    write, expected = MALFORMED[case]
    path = write(tmp_path / "bad.safetensors")
    for call in (lambda: load_network(None, path), lambda: load_network("hu2019_tiny", path)):
        with pytest.raises(CheckpointError) as info:
            call()
        message = str(info.value)
        assert str(path) in message and expected in message, message
        assert "\n" not in message


@pytest.mark.parametrize(
    "case", ["config not JSON", "network 123", "kwargs a string", "garbage", "truncated"]
)
def test_malformed_checkpoint_through_the_cli(tmp_path: Path, case: str) -> None:
    write, expected = MALFORMED[case]
    path = write(tmp_path / "bad.safetensors")
    for args in (["convert", str(path), str(tmp_path / "out.safetensors")], ["info", str(path)]):
        result = runner.invoke(app, args)
        _refused(result, path, expected)


def test_a_foreign_file_without_the_suffix_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "model_resnet"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(CheckpointError, match="neither a PyTorch file"):
        load_network(None, path)
    _refused(runner.invoke(app, ["info", str(path)]), path, "neither a PyTorch file")


def test_a_recorded_kwarg_the_network_does_not_take_is_a_config_error(tmp_path: Path) -> None:
    path = _with_config(
        tmp_path / "n.safetensors", {"format": FORMAT, "network": "hu2019_tiny", "kwargs": {"depth": 3}}
    )
    with pytest.raises(ConfigError) as info:
        load_network(None, path)
    assert str(path) in str(info.value) and "does not take these settings: 'depth'" in str(info.value)
    assert "mff_width" in str(info.value)  # what it does take
    _refused(runner.invoke(app, ["convert", str(path), str(tmp_path / "o.safetensors")]), path, "'depth'")


# -- torch pickles ------------------------------------------------------------------------------------


class Opaque:
    """Any object of a class: pickled by reference to this module, which weights_only refuses."""


def _touch(path: str) -> None:
    Path(path).write_text("unpickled")


class Trap:
    """Unpickling this would call `_touch` (code run by loading a file); weights_only must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _touch, (str(self.marker),)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_with_python_objects_is_refused_in_one_line(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "model_resnet"
    payload = {"x": Opaque(), "w": torch.zeros(1), "trap": Trap(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    state = tmp_path / "last.state.pt"
    torch.save({"format": STATE_FORMAT, "config": {}, "trap": Trap(marker)}, state)
    for call in (
        lambda: read_authors_file(path),
        lambda: load_network("hu2019_tiny", path),
        lambda: load_state(state),
    ):
        with pytest.raises(CheckpointError) as info:
            call()
        message = str(info.value)
        assert "holds Python objects besides tensors" in message
        assert "weights_only" not in message and "\n" not in message
    result = runner.invoke(app, ["convert", str(path), str(tmp_path / "o.safetensors")])
    _refused(result, path, "Python objects besides tensors")
    assert "weights_only" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated zip", "truncated legacy", "empty", "plain pickle"])
def test_a_damaged_torch_file_is_one_line(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "model_resnet"
    state = create_model("hu2019_tiny").state_dict()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "plain pickle":
        import pickle

        path.write_bytes(pickle.dumps([1, 2], protocol=4))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=damage == "truncated zip")
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for call in (lambda: read_authors_file(path), lambda: load_state(path)):
        with pytest.raises(CheckpointError) as info:
            call()
        message = str(info.value)
        assert str(path) in message and "\n" not in message and "weights_only" not in message
    _refused(runner.invoke(app, ["info", str(path)]), path)


def test_a_training_state_with_wrong_entries_is_one_line(tmp_path: Path) -> None:
    good = DepthTrainConfig(network="hu2019_tiny", data="synthetic:frames=4").to_dict()
    path = save_state(tmp_path / "last.state.pt", {"config": good, "step": "three"})
    with pytest.raises(CheckpointError, match=r"entry 'model' is missing"):
        load_state(path)
    bad_config = {**good, "input_size": "abc"}
    entries = {"model": {}, "optimizer": {}, "scheduler": {}, "scaler": {}, "step": 1, "epoch": 0}
    path = save_state(tmp_path / "other.state.pt", {"config": bad_config, **entries, "batch": 0, "rng": []})
    with pytest.raises(CheckpointError, match="saved config"):
        load_state(path)


def test_errors_are_depthmask_errors() -> None:
    # The CLI turns exactly these into one line; the refusals above are all of them.
    assert all(issubclass(e, DepthmaskError) for e in (CheckpointError, ConfigError, ContractError))
