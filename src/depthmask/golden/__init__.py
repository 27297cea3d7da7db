"""Golden outputs and a gate: record a model's outputs on a few frames once, then verify any artefact of
the same input size (another precision, an engine, a re-trained G) against them in CI.

- `record`: `golden_from_model` — frames, outputs and a golden.json describing them (no absolute path).
- `gate`: `GateLimits` — the thresholds (flags, or a gate.json/.toml file), checked once.
- `verify`: `verify_golden` → `VerifyResult` — the depth/mask metrics of `depthmask check` and latency.

Torch-free: artefacts run through the runtime backends; the metrics are `depthmask.export.parity`'s.
"""

from depthmask.golden.gate import GateLimits, read_gate
from depthmask.golden.record import RecordConfig, golden_from_model
from depthmask.golden.verify import VerifyConfig, VerifyResult, verify_golden

__all__ = [
    "GateLimits",
    "RecordConfig",
    "VerifyConfig",
    "VerifyResult",
    "golden_from_model",
    "read_gate",
    "verify_golden",
]
