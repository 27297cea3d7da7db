"""The self-contained HTML audit report of a run directory (`depthmask report RUN_DIR`)."""

from depthmask.report.html import build_report

__all__ = ["build_report"]
