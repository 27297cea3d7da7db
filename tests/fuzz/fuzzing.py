"""Shared by the fuzz tests: a tally of generated cases and how each ended, and the one rule they all
check — every case ends in a success or a `DepthmaskError`, nothing else escapes."""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from typing import Any, TypeVar

from depthmask.errors import DepthmaskError

T = TypeVar("T")
# DEPTHMASK_FUZZ_SCALE=10 runs ten times the cases (a longer campaign than CI's).
SCALE = max(1, int(os.environ.get("DEPTHMASK_FUZZ_SCALE", "1") or 1))
HANG_FACTOR = 10  # a case this many times over its idle-machine time hangs; less is a busy machine


def fuzz(cases: int, deadline_ms: int) -> Any:
    """Hypothesis settings of one fuzz test: `cases` generated cases (times DEPTHMASK_FUZZ_SCALE), each
    bound to finish within `deadline_ms` × HANG_FACTOR (a slower case fails the test: no case may hang).
    `deadline_ms` is what a case takes on an idle machine at most; the factor keeps a shared, busy CI
    core (seen: a 3 s case taking 4.6 s beside a training job) from failing a case that does not hang."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=cases * SCALE,
        deadline=deadline_ms * HANG_FACTOR,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


CASES: collections.Counter[str] = collections.Counter()
OUTCOMES: collections.Counter[str] = collections.Counter()


def ends_typed(target: str, fn: Callable[[], T]) -> T | DepthmaskError:
    """Run one case: its result, or the typed error it raised (anything else propagates and fails)."""
    CASES[target] += 1
    try:
        result = fn()
    except DepthmaskError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} with an empty message"
        assert "\n" not in str(exc).strip() or len(str(exc)) < 2000, "a user error is one readable message"
        OUTCOMES[type(exc).__name__] += 1
        return exc
    OUTCOMES["ok"] += 1
    return result


def json_values() -> Any:
    """Hypothesis strategy: any JSON value (what a tampered metadata field or sidecar can hold)."""
    from hypothesis import strategies as st

    huge = st.integers(min_value=10**300, max_value=10**400)  # beyond float range: JSON allows it
    scalars = st.none() | st.booleans() | st.integers() | huge | st.floats() | st.text(max_size=20)

    def containers(inner: Any) -> Any:
        return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)

    return st.recursive(scalars, containers, max_leaves=12)
