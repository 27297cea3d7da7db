"""Parity as a feature: the same frames through the PyTorch reference and an exported artefact, compared
in the units that matter (depth error in metres and relative, mask overlap), not only max-abs.

`validate(reference, candidate, frames)` backs `depthmask check`, `depthmask export --check` and the
tests. Candidates are anything with `infer(uint8 frames) -> {name: array}`: the runtime's ONNX Runtime
and TensorRT backends (`runner_for(path)` picks by suffix) or the torch backend (`torch_reference`).

Tolerances per precision (TOLERANCES):
- fp32: every output's max-abs error ≤ 1e-4 × max(1, max |reference|) (1e-4 absolute for the mask,
  the stats and depth under 1 m).
- fp16: depth abs_rel ≤ 1 %, δ1 ≥ 0.999, mask IoU (M > ε) ≥ 0.97, |Δ mask_mean| ≤ 0.005.
- int8: depth abs_rel ≤ 10 %, δ1 ≥ 0.95, mask IoU ≥ 0.90, |Δ mask_mean| ≤ 0.02. Post-training int8
  moves every activation by up to half a quantization step; these bounds catch a broken quantization
  (bad calibration frames, a quantized statistic, a wrong input range), they are not accuracy claims:
  measure accuracy against ground truth with `depthmask eval`.
Depth metrics compare candidate d with reference r over pixels where r > 1 mm: abs_rel = mean |d − r|/r,
rmse = sqrt(mean (d − r)²), δ1 = fraction with max(d/r, r/d) < 1.25; when fewer than half the reference
pixels are > 1 mm (an untrained N), max-abs / max |reference| is held to the abs_rel limit instead. Stats
columns are reported
per column (max-abs) and gated only under fp32, each against its own scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from depthmask.contract.constants import EPSILON
from depthmask.contract.fidelity import DEPTH_OUTPUTS, compare_depth, mask_iou
from depthmask.errors import ContractError

MIN_VALID_DEPTH = 0.5  # depth metrics need the reference > 1 mm on at least half the pixels


class Runner(Protocol):
    """What validate needs from a model: uint8 frames [B, H, W, 3] in, float outputs by name out."""

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch."""


@dataclass(frozen=True)
class Tolerance:
    """Pass/fail limits of one precision (None: not gated)."""

    precision: str
    max_abs: float | None = None  # × max(1, max |reference|), every output
    depth_abs_rel: float | None = None
    depth_delta1: float | None = None
    mask_iou: float | None = None
    mask_mean_delta: float | None = None


TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance("fp32", max_abs=1e-4),
    "fp16": Tolerance("fp16", depth_abs_rel=0.01, depth_delta1=0.999, mask_iou=0.97, mask_mean_delta=0.005),
    "int8": Tolerance("int8", depth_abs_rel=0.10, depth_delta1=0.95, mask_iou=0.90, mask_mean_delta=0.02),
}


@dataclass(frozen=True)
class OutputParity:
    """Errors of one output against the reference; depth and mask metrics where they apply."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float
    scale: float  # max |reference|
    abs_rel: float | None = None
    rmse: float | None = None
    delta1: float | None = None
    valid_fraction: float | None = None  # depth pixels where the reference is > 1 mm
    iou: float | None = None
    mask_mean_delta: float | None = None
    columns: dict[str, float] = field(default_factory=dict)  # stats: max-abs per column
    column_scales: dict[str, float] = field(default_factory=dict)  # stats: max |reference| per column


@dataclass(frozen=True)
class Gate:
    """One pass/fail comparison: `value` against `limit` (≤ or ≥)."""

    what: str
    value: float
    limit: float
    at_least: bool = False

    @property
    def ok(self) -> bool:
        """True when within the limit (NaN never is)."""
        if math.isnan(self.value):
            return False
        return self.value >= self.limit if self.at_least else self.value <= self.limit


def output_named(outputs: Sequence[OutputParity], name: str) -> OutputParity:
    """The errors of output `name` among `outputs` (KeyError naming the ones there are)."""
    for o in outputs:
        if o.name == name:
            return o
    raise KeyError(f"no output {name!r}; have {[o.name for o in outputs]}")


@dataclass(frozen=True)
class ParityResult:
    """The outcome of one comparison: per-output errors, the gates applied and whether all passed."""

    reference: str
    candidate: str
    precision: str
    frames: int
    outputs: tuple[OutputParity, ...]
    gates: tuple[Gate, ...]

    @property
    def passed(self) -> bool:
        """True when every gate holds."""
        return all(g.ok for g in self.gates)

    @property
    def failures(self) -> list[Gate]:
        """The gates that do not hold."""
        return [g for g in self.gates if not g.ok]

    def output(self, name: str) -> OutputParity:
        """The parity of output `name`."""
        return output_named(self.outputs, name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result (gates with their verdicts)."""
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "precision": self.precision,
            "frames": self.frames,
            "passed": self.passed,
            "outputs": [asdict(o) for o in self.outputs],
            "gates": [{**asdict(g), "ok": g.ok} for g in self.gates],
        }


def torch_reference(graph: Any) -> Any:
    """The PyTorch AuditGraph as the fp32 reference: the runtime's torch backend itself, loaded (one torch
    runner for export, parity, bench and `depthmask run --backend torch`)."""
    from depthmask.runtime.backends.torch import TorchBackend

    backend = TorchBackend(None, graph=graph)
    backend.load()
    return backend


def runner_for(path: str | Path, **options: Any) -> Any:
    """The runtime backend that runs `path` (.onnx: ONNX Runtime on the CPU unless `providers` says;
    .engine: TensorRT), loaded. The hook through which TensorRT joins parity."""
    from depthmask.runtime.backends import create_backend

    path = Path(path)
    if path.suffix.lower() == ".onnx":
        options.setdefault("providers", ["cpu"])
    backend = create_backend(None, path, **options)
    backend.load()
    return backend


def _run(runner: Runner, frames: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    parts = [runner.infer(frames[i : i + batch]) for i in range(0, len(frames), batch)]
    return {k: np.concatenate([np.asarray(p[k], dtype=np.float32) for p in parts]) for k in parts[0]}


def compare_outputs(
    ref: Mapping[str, np.ndarray],
    got: Mapping[str, np.ndarray],
    *,
    stats_columns: Sequence[str] = (),
    epsilon: float = EPSILON,
) -> tuple[OutputParity, ...]:
    """Per-output errors of `got` against `ref` (same names, same shapes)."""
    if set(ref) != set(got):
        raise ContractError(f"the candidate returns {sorted(got)}, the reference {sorted(ref)}")
    out = []
    for name, r in ref.items():
        g = got[name]
        if g.shape != r.shape:
            raise ContractError(
                f"output {name!r}: candidate shape {list(g.shape)}, reference {list(r.shape)}"
            )
        diff = np.abs(g.astype(np.float64) - r.astype(np.float64))
        extra: dict[str, Any] = {}
        if name in DEPTH_OUTPUTS:
            extra = compare_depth(r, g)
        elif name == "mask":
            extra = {"iou": mask_iou(r, g, epsilon), "mask_mean_delta": float(g.mean() - r.mean())}
        elif name == "stats" and stats_columns:
            extra = {
                "columns": {c: float(diff[:, i].max()) for i, c in enumerate(stats_columns)},
                "column_scales": {c: float(np.abs(r[:, i]).max()) for i, c in enumerate(stats_columns)},
            }
        out.append(
            OutputParity(
                name=name,
                shape=tuple(r.shape),
                max_abs=float(diff.max()),
                mean_abs=float(diff.mean()),
                scale=float(np.abs(r).max()),
                **extra,
            )
        )
    return tuple(out)


def gates_for(outputs: Sequence[OutputParity], tol: Tolerance) -> tuple[Gate, ...]:
    """The checks `tol` applies to these outputs."""
    gates: list[Gate] = []
    for o in outputs:
        if tol.max_abs is not None:
            if o.name == "stats" and o.columns:
                gates += [
                    Gate(f"stats.{c} max-abs", v, tol.max_abs * max(1.0, o.column_scales.get(c, 1.0)))
                    for c, v in o.columns.items()
                ]
            else:
                gates.append(Gate(f"{o.name} max-abs", o.max_abs, tol.max_abs * max(1.0, o.scale)))
        if o.name in DEPTH_OUTPUTS and (o.valid_fraction or 0.0) < MIN_VALID_DEPTH:
            # Mostly ≤ 1 mm (an untrained N): relative depth metrics say nothing; bound the error by the
            # output's scale instead, at the abs_rel tolerance.
            if tol.depth_abs_rel is not None:
                gates.append(
                    Gate(f"{o.name} max-abs/scale", o.max_abs / max(o.scale, 1e-12), tol.depth_abs_rel)
                )
        elif o.name in DEPTH_OUTPUTS:
            if tol.depth_abs_rel is not None:
                gates.append(Gate(f"{o.name} abs_rel", _num(o.abs_rel), tol.depth_abs_rel))
            if tol.depth_delta1 is not None:
                gates.append(Gate(f"{o.name} δ1", _num(o.delta1), tol.depth_delta1, at_least=True))
        if o.name == "mask":
            if tol.mask_iou is not None:
                gates.append(Gate("mask IoU (M > ε)", _num(o.iou), tol.mask_iou, at_least=True))
            if tol.mask_mean_delta is not None:
                gates.append(Gate("|Δ mask_mean|", abs(_num(o.mask_mean_delta)), tol.mask_mean_delta))
    return tuple(gates)


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def validate(
    reference: Runner,
    candidate: Runner,
    frames: np.ndarray,
    *,
    precision: str = "fp32",
    batch: int = 4,
    stats_columns: Sequence[str] = (),
    epsilon: float = EPSILON,
    tolerance: Tolerance | None = None,
    reference_name: str = "torch fp32",
    candidate_name: str | None = None,
) -> ParityResult:
    """Run `frames` (uint8 [N, H, W, 3]) through both in batches of `batch` and compare every output."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ContractError(
            f"parity frames must be uint8 [N, H, W, 3]; got {frames.dtype} {list(frames.shape)}"
        )
    if precision not in TOLERANCES and tolerance is None:
        raise ContractError(f"no tolerance for precision {precision!r}; known: {', '.join(TOLERANCES)}")
    tol = tolerance or TOLERANCES[precision]
    ref = _run(reference, frames, batch)
    got = _run(candidate, frames, batch)
    outputs = compare_outputs(ref, got, stats_columns=stats_columns, epsilon=epsilon)
    name = candidate_name or str(
        getattr(candidate, "model", getattr(candidate, "name", type(candidate).__name__))
    )
    return ParityResult(
        reference=reference_name,
        candidate=name,
        precision=tol.precision,
        frames=len(frames),
        outputs=outputs,
        gates=gates_for(outputs, tol),
    )


def render(result: ParityResult) -> Any:
    """Two rich tables: per-output errors (stats per column), then each gate with its limit and ✓/✗."""
    from rich.console import Group
    from rich.table import Table

    verdict = "[bold green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
    errors = Table(
        title=f"parity {result.precision}: {result.candidate} vs {result.reference}, {result.frames} frames",
        title_justify="left",
    )
    # IoU of M > ε; Δmean = candidate − reference mask_mean
    for col in ("output", "max-abs", "mean-abs", "abs_rel", "rmse", "δ1", "IoU", "Δmean"):
        errors.add_column(col, justify="left" if col == "output" else "right", no_wrap=True)
    for o in result.outputs:
        errors.add_row(
            o.name,
            _fmt(o.max_abs),
            _fmt(o.mean_abs),
            _fmt(o.abs_rel),
            _fmt(o.rmse),
            _fmt(o.delta1, 4),
            _fmt(o.iou, 4),
            _fmt(o.mask_mean_delta),
        )
        for col, value in o.columns.items():
            errors.add_row(f" {col}", _fmt(value), style="dim")
    gates = Table(title=f"tolerances {result.precision}: {verdict}", title_justify="left")
    for col in ("", "check", "value", "limit"):
        gates.add_column(col, justify="right" if col in ("value", "limit") else "left", no_wrap=True)
    for g in result.gates:
        gates.add_row(
            "[green]✓[/]" if g.ok else "[red]✗[/]",
            g.what,
            _fmt(g.value),
            f"{'≥' if g.at_least else '≤'} {_fmt(g.limit)}",
        )
    return Group(errors, gates)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits + 1}f}"


def artefact_parity(
    graph: Any, artefact: str | Path, meta: Mapping[str, Any], frames: np.ndarray, *, batch: int
) -> ParityResult:
    """An exported file against its PyTorch graph (`AuditGraph`), at the precision and ε its metadata
    declares; the file's runner is closed afterwards."""
    runner = runner_for(artefact)
    try:
        return validate(
            torch_reference(graph),
            runner,
            frames,
            precision=meta["precision"],
            batch=batch,
            stats_columns=meta["stats_columns"],
            epsilon=meta["epsilon"],
            candidate_name=str(artefact),
        )
    finally:
        runner.close()
