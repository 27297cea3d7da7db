"""What a run reports while it trains: a progress bar, `metrics.jsonl` + `metrics.csv`, TensorBoard.

The bar shows steps done of all, percent, steps/s, elapsed time, ETA, loss and samples/s; when the
console is not a terminal (a log, CI) the same reads as one plain line every few seconds.

Only the main process reports. Records are structured (one JSON object a line, `event` "step" or
"epoch"); the CSV holds the step records with the columns of the first one. On `--resume`, records past
the resumed step (work that was redone) are dropped so each step appears once.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console

from depthmask.errors import module_available
from depthmask.progress import PLAIN_INTERVAL_S, Meter

METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"


class Monitor:
    """Progress bar and metric files of one run (use as a context manager on the main process).
    `interval_s`: how often a console that is not a terminal gets a progress line."""

    def __init__(
        self,
        out: Path,
        *,
        total_steps: int,
        done_steps: int,
        progress: bool,
        tensorboard: bool,
        console: Console | None = None,
        interval_s: float = PLAIN_INTERVAL_S,
    ) -> None:
        self.out = out
        self.console = console or Console(stderr=True)
        out.mkdir(parents=True, exist_ok=True)
        _truncate_after(out / METRICS_JSONL, done_steps)
        self._jsonl = open(out / METRICS_JSONL, "a")  # noqa: SIM115 (closed in __exit__)
        self._csv_columns = _rewrite_csv(out / METRICS_CSV, out / METRICS_JSONL)
        self._csv = open(out / METRICS_CSV, "a", newline="")  # noqa: SIM115
        self._csv_writer = csv.writer(self._csv)
        self._tb = None
        if tensorboard and module_available("tensorboard"):
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(out / "tensorboard"), purge_step=done_steps + 1)
        self.tensorboard_active = self._tb is not None
        self._meter = None
        if progress:
            self._meter = Meter(
                self.console, "train", unit="steps", total=total_steps, completed=done_steps,
                detail="loss {task.fields[loss]} · {task.fields[samples_per_s]} samples/s",
                interval_s=interval_s, loss="—", samples_per_s="—",
            )  # fmt: skip
        self._t0 = time.perf_counter()
        self._last_t = self._t0
        self._samples_since = 0

    def __enter__(self) -> Monitor:
        if self._meter is not None:
            self._meter.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._meter is not None:
            self._meter.stop()
        self._jsonl.close()
        self._csv.close()
        if self._tb is not None:
            self._tb.close()

    def print(self, message: str) -> None:
        """A line above the progress bar."""
        self.console.print(message, highlight=False, soft_wrap=True)

    def advance(self, *, epoch: int, loss: float, samples: int) -> None:
        """One optimiser step done: moves the bar and counts samples for the rate."""
        self._samples_since += samples
        if self._meter is not None:
            self._meter.update(advance=1, description=f"epoch {epoch + 1}", loss=f"{loss:.4f}")

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write a metric record (adds `samples_per_s` since the last step record and `elapsed_s`)."""
        now = time.perf_counter()
        record = dict(record)
        if record.get("event") == "step":
            record["samples_per_s"] = round(self._samples_since / max(now - self._last_t, 1e-9), 2)
            self._samples_since, self._last_t = 0, now
            if self._meter is not None:
                self._meter.update(samples_per_s=f"{record['samples_per_s']:.1f}")
        record["elapsed_s"] = round(now - self._t0, 3)
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if record.get("event") == "step":
            self._write_csv(record)
        if self._tb is not None:
            step = int(record["step"])
            prefix = "train" if record.get("event") == "step" else "epoch"
            for key, value in record.items():
                if key not in ("event", "step", "epoch", "batch") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"{prefix}/{key}", value, step)
        return record

    def _write_csv(self, record: dict[str, Any]) -> None:
        if self._csv_columns is None:
            self._csv_columns = list(record)
            self._csv_writer.writerow(self._csv_columns)
        self._csv_writer.writerow([record.get(c, "") for c in self._csv_columns])
        self._csv.flush()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` file (or of the run folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_JSONL
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _truncate_after(path: Path, step: int) -> None:
    # A resumed run redoes the steps after its checkpoint; their old records would appear twice.
    if not path.exists():
        return
    keep = [
        line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step
    ]
    path.write_text("".join(line + "\n" for line in keep))


def _rewrite_csv(csv_path: Path, jsonl_path: Path) -> list[str] | None:
    """Rebuild the CSV from the (truncated) JSONL; return its columns (None: no step records yet)."""
    steps = [r for r in (read_metrics(jsonl_path) if jsonl_path.exists() else []) if r.get("event") == "step"]
    if not steps:
        csv_path.unlink(missing_ok=True)
        return None
    columns = list(steps[0])
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows([r.get(c, "") for c in columns] for r in steps)
    return columns
