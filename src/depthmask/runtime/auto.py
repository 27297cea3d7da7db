"""`--backend auto`: for this model on this machine, the fastest backend × precision whose outputs stay
within the fidelity gate, from a short probe, cached per model and machine.

Candidates for an ONNX file: ONNX Runtime running it as exported (the reference: its outputs are what
the others are measured against), and where OpenVINO is installed, OpenVINO at fp32 and at bf16 or fp16
where the CPU has native kernels for them (AVX512_BF16 / AMX-BF16, AVX512_FP16 / AMX-FP16). An engine
has one candidate: TensorRT. Each candidate runs `PROBE_FRAMES` rendered frames at the run's batch size
for at least `PROBE_SECONDS` after a warm-up; it passes the gate when the masked depth's abs_rel against
the reference (the larger of N(I)'s and N(I ⊗ M)'s) is at most 1 % and the mask IoU at least 0.95
(`DEFAULT_GATE`, the bench's fast-path gate). The fastest that passes
wins. The choice is cached in the user's cache folder (`$XDG_CACHE_HOME/depthmask`, else
`~/.cache/depthmask`) under the model's sha256, the CPU, its flags, the batch, the threads and the
library versions, so a changed model, machine or library probes again.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.fidelity import FidelityGate
from depthmask.contract.hashing import sha256_of
from depthmask.environment import caps_ignored_by, fingerprint, isa_caps, native_precision
from depthmask.errors import ConfigError, DepthmaskError, module_available
from depthmask.runtime.backends import backend_name_for, create_backend
from depthmask.runtime.sinks.audit import write_json_atomic
from depthmask.sources import open_source
from depthmask.sources.fit import as_bgr, fit_frame

PROBE_FRAMES = 8
PROBE_SECONDS = 1.0
CACHE_FILE = "backend-auto.json"


Gate = FidelityGate  # the name the bench and the tests use
DEFAULT_GATE = FidelityGate()


@dataclass(frozen=True)
class Candidate:
    """One backend × precision: the backend's registry name and its constructor options; `model` names
    another artefact of the same networks (an int8 export of the fp32 file), None the model itself."""

    label: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    precision: str = "fp32"  # what it computes at (for % of peak)


@dataclass
class Probe:
    """What one candidate measured."""

    label: str
    frames_per_s: float | None = None
    abs_rel: float | None = None
    mask_iou: float | None = None
    passed: bool = False
    reason: str | None = None
    eligible: bool = True  # False: its backend ignores an ISA cap set here, so it is never the choice


@dataclass
class Choice:
    """The candidate picked, why, every probe, and whether it came from the cache."""

    label: str
    backend: str
    options: dict[str, Any]
    why: str
    probes: list[Probe]
    cached: bool = False
    model: str | None = None  # the artefact to run, when not the model asked for (see Candidate)
    precision: str = "fp32"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (summary.json, the cache)."""
        return asdict(self)


def candidates(
    model: Path, flags: set[str] | None = None, variants: dict[str, Path] | None = None
) -> list[Candidate]:
    """What can run `model` here, the reference (the file as exported, on ONNX Runtime) first. An int8
    file runs on ONNX Runtime and OpenVINO's int8 path; an fp32 one also on OpenVINO at fp32 and at the
    precisions this CPU has native kernels for. `variants` ({"int8": path}: an int8 export of the same
    networks, e.g. with `--fallback auto`) adds its int8 paths, measured against the reference."""
    name = backend_name_for(model)
    if name != "onnxruntime":
        return [Candidate(name, name)]
    own = _precision_of(model)
    out = [Candidate("onnxruntime", "onnxruntime", precision=own)]
    openvino = module_available("openvino")
    if own == "int8":
        return out + (
            [Candidate("openvino int8", "openvino", {"precision": "int8"}, precision="int8")]
            if openvino
            else []
        )
    if openvino:
        out.append(Candidate("openvino fp32", "openvino", {"precision": "fp32"}))
        for precision in ("bf16", "fp16"):
            if native_precision(precision, flags):
                out.append(
                    Candidate(
                        f"openvino {precision}", "openvino", {"precision": precision}, precision=precision
                    )
                )
    int8 = (variants or {}).get("int8")
    if int8 is not None:
        out.append(Candidate("onnxruntime int8", "onnxruntime", model=str(int8), precision="int8"))
        if openvino:
            out.append(
                Candidate(
                    "openvino int8", "openvino", {"precision": "int8"}, model=str(int8), precision="int8"
                )
            )
    return out


def _precision_of(model: Path) -> str:
    """An ONNX file's recorded precision, read through ONNX Runtime (the runtime needs no onnx package);
    fp32 when it cannot be read (the reference's load then says why)."""
    from depthmask.runtime.backends.onnxruntime import read_onnx_info

    try:
        return str(read_onnx_info(model).metadata.get("precision") or "fp32")
    except DepthmaskError:
        return "fp32"


def cache_dir() -> Path:
    """The user's cache folder for depthmask."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "depthmask"


def choose_backend(
    model: Path,
    batch: int = 1,
    threads: int | None = None,
    *,
    gate: Gate = DEFAULT_GATE,
    cache: Path | None = None,
    options: list[Candidate] | None = None,
    seconds: float = PROBE_SECONDS,
    variants: dict[str, Path] | None = None,
) -> Choice:
    """The fastest candidate within `gate` (from the cache when this model and machine were probed);
    `variants` as for `candidates`."""
    model = Path(model)
    if not model.is_file():
        raise ConfigError(f"--model {model}: no such file; export one with `depthmask export`")
    # The key is known before the candidates: listing them reads the file's metadata through an ONNX
    # Runtime session, start-up work a cached choice should not pay.
    key = _key(model, batch, threads, gate, options, variants)
    store = (cache or cache_dir()) / CACHE_FILE
    known = _read(store).get(key)
    if known is not None:
        known["probes"] = [Probe(**p) for p in known["probes"]]
        return Choice(**{**known, "cached": True})
    options = candidates(model, variants=variants) if options is None else options
    choice = _probe(model, batch, threads, gate, options, seconds)
    entries = _read(store)  # read again: another process (a fleet worker) may have added its own since
    entries[key] = choice.to_dict()
    with contextlib.suppress(OSError):  # a read-only home: the choice stands, it is only not remembered
        store.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(store, entries)
    return choice


def _key(
    model: Path,
    batch: int,
    threads: int | None,
    gate: Gate,
    options: list[Candidate] | None,
    variants: dict[str, Path] | None,
) -> str:
    """What a choice depends on. The default candidates follow from the file, the variants, the CPU's
    flags and the installed libraries, all in the key; candidates given by the caller are keyed as given."""
    env = fingerprint()
    parts = {
        "model": sha256_of(model), "cpu": env["cpu"], "flags": env["cpu_flags"], "batch": batch,
        "threads": threads or env["cores"], "libraries": env["libraries"], "gate": asdict(gate),
        "isa_caps": isa_caps(),  # this process's, not the cached fingerprint's
        "variants": {name: sha256_of(path) for name, path in sorted((variants or {}).items())},
        "candidates": None if options is None
        else [[c.label, c.backend, c.options, sha256_of(c.model) if c.model else None] for c in options],
    }  # fmt: skip
    return json.dumps(parts, sort_keys=True)


def _read(store: Path) -> dict[str, Any]:
    try:
        data = json.loads(store.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def probe_frames(height: int, width: int, count: int = PROBE_FRAMES) -> np.ndarray:
    """The frames the probe measures on: `count` rendered frames (the synthetic drive's own size, like
    footage) fitted to the model's input as the pipeline fits them. `export --fallback auto` measures on
    them too, so an artefact it writes is built to pass this probe."""
    source = open_source(f"synthetic:frames={count},seed=3")
    with source:
        return np.stack([fit_frame(as_bgr(f.image), height, width) for f in source])


def _measure(backend: Any, frames: np.ndarray, batch: int, seconds: float) -> tuple[dict, float]:
    """(outputs of every frame, frames/s) of a loaded backend: a warm-up call, then whole passes over
    the frames in batches until `seconds` have passed (at least one)."""
    chunks = [frames[i : i + batch] for i in range(0, len(frames), batch)]
    backend.infer(chunks[0])  # warm-up: compilation, allocation
    outputs: list[dict[str, np.ndarray]] = []
    done, t0 = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - t0 < seconds:
        outputs = [backend.infer(c) for c in chunks]
        done += len(frames)
    rate = done / (time.perf_counter() - t0)
    merged = {k: np.concatenate([np.asarray(o[k], dtype=np.float32) for o in outputs]) for k in outputs[0]}
    return merged, rate


def _probe(
    model: Path, batch: int, threads: int | None, gate: Gate, options: list[Candidate], seconds: float
) -> Choice:
    extra = {"threads": threads} if threads else {}
    frames: np.ndarray | None = None
    probes: list[Probe] = []
    ref_out: dict[str, np.ndarray] | None = None
    for c in options:
        probe = Probe(c.label)
        probes.append(probe)
        try:
            backend = create_backend(c.backend, Path(c.model) if c.model else model, **c.options, **extra)
            backend.load()
            try:
                if frames is None:  # the reference, loaded first, says the input size
                    frames = probe_frames(backend.info.height, backend.info.width)
                out, probe.frames_per_s = _measure(backend, frames, batch, seconds)
            finally:
                backend.close()
        except Exception as exc:  # a path that does not run here is a probe row, not the run's failure
            if ref_out is None:
                raise
            probe.reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            continue
        probe.frames_per_s = round(probe.frames_per_s, 3)
        if ref_out is None:
            ref_out, probe.abs_rel, probe.mask_iou, probe.passed = out, 0.0, 1.0, True
            probe.reason = (
                "the reference: the file as exported, on ONNX Runtime" if len(options) > 1 else None
            )
            continue
        fidelity = gate.measure(ref_out, out)
        probe.abs_rel, probe.mask_iou = round(fidelity.abs_rel, 5), round(fidelity.mask_iou, 4)
        probe.passed = fidelity.passed
        if not probe.passed:
            probe.reason = f"outside the gate ({gate.describe()}): {fidelity.describe()}"
    # Under an ISA cap (emulating a smaller CPU) a backend that ignores it is measured, never chosen:
    # its speed is the full machine's. The reference stays the fallback when nothing else can win.
    for p, c in zip(probes, options, strict=True):
        ignored = caps_ignored_by(c.backend)
        if ignored and p.frames_per_s is not None:
            held = ", ".join(f"{k}={v}" for k, v in ignored.items())
            note = f"{c.backend} ignores {held} set here: its speed is not the capped CPU's, not chosen"
            p.reason, p.eligible = (f"{p.reason}; {note}" if p.reason else note), False
    eligible = [p for p in probes if p.passed and p.eligible]
    best = max(eligible or probes[:1], key=lambda p: p.frames_per_s or 0.0)
    picked = next(c for c in options if c.label == best.label)
    base = probes[0].frames_per_s or 0.0
    speed = f"{best.frames_per_s:.1f} frames/s" + (
        f", {best.frames_per_s / base:.2f}× {probes[0].label}" if best is not probes[0] and base else ""
    )
    fidelity = (
        ""
        if best is probes[0]
        else f"; abs_rel {best.abs_rel:.2%}, mask IoU {best.mask_iou:.3f} within the gate"
    )
    why = f"{best.label}: the fastest of {len(probes)} probed at batch {batch} ({speed}{fidelity})"
    return Choice(
        best.label, picked.backend, dict(picked.options), why, probes, model=picked.model,
        precision=picked.precision,
    )  # fmt: skip
