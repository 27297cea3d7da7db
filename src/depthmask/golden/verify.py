"""`verify_golden`: run an artefact on the stored golden frames (no source re-read, no torch for .onnx or
.engine) and gate it: depth abs_rel of `depth` and `depth_masked` and mask IoU of M > ε — computed by
`depthmask.export.parity`, the rules of `depthmask check` — plus latency (p99 ms per batch, fps).

Max-abs differences of every output are reported for information, never gated.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from depthmask.contract.hashing import sha256_of
from depthmask.errors import ConfigError, ContractError
from depthmask.export.parity import (
    Gate,
    OutputParity,
    Tolerance,
    compare_outputs,
    gates_for,
    output_named,
)
from depthmask.golden.gate import GateLimits
from depthmask.golden.record import open_backend, read_golden
from depthmask.runtime.latency import summarize


@dataclass(frozen=True)
class VerifyConfig:
    """Every setting of `depthmask golden verify`."""

    artefact: Path
    golden: Path
    limits: GateLimits = field(default_factory=GateLimits)
    batch: int = 4
    warmup: int = 1
    backend: str | None = None  # None: by the artefact's suffix

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ConfigError(f"--batch must be ≥ 1; got {self.batch}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be ≥ 0; got {self.warmup}")


@dataclass(frozen=True)
class Check:
    """One gated limit: its key (as the flag and gate file spell it) and the comparison."""

    key: str
    gate: Gate

    @property
    def missed_by(self) -> float | None:
        """How far beyond the limit the value is (None when it holds)."""
        if self.gate.ok:
            return None
        g = self.gate
        if math.isnan(g.value):
            return float("nan")
        return g.limit - g.value if g.at_least else g.value - g.limit


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of one verify: per-output errors, latency and the gated limits."""

    artefact: str
    artefact_sha256: str
    golden: str
    frames: int
    batch: int
    outputs: tuple[OutputParity, ...]
    latency_ms: dict[str, Any]
    fps: float
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when every limit holds."""
        return all(c.gate.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The limits that do not hold."""
        return [c for c in self.checks if not c.gate.ok]

    def output(self, name: str) -> OutputParity:
        """The errors of output `name`."""
        return output_named(self.outputs, name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result (limits with their verdicts)."""
        return {
            "artefact": self.artefact,
            "artefact_sha256": self.artefact_sha256,
            "golden": self.golden,
            "frames": self.frames,
            "batch": self.batch,
            "passed": self.passed,
            "latency_ms": self.latency_ms,
            "fps": self.fps,
            "outputs": [asdict(o) for o in self.outputs],
            "checks": [
                {"key": c.key, **asdict(c.gate), "ok": c.gate.ok, "missed_by": c.missed_by}
                for c in self.checks
            ],
        }


def _refuse_mismatch(doc: dict[str, Any], info: Any, artefact: Path, golden: Path) -> None:
    want = doc.get("input", {})
    have = {"height": info.height, "width": info.width, "channel_order": info.channel_order}
    if any(want.get(k) != v for k, v in have.items()):
        raise ContractError(
            f"{artefact.name} takes {info.width}×{info.height} {info.channel_order} frames; the golden "
            f"outputs in {golden} were recorded at {want.get('width')}×{want.get('height')} "
            f"{want.get('channel_order')}; record them again for this input size"
        )
    if list(info.stats_columns) != list(doc.get("stats_columns", [])):
        raise ContractError(
            f"{artefact.name} has stats columns {list(info.stats_columns)}; the golden outputs in {golden} "
            f"have {doc.get('stats_columns')}; record them again for this model"
        )


def _timed(
    runner: Any, frames: np.ndarray, batch: int, warmup: int
) -> tuple[dict[str, np.ndarray], list[float]]:
    for _ in range(warmup):
        runner.infer(frames[:batch])
    parts, times = [], []
    for i in range(0, len(frames), batch):
        start = time.perf_counter()
        parts.append(runner.infer(frames[i : i + batch]))
        times.append((time.perf_counter() - start) * 1e3)
    outputs = {k: np.concatenate([np.asarray(p[k], dtype=np.float32) for p in parts]) for k in parts[0]}
    return outputs, times


def checks_for(
    outputs: tuple[OutputParity, ...], limits: GateLimits, latency: dict[str, Any], fps: float
) -> tuple[Check, ...]:
    """The gated limits: parity's depth and mask gates (check's rules) at these limits, then latency."""
    tol = Tolerance("golden", depth_abs_rel=limits.max_abs_rel, mask_iou=limits.min_iou)
    checks = []
    for gate in gates_for(outputs, tol):
        checks.append(Check("min_iou" if gate.at_least else "max_abs_rel", gate))
    if limits.max_p99_ms is not None:
        p99 = latency.get("p99")
        checks.append(Check("max_p99_ms", Gate("latency p99 ms/batch", _num(p99), limits.max_p99_ms)))
    if limits.min_fps is not None:
        checks.append(Check("min_fps", Gate("throughput fps", fps, limits.min_fps, at_least=True)))
    return tuple(checks)


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def verify_golden(cfg: VerifyConfig) -> VerifyResult:
    """Run `cfg.artefact` on the golden frames in `cfg.golden` and gate it on `cfg.limits`."""
    doc, arrays = read_golden(cfg.golden)
    frames = arrays.pop("frames")
    runner = open_backend(cfg.artefact, cfg.backend)
    try:
        _refuse_mismatch(doc, runner.info, cfg.artefact, cfg.golden)
        epsilon = float(doc.get("epsilon", runner.info.epsilon))
        got, times = _timed(runner, frames, cfg.batch, cfg.warmup)
    finally:
        runner.close()
    outputs = compare_outputs(arrays, got, stats_columns=doc.get("stats_columns", ()), epsilon=epsilon)
    latency = summarize(times)
    total_s = sum(times) / 1e3
    fps = len(frames) / total_s if total_s > 0 else float("inf")
    return VerifyResult(
        artefact=cfg.artefact.name,
        artefact_sha256=sha256_of(cfg.artefact),
        golden=str(doc.get("model", {}).get("file", cfg.golden.name)),
        frames=len(frames),
        batch=cfg.batch,
        outputs=outputs,
        latency_ms=latency,
        fps=round(fps, 3),
        checks=checks_for(outputs, cfg.limits, latency, fps),
    )


def render(result: VerifyResult) -> Any:
    """Per-output errors and latency; then each limit: measured, threshold, pass/FAIL, missed by."""
    from rich.console import Group
    from rich.table import Table

    verdict = "[bold green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
    errors = Table(
        title=f"golden verify: {result.artefact} vs {result.golden} (recorded), {result.frames} frames",
        title_justify="left",
    )
    for col in ("output", "max-abs", "abs_rel", "IoU (M > ε)"):
        errors.add_column(col, justify="left" if col == "output" else "right", no_wrap=True)
    for o in result.outputs:
        errors.add_row(o.name, _fmt(o.max_abs), _fmt(o.abs_rel), _fmt(o.iou, 4))
    lat = result.latency_ms
    errors.caption = f"latency p50 {_fmt(lat.get('p50'))} / p99 {_fmt(lat.get('p99'))} ms per batch of " + (
        f"{result.batch}, {_fmt(result.fps)} fps"
    )
    gates = Table(title=f"gate: {verdict}", title_justify="left")
    for col in ("limit", "check", "measured", "threshold", "result", "missed by"):
        gates.add_column(col, justify="right" if col in ("measured", "threshold", "missed by") else "left")
    for c in result.checks:
        g = c.gate
        gates.add_row(
            c.key,
            g.what,
            _fmt(g.value),
            f"{'≥' if g.at_least else '≤'} {_fmt(g.limit)}",
            "[green]pass[/]" if g.ok else "[bold red]FAIL[/]",
            "–" if c.missed_by is None else _fmt(c.missed_by),
        )
    if not result.checks:
        gates.add_row("–", "no limit set", "", "", "", "")
    return Group(errors, gates)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    value = float(value)
    if math.isnan(value):
        return "nan"
    if value == 0 or math.isinf(value):
        return f"{value:g}"
    return f"{value:.{digits}g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits + 1}f}"
