"""`--backend auto`: the fastest path within the fidelity gate, probed once and cached per model and
machine. Candidates that stray from the reference or do not run are probe rows with their reason, never
the choice; the reference's numbers are those of the file as exported on ONNX Runtime."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import depthmask.runtime.auto as auto
from depthmask.errors import ConfigError
from depthmask.runtime.auto import Candidate, choose_backend
from depthmask.runtime.backends import BACKENDS
from depthmask.runtime.backends.onnxruntime import OnnxRuntimeBackend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import run


class Careless(OnnxRuntimeBackend):
    """Instant after its first call, and wrong: every output is a constant of the right shape."""

    name = "careless"
    shapes: dict[str, tuple[int, ...]] | None = None

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        if self.shapes is None:
            self.shapes = {k: v.shape[1:] for k, v in super().infer(frames).items()}
        b = frames.shape[0]
        return {k: np.full((b, *shape), 50.0, np.float32) for k, shape in self.shapes.items()}


class Broken(OnnxRuntimeBackend):
    name = "broken"

    def load(self) -> None:
        raise RuntimeError("this path has no kernels here")


class Slow(OnnxRuntimeBackend):
    """Faithful and slower than the reference: the same session, a pause per call."""

    name = "slow"

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        time.sleep(0.02)
        return super().infer(frames)


OPTIONS = [
    Candidate("onnxruntime", "onnxruntime", {"threads": 1}),
    Candidate("careless", "careless", {"threads": 1}),
    Candidate("broken", "broken", {"threads": 1}),
]


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BACKENDS, "careless", lambda model, **kw: Careless(model, **kw))
    monkeypatch.setitem(BACKENDS, "broken", lambda model, **kw: Broken(model, **kw))
    monkeypatch.setitem(BACKENDS, "slow", lambda model, **kw: Slow(model, **kw))


def test_a_fast_wrong_path_and_a_broken_one_are_rows_not_the_choice(
    fakes: None, audit_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    choice = choose_backend(audit_model, batch=2, cache=tmp_path, options=OPTIONS, seconds=0.1)
    probes = {p.label: p for p in choice.probes}
    assert choice.label == "onnxruntime" and choice.backend == "onnxruntime" and not choice.cached
    assert probes["onnxruntime"].passed and probes["onnxruntime"].abs_rel == 0.0
    careless = probes["careless"]
    assert not careless.passed and "outside the gate" in careless.reason
    assert careless.frames_per_s > probes["onnxruntime"].frames_per_s  # faster, and still not chosen
    assert not probes["broken"].passed and "no kernels here" in probes["broken"].reason
    # The second time nothing is probed: the cache answers.
    monkeypatch.setattr(auto, "create_backend", lambda *a, **k: pytest.fail("probed again"))
    again = choose_backend(audit_model, batch=2, cache=tmp_path, options=OPTIONS, seconds=0.1)
    assert again.cached and again.label == choice.label and [p.label for p in again.probes] == list(probes)
    stored = json.loads((tmp_path / auto.CACHE_FILE).read_text())
    assert len(stored) == 1 and '"batch": 2' in next(iter(stored))


def test_under_an_isa_cap_a_backend_that_ignores_it_is_measured_not_chosen(
    fakes: None, audit_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Emulating an AVX2 machine on a bigger one: ONNX Runtime's kernels ignore oneDNN's cap, so its
    speed is the full CPU's; the capped choice is another path within the gate, and the cache keeps
    the capped and the uncapped choice apart."""
    options = [OPTIONS[0], Candidate("slow", "slow", {"threads": 1})]
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    free = choose_backend(audit_model, cache=tmp_path, options=options, seconds=0.1)
    assert free.label == "onnxruntime"  # the faster of two faithful paths
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    capped = choose_backend(audit_model, cache=tmp_path, options=options, seconds=0.1)
    probes = {p.label: p for p in capped.probes}
    assert not capped.cached and capped.label == "slow"
    assert probes["onnxruntime"].frames_per_s > probes["slow"].frames_per_s  # faster, and not chosen
    assert "onnxruntime ignores ONEDNN_MAX_CPU_ISA=AVX2 set here" in probes["onnxruntime"].reason
    assert not probes["onnxruntime"].eligible and probes["slow"].eligible
    assert len(json.loads((tmp_path / auto.CACHE_FILE).read_text())) == 2
    # Nothing but the reference can run: it stays the choice, and says why its speed is not the cap's.
    alone = choose_backend(audit_model, cache=tmp_path, options=options[:1], seconds=0.05)
    assert alone.label == "onnxruntime" and "ignores" in alone.probes[0].reason


def test_another_batch_or_gate_is_probed_again(fakes: None, audit_model: Path, tmp_path: Path) -> None:
    first = choose_backend(audit_model, batch=1, cache=tmp_path, options=OPTIONS[:2], seconds=0.05)
    other = choose_backend(audit_model, batch=3, cache=tmp_path, options=OPTIONS[:2], seconds=0.05)
    loose = auto.Gate(max_abs_rel=1e9, min_iou=0.0)
    anything = choose_backend(
        audit_model, batch=1, cache=tmp_path, options=OPTIONS[:2], gate=loose, seconds=0.05
    )
    assert not first.cached and not other.cached and not anything.cached
    assert anything.label == "careless"  # within a gate that allows anything, the fastest wins
    assert len(json.loads((tmp_path / auto.CACHE_FILE).read_text())) == 3


def test_run_with_backend_auto_records_what_it_chose(
    audit_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(auto, "PROBE_SECONDS", 0.05)
    cfg = RunConfig(sources=("synthetic:frames=3,height=64,width=96",), model=audit_model, backend="auto",
                    out=tmp_path / "out", save=frozenset(), threads=1)  # fmt: skip
    summary = run(cfg)
    chosen: dict[str, Any] = summary["backend_auto"]
    assert chosen["label"] in [p["label"] for p in chosen["probes"]] and summary["counts"]["ok"] == 3
    assert summary["backend"]["backend"] == chosen["backend"]
    assert (tmp_path / "cache" / "depthmask" / auto.CACHE_FILE).is_file()
    with pytest.raises(ConfigError, match="--backend auto chooses"):
        run(
            RunConfig(
                sources=cfg.sources, model=audit_model, backend="auto", precision="bf16", out=tmp_path / "o2"
            )
        )


def test_an_engine_has_one_candidate() -> None:
    assert [c.backend for c in auto.candidates(Path("m.engine"))] == ["tensorrt"]
    labels = [c.label for c in auto.candidates(Path("m.onnx"), flags={"avx2"})]
    assert labels[0] == "onnxruntime" and "openvino bf16" not in labels
    if auto.module_available("openvino"):
        assert "openvino bf16" in [c.label for c in auto.candidates(Path("m.onnx"), flags={"amx_bf16"})]


def test_an_int8_variant_is_probed_from_its_own_file(audit_model: Path, tmp_path: Path) -> None:
    """An int8 export of the same nets (as `export --fallback auto` writes) takes part as its own file:
    measured against the fp32 reference, it differs from it (abs_rel > 0), which the fp32 file could not."""
    from depthmask.export.frames import frames_from_source
    from depthmask.export.precision import int8_from_onnx

    int8 = int8_from_onnx(audit_model, tmp_path / "m-int8.onnx", frames_from_source("synthetic:", 64, 96, 8))
    listed = auto.candidates(audit_model, variants={"int8": int8})
    by_label = {c.label: c for c in listed}
    assert (
        by_label["onnxruntime int8"].model == str(int8) and by_label["onnxruntime int8"].precision == "int8"
    )
    assert by_label["onnxruntime"].model is None
    own = [c.label for c in auto.candidates(int8)]  # an int8 file: its own int8 paths only
    assert own[0] == "onnxruntime" and all("fp32" not in label and "bf16" not in label for label in own)
    options = [
        Candidate("onnxruntime", "onnxruntime", {"threads": 1}),
        Candidate("onnxruntime int8", "onnxruntime", {"threads": 1}, model=str(int8), precision="int8"),
    ]
    loose = auto.Gate(max_abs_rel=1e9, min_iou=0.0)
    choice = choose_backend(audit_model, cache=tmp_path, options=options, gate=loose, seconds=0.05)
    probe = {p.label: p for p in choice.probes}["onnxruntime int8"]
    assert probe.passed and probe.abs_rel > 0.0
    if choice.label == "onnxruntime int8":
        assert choice.model == str(int8) and choice.precision == "int8"


def test_a_cached_choice_opens_no_session(
    audit_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default candidates are listed (which reads the file through an ONNX Runtime session) only when
    the cache has no answer; a changed variant file is another key."""
    first = choose_backend(audit_model, cache=tmp_path, seconds=0.05)
    listed: list[Path] = []
    real = auto.candidates
    monkeypatch.setattr(auto, "candidates", lambda model, **kw: listed.append(model) or real(model, **kw))
    again = choose_backend(audit_model, cache=tmp_path, seconds=0.05)
    assert again.cached and again.label == first.label and listed == []
    other = tmp_path / "other.onnx"
    other.write_bytes(audit_model.read_bytes())
    with_variant = choose_backend(audit_model, cache=tmp_path, seconds=0.05, variants={"int8": other})
    assert not with_variant.cached and listed == [audit_model]
