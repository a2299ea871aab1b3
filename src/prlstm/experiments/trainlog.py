"""``train_log.csv``: one row every ``log_every`` updates (step, loss, accuracy, wall seconds).

``loss`` and ``accuracy`` are means over the updates since the previous row (each update's
values are those of its training batch, computed before the update). ``wall_seconds`` is the
training time so far without the first update of each session (warm-up: allocation, caches,
CUDA context), as in experiments.md E4. Rows are appended and flushed as training goes; on
resume, rows past the checkpoint's step are dropped so the log matches an uninterrupted run.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from prlstm.experiments.io import read_csv, write_csv

LOG_FILE = "train_log.csv"
HEADER = ("step", "loss", "accuracy", "wall_seconds")


def _valid_row(row: dict[str, str | None]) -> bool:
    if any(not row.get(k) for k in HEADER):  # a row cut short (truncated file)
        return False
    try:
        values = [float(row[k]) for k in HEADER]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return not math.isnan(values[0])


def read_log(run_dir: str | Path) -> list[dict[str, float]]:
    """The log rows as floats (``step`` too); unparsable or partial rows are skipped."""
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        return []
    rows = [r for r in read_csv(path) if _valid_row(r)]
    return [{k: float(r[k]) for k in HEADER} for r in rows]


class TrainLog:
    """Appends rows to ``run_dir/train_log.csv``; opening it truncates to ``keep_until``."""

    def __init__(self, run_dir: str | Path, keep_until: int = 0) -> None:
        self.path = Path(run_dir) / LOG_FILE
        kept = [r for r in read_log(run_dir) if r["step"] <= keep_until] if keep_until else []
        write_csv(self.path, HEADER, ([int(r["step"]), r["loss"], r["accuracy"],
                                       r["wall_seconds"]] for r in kept))

    def append(self, step: int, loss: float, accuracy: float, wall_seconds: float) -> None:
        """Add one row and flush it to disk."""
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow([step, f"{loss:.6g}", f"{accuracy:.6g}",
                                    f"{wall_seconds:.3f}"])
