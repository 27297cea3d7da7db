"""`DriveAuditor`: one fleet worker. It loads the model once and audits drives one at a time with the
runtime's own `run` core, so a drive's records are those `depthmask run` writes for it alone.

Plain Python: the fleet makes it a Ray actor (`ray.remote(DriveAuditor)`), and tests can run it as is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from pathlib import Path
from typing import Any

from depthmask.runtime.backends.base import Backend
from depthmask.runtime.config import RunConfig
from depthmask.runtime.run import backend_for, run
from depthmask.runtime.sinks.audit import write_json_atomic

WORKER_FILE = "worker.json"  # in each attempt's folder: which process ran it (pid, host)


class DriveAuditor:
    """Holds one loaded backend; `audit(spec, folder)` runs one drive into `folder`."""

    def __init__(self, template: RunConfig, cwd: str | None = None) -> None:
        self.template = template
        self.cwd = cwd
        self.backend: Backend | None = None

    def load(self) -> dict[str, Any]:
        """Load the model (once per worker); returns who this worker is and what it runs on."""
        if self.cwd and os.path.isdir(self.cwd):  # relative drive paths mean what they meant to the user
            os.chdir(self.cwd)
        self.backend, chosen = backend_for(self.template)
        self.backend.load()
        auto = {"backend_auto": chosen.to_dict()} if chosen is not None else {}
        return {**self.identity(), "backend": self.backend.describe(), **auto}

    def identity(self) -> dict[str, Any]:
        """This worker's process and host."""
        return {"pid": os.getpid(), "host": socket.gethostname()}

    def audit(
        self, spec: str, folder: str, attempt: int, report: bool = True, final: str | None = None
    ) -> dict[str, Any]:
        """Audit drive `spec` into `folder` (audit.jsonl, summary.json, the chosen outputs and, with
        `report`, report.html naming `final`, where the drive will be committed); returns the summary's
        counts. Errors are the run core's own."""
        if self.backend is None:
            self.load()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / WORKER_FILE).write_text(json.dumps({**self.identity(), "attempt": attempt, "drive": spec}))
        cfg = dataclasses.replace(self.template, sources=(spec,), out=out, exist_ok=True)
        summary = run(cfg, backend=self.backend, handle_signals=False)
        if final is not None:  # the summary names where the drive's outputs will be, not this attempt
            summary["out"] = summary["config"]["out"] = final
            write_json_atomic(out / "summary.json", summary)
        report_error = None
        if report:
            from depthmask.report import build_report

            try:
                build_report(out, shown_as=final)
            except OSError as exc:  # the drive's records stand without their page
                report_error = f"report.html could not be written ({exc.strerror or exc})"
        return {
            "exit_status": summary["exit_status"],
            "frames": summary["frames"],
            "counts": summary["counts"],
            "wall_s": summary["wall_s"],
            "report_error": report_error,
        }

    def close(self) -> None:
        """Release the backend."""
        if self.backend is not None:
            backend, self.backend = self.backend, None
            backend.close()
