"""Prints how many cases the fuzz suite generated and how they ended (see `fuzzing.ends_typed`)."""

from __future__ import annotations

import pytest
from fuzzing import CASES, OUTCOMES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if CASES:
        per = ", ".join(f"{k} {v}" for k, v in sorted(CASES.items()))
        ends = ", ".join(f"{k} {v}" for k, v in OUTCOMES.most_common())
        terminalreporter.write_line(f"fuzz: {sum(CASES.values())} generated cases ({per}); ended as: {ends}")
