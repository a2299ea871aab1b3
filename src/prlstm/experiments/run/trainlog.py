"""``train_log.csv``: one row every ``log_every`` updates.

Columns: ``step, loss, accuracy, wall_seconds, grad_norm, grad_norm_max, lr, val_score``.
``loss`` and ``accuracy`` are means over the updates since the previous row (each update's
values are those of its training batch, computed before the update); ``grad_norm`` and
``grad_norm_max`` are the mean and the maximum of the global gradient norm *before clipping*
over the same updates; ``lr`` is the learning rate of the row's update; ``val_score`` is the
mean accuracy on the out-of-range validation slice after that update, empty on rows where
validation did not run. ``wall_seconds`` is the training time so far without the first update
of each training process (warm-up: allocation, caches, CUDA context), as in E4
(docs/experiments.md#e4-training-time);
validation time is not included. Rows are appended and flushed as training goes; on resume,
rows past the checkpoint's step are dropped so the log matches an uninterrupted run. Logs
written before the last four columns existed still read (those columns read as NaN).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from prlstm.experiments.run.io import read_csv, write_csv

LOG_FILE = "train_log.csv"
REQUIRED = ("step", "loss", "accuracy", "wall_seconds")
OPTIONAL = ("grad_norm", "grad_norm_max", "lr", "val_score")
HEADER = REQUIRED + OPTIONAL


@dataclass(frozen=True)
class LogRow:
    """One row of the training log (``val_score`` is NaN where validation did not run)."""

    step: int
    loss: float
    accuracy: float
    wall_seconds: float
    grad_norm: float = math.nan
    grad_norm_max: float = math.nan
    lr: float = math.nan
    val_score: float = math.nan

    def cells(self) -> list[str]:
        """The row as CSV cells (NaN as an empty cell)."""
        def fmt(value: float, spec: str) -> str:
            return "" if math.isnan(value) else format(value, spec)

        return [str(self.step), fmt(self.loss, ".6g"), fmt(self.accuracy, ".6g"),
                fmt(self.wall_seconds, ".3f"), fmt(self.grad_norm, ".6g"),
                fmt(self.grad_norm_max, ".6g"), fmt(self.lr, ".6g"), fmt(self.val_score, ".6g")]


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _parse(row: dict[str, str | None]) -> LogRow | None:
    """A row, or None when a required cell is missing or unparsable, or the step is not a
    non-negative whole number (e.g. ``inf``, ``-1`` or ``2.5`` in a damaged file)."""
    values = {k: _float(row.get(k)) for k in HEADER}
    if any(math.isnan(values[k]) for k in REQUIRED):
        return None
    step = values.pop("step")
    if not math.isfinite(step) or step < 0 or step != int(step):
        return None
    return LogRow(step=int(step), **values)


def read_rows(run_dir: str | Path) -> list[LogRow]:
    """The log as :class:`LogRow` objects; unparsable or partial rows are skipped."""
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [r for r in (_parse(row) for row in read_csv(path)) if r is not None]


def read_log(run_dir: str | Path) -> list[dict[str, float]]:
    """The log rows as dicts of floats (``step`` too), every column of :data:`HEADER`
    present (NaN where empty or absent); unparsable or partial rows are skipped."""
    return [{k: float(getattr(r, k)) for k in HEADER} for r in read_rows(run_dir)]


def steps_to_threshold(rows: list[LogRow], threshold: float) -> int | None:
    """The first logged step whose ``val_score`` is at least ``threshold``, or None."""
    for r in rows:
        if not math.isnan(r.val_score) and r.val_score >= threshold:
            return r.step
    return None


class TrainLog:
    """Appends rows to ``run_dir/train_log.csv``; opening it truncates to ``keep_until``."""

    def __init__(self, run_dir: str | Path, keep_until: int = 0) -> None:
        self.path = Path(run_dir) / LOG_FILE
        kept = [r for r in read_rows(run_dir) if r.step <= keep_until] if keep_until else []
        write_csv(self.path, HEADER, (r.cells() for r in kept))

    def append(self, row: LogRow) -> None:
        """Add one row and flush it to disk."""
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow(row.cells())
