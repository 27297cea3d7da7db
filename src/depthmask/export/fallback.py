"""`export --precision fp16|int8 --fallback auto`: a reduced-precision artefact that fails the fidelity
gate is repaired by keeping the layers responsible in fp32, found by measuring (not guessed).

1. int8 only: each calibration method (min-max, percentile, entropy) calibrates once on the user's
   frames; the one whose fully quantized graph is most faithful is kept (ties: the first, min-max).
2. The nodes the precision changes (int8: the quantized convolutions and matmuls; fp16: every node
   outside the fp32 island), in graph order, are cut into at most `BLOCKS` contiguous blocks.
3. Sensitivity: each block alone at the low precision (the rest fp32), measured in the depth/mask
   metrics the gate uses (abs_rel of N(I) and N(I ⊗ M), the mask's IoU), not max-abs, on two sets of
   frames the calibration did not see: the held-out frames of the user's source and the frames
   `--backend auto` probes on (rendered at footage's size, fitted as the pipeline fits it). A trial
   counts its worse set: measured, percentile ranges fitted to one source's frames were 1.02 % on that
   source's other frames and 1.20 % on the probe's (min-max: 1.16 %, 1.13 %), so one set chose a
   calibration, and blocks, that the other refused.
4. The blocks are kept in fp32 in the order of what each buys per FLOP it gives back: sensitivity²
   (block errors add roughly in quadrature) over the block's GFLOP (`keep_order`), so a cheap block that
   matters goes before a dear one that matters a little more; a bisection over how many finds the fewest
   that pass the gate with `HEADROOM` to spare (a gate met exactly on a few frames is missed on others).
Reported: the nodes kept, the fidelity (each set's and the worse) and the backend's frames/s before
and after, and the trials.
Each trial builds the artefact and runs it on the backend it is meant for (`--fallback-backend`): ONNX
Runtime (CPU), the runtime's own, by default, or OpenVINO, whose CPU plugin quantizes a graph with some
layers left in float its own way (measured on resnet50 + G at 228×304, the first half of the quantizable
layers in int8 and the rest float: 0.90 % abs_rel on ONNX Runtime, 1.18 % on OpenVINO's AVX2 kernels),
so a mix that passes on one can miss on the other. The reference is the fp32 export on ONNX Runtime, as
for `--backend auto`.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.fidelity import Fidelity, FidelityGate
from depthmask.errors import ConfigError
from depthmask.export.config import CALIBRATION_METHODS, FALLBACK_BACKENDS
from depthmask.settings import check_choice

DEFAULT_METHOD = "minmax"  # what --precision int8 calibrates with unless told

log = logging.getLogger(__name__)

BLOCKS = 12  # contiguous blocks the search tells apart: 12 sensitivity trials, then ~4 for the count
SPEED_SECONDS = 3.0  # each artefact's frames/s is measured for at least this long (after a warm-up)
SPEED_ITERATIONS = 5  # and at least this many frames
CHECK_FRAMES = 16  # held-out frames the trials are measured on (at least): 8 were too few to hold elsewhere
HELD_OUT, PROBE = "held_out", "auto_probe"  # the two sets of frames a trial is measured on
# The search aims this far inside the gate on both sets: a gate met with no margin on a few frames is
# missed on others (measured when it searched on its own source alone: 0.88 % on its 8 frames, 1.29 % on
# the probe's), and the bench's fidelity frames are a third set neither saw.
HEADROOM = 0.7
# A block without convolutions still costs something in fp32 (casts, memory traffic): this share of the
# mean block's GFLOP.
FLOOR = 0.01


Measured = tuple[Fidelity, dict[str, Fidelity]]  # (the worse of the sets, each set's)


@dataclass
class Trial:
    """One artefact tried: what was kept in fp32 and how faithful it was (on the worse set of frames)."""

    what: str
    kept_nodes: int
    abs_rel: float
    mask_iou: float
    passed: bool


@dataclass
class FallbackReport:
    """What `--fallback auto` did, for the metadata and the terminal."""

    precision: str
    gate: dict[str, float]
    method: str | None
    backend: str  # what the trials ran on (and the frames/s are of)
    before: dict[str, Any]  # the artefact without the fallback (int8: min-max ranges): fidelity, frames/s
    after: dict[str, Any]  # the artefact written
    kept_fp32: list[str] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)  # per block: nodes and sensitivity
    trials: list[Trial] = field(default_factory=list)
    gflop: dict[str, float] = field(default_factory=dict)  # per frame: the candidates', those kept fp32
    frames: dict[str, int] = field(default_factory=dict)  # how many frames of each set it measured on
    fp32_fps: float | None = None
    passed: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the artefact's metadata `fallback`)."""
        return asdict(self)


def blocks_of(nodes: Sequence[str], count: int = BLOCKS) -> list[list[str]]:
    """`nodes` cut into at most `count` contiguous blocks of near-equal size (order kept)."""
    if not nodes:
        return []
    count = max(1, min(count, len(nodes)))
    edges = np.linspace(0, len(nodes), count + 1).round().astype(int)
    return [list(nodes[a:b]) for a, b in itertools.pairwise(edges) if b > a]


def keep_order(sensitivity: Sequence[float], gflop: Sequence[float]) -> list[int]:
    """The blocks' indices in the order they are kept in fp32: most error removed per GFLOP first
    (sensitivity² / GFLOP; a block with next to no FLOPs costs `FLOOR` of the mean, not nothing)."""
    floor = FLOOR * max(float(np.mean(gflop)) if len(gflop) else 0.0, 1e-9)
    return sorted(range(len(sensitivity)), key=lambda k: -(sensitivity[k] ** 2) / max(gflop[k], floor))


def fewest_passing(order: Sequence[int], passes: Callable[[int], bool]) -> int | None:
    """The smallest n such that keeping the first n of `order` in fp32 passes (`passes(n)`), by
    bisection (assumes keeping more never hurts); None when even all of them fail."""
    lo, hi = 0, len(order)  # passes(lo - 1) is False by construction; passes(hi) is checked first
    if not passes(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if passes(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Measure:
    """Runs artefacts on `backend` against the fp32 export's outputs (ONNX Runtime's) on the same
    frames, set by set."""

    def __init__(
        self,
        fp32: Path,
        sets: Mapping[str, np.ndarray],
        gate: FidelityGate,
        threads: int | None,
        backend: str = "onnxruntime",
    ) -> None:
        check_choice("--fallback-backend", backend, FALLBACK_BACKENDS)
        self.sets, self.gate, self.threads, self.backend = dict(sets), gate, threads, backend
        self.frames = next(iter(self.sets.values()))  # the speed is measured on the first set's frames
        self.reference = self.outputs(fp32, "onnxruntime")

    def _open(self, path: Path, backend: str | None = None) -> Any:
        from depthmask.runtime.backends import create_backend

        return create_backend(backend or self.backend, path, threads=self.threads)

    def outputs(self, path: Path, backend: str | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Each set's outputs by name, from one session of `backend` (default: the trials' own)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        with self._open(path, backend) as runner:
            for name, frames in self.sets.items():
                parts = [runner.infer(frames[i : i + 4]) for i in range(0, len(frames), 4)]
                out[name] = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return out

    def fidelity(self, path: Path) -> Measured:
        """(the worse of the sets: the larger abs_rel, the smaller IoU, passing only where all pass;
        each set's)."""
        got = self.outputs(path)
        each = {name: self.gate.measure(self.reference[name], got[name]) for name in self.sets}
        worst = Fidelity(
            float(np.max([f.abs_rel for f in each.values()])),  # np.max: a NaN stays NaN
            float(np.min([f.mask_iou for f in each.values()])),
            all(f.passed for f in each.values()),
        )
        return worst, each

    def speed(self, path: Path) -> float:
        """The backend's frames/s at batch 1 on this machine (a warm-up, then at least `SPEED_ITERATIONS`
        frames and `SPEED_SECONDS`)."""
        with self._open(path) as backend:
            frame = self.frames[:1]
            backend.infer(frame)
            done, t0 = 0, time.perf_counter()
            while done < SPEED_ITERATIONS or time.perf_counter() - t0 < SPEED_SECONDS:
                backend.infer(frame)
                done += 1
            return round(done / (time.perf_counter() - t0), 3)


def _excess(f: Fidelity, gate: FidelityGate) -> float:
    """How far outside the gate (1: on its edge; more is worse), the worse of depth and mask."""
    return max(f.abs_rel / gate.max_abs_rel, (1 - f.mask_iou) / max(1 - gate.min_iou, 1e-9))


def record_fallback(path: Path, report: dict[str, Any]) -> None:
    """Add the fallback's report to an ONNX artefact's metadata (`fallback`), in place."""
    import onnx

    from depthmask.contract.metadata import onnx_metadata, set_onnx_metadata
    from depthmask.export.onnx import save_onnx

    model = onnx.load(str(path))
    set_onnx_metadata(model, {**onnx_metadata(model), "fallback": report})
    save_onnx(model, path)


def _summary(measured: Measured, gate: FidelityGate) -> dict[str, Any]:
    """Fidelity as reported: the worse set's and each set's, judged by the gate itself (the search aimed
    inside it); fps filled in later."""
    f, each = measured
    return {
        "abs_rel": round(f.abs_rel, 5), "mask_iou": round(f.mask_iou, 4),
        "passed": gate.admits(f.abs_rel, f.mask_iou), "within_headroom": f.passed, "fps": None,
        "sets": {
            name: {"abs_rel": round(g.abs_rel, 5), "mask_iou": round(g.mask_iou, 4)}
            for name, g in each.items()
        },
    }  # fmt: skip


def with_fallback(
    precision: str,
    fp32: Path,
    dst: Path,
    *,
    calibration: Sequence[np.ndarray] | None,
    check: np.ndarray,
    gate: FidelityGate,
    calibration_source: str | None = None,
    symmetric: bool = False,
    threads: int | None = None,
    headroom: float = HEADROOM,
    backend: str = "onnxruntime",
) -> tuple[Path, FallbackReport]:
    """Write the `precision` artefact of `fp32` to `dst`, keeping in fp32 the fewest blocks of layers
    that bring it within `gate` tightened by `headroom` (abs_rel × headroom, 1 − IoU × headroom) on the
    held-out `check` frames and on the frames `--backend auto` probes on (see the module's doc); the
    report judges the result by `gate` itself. Trials run on `backend` (one of `FALLBACK_BACKENDS`).
    When even every block in fp32 fails, the fully reduced artefact is written and the report says it
    did not pass."""
    from depthmask.export.cost import flops_by_node
    from depthmask.export.precision import Int8Recipe, fp16_candidates, fp16_from_onnx, load_named
    from depthmask.runtime.auto import probe_frames

    if precision not in ("fp16", "int8"):
        raise ConfigError(f"--fallback auto repairs fp16 and int8 exports; --precision is {precision}")
    if len(check) < 1:
        raise ConfigError("--fallback auto needs frames to measure on (--check-frames ≥ 1)")
    if not 0 < headroom <= 1:
        raise ConfigError(f"the fallback's headroom must be in (0, 1], got {headroom}")
    t_start = time.perf_counter()
    target = FidelityGate(gate.max_abs_rel * headroom, 1 - (1 - gate.min_iou) * headroom)
    sets = {HELD_OUT: check, PROBE: probe_frames(*check.shape[1:3])}
    measure = _Measure(fp32, sets, target, threads, backend)
    with tempfile.TemporaryDirectory(prefix="depthmask-fallback-") as tmp:
        workdir = Path(tmp)
        trial_path = workdir / "trial.onnx"
        method: str | None = DEFAULT_METHOD if precision == "int8" else None
        if precision == "int8":
            assert calibration is not None
            recipe = Int8Recipe(
                fp32, calibration, workdir, calibration_source=calibration_source, symmetric=symmetric
            )
            candidates, graph = recipe.quantizable(), recipe.prepared

            def build(keep: Sequence[str], out: Path, how: str | None = None) -> Path:
                return recipe.quantize(out, method=how or method or DEFAULT_METHOD, keep_fp32=keep)
        else:
            graph = load_named(fp32)  # the names fp16 blocks by
            candidates = fp16_candidates(graph)

            def build(keep: Sequence[str], out: Path, how: str | None = None) -> Path:
                return fp16_from_onnx(fp32, out, keep_fp32=keep)

        trials: list[Trial] = []

        def trial(what: str, keep: Sequence[str], how: str | None = None) -> Measured:
            measured = f, _ = measure.fidelity(build(keep, trial_path, how))
            trials.append(Trial(what, len(keep), round(f.abs_rel, 5), round(f.mask_iou, 4), f.passed))
            log.info("fallback trial %s: %s%s", what, f.describe(), " (passes)" if f.passed else "")
            return measured

        if precision == "int8":
            # `before` is what --precision int8 writes without the fallback (min-max ranges); the search
            # starts from the most faithful calibration.
            tried = {
                name: trial(f"calibration {name}, all quantized", [], name) for name in CALIBRATION_METHODS
            }
            before = tried[DEFAULT_METHOD]
            method = min(CALIBRATION_METHODS, key=lambda name: _excess(tried[name][0], target))
            start = tried[method]
        else:
            before = start = trial("all reduced", [])
        blocks = blocks_of(candidates)
        node_cost = flops_by_node(graph)
        gflop = [sum(node_cost.get(n, 0.0) for n in b) / 1e9 for b in blocks]
        del graph  # fp16: the copy loaded for its names and shapes is not needed again
        sensitivity: list[float] = []
        kept: list[str] = []
        kept_blocks: list[int] = []
        after = start
        if not start[0].passed and blocks:
            for k in range(len(blocks)):
                alone = [n for b in blocks[:k] + blocks[k + 1 :] for n in b]  # every other block kept
                sensitivity.append(_excess(trial(f"block {k + 1} of {len(blocks)} alone", alone)[0], target))
            order = keep_order(sensitivity, gflop)
            results: dict[int, Measured] = {}

            def passes(n: int) -> bool:
                if n not in results:
                    keep = [node for k in order[:n] for node in blocks[k]]
                    results[n] = trial(f"the first {n} blocks of the keep order in fp32", keep)
                return results[n][0].passed

            n = fewest_passing(order, passes)
            if n is not None:
                kept_blocks, after = sorted(order[:n]), results[n]
                kept = [node for k in kept_blocks for node in blocks[k]]
        report = FallbackReport(
            precision=precision,
            gate={"max_abs_rel": gate.max_abs_rel, "min_iou": gate.min_iou, "headroom": headroom},
            method=method,
            backend=backend,
            before=_summary(before, gate),
            after=_summary(after, gate),
            kept_fp32=kept,
            blocks=[
                {
                    "nodes": len(b),
                    "first": b[0],
                    "last": b[-1],
                    "gflop": round(gflop[k], 3),
                    "sensitivity": round(sensitivity[k], 4) if sensitivity else None,
                    "kept": k in kept_blocks,
                }
                for k, b in enumerate(blocks)
            ],
            trials=trials,
            gflop={
                "candidates": round(sum(gflop), 3),
                "kept_fp32": round(sum(gflop[k] for k in kept_blocks), 3),
            },
            frames={name: len(frames) for name, frames in sets.items()},
            passed=gate.admits(after[0].abs_rel, after[0].mask_iou),
        )
        report.before["fps"] = measure.speed(build([], workdir / "reduced.onnx", DEFAULT_METHOD))
        report.fp32_fps = measure.speed(fp32)
        build(kept, dst)
        report.after["fps"] = measure.speed(dst)
        report.seconds = round(time.perf_counter() - t_start, 1)
    record_fallback(dst, report.to_dict())  # the artefact's metadata says what was kept and why
    return dst, report
