"""`depthmask report RUN_DIR`: the self-contained HTML audit report of a run (or of a fleet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from depthmask.cli.app import OUTPUT, app
from depthmask.cli.errors import user_errors

console = Console()


@app.command(
    epilog="Examples:\n\n  depthmask report runs/run\n\n  depthmask report runs/kitti --output kitti.html\n\n"
    "  depthmask report runs/fleet"
)
@user_errors
def report(
    run_dir: Annotated[
        Path,
        typer.Argument(help="A folder written by `depthmask run`, `demo`, `fleet` or `eval`."),
    ],
    output: Annotated[
        Path | None,
        typer.Option(help="Where to write the HTML [default: RUN_DIR/report.html].", rich_help_panel=OUTPUT),
    ] = None,
) -> None:
    """Write report.html: statistics over time, mean mask, latency, sample frames, video, metadata (of a
    fleet: the drives, totals, fleet-wide statistics and the drives that stand out)."""
    from depthmask.report import build_report
    from depthmask.report.eval_report import build_eval_report
    from depthmask.report.fleet import build_fleet_report

    if (run_dir / "fleet.json").is_file():
        path = build_fleet_report(run_dir, output)
    elif (run_dir / "eval.json").is_file():
        path = build_eval_report(run_dir, output)
    else:
        path = build_report(run_dir, output)
    console.print(f"wrote {path}")
