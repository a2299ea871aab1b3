"""Sweeps whose learning rate is chosen on validation: tune, choose, then train the seeds.

For every cell (task × model variant) of a preset with ``tune_lrs``:

1. *tune*: train the cell at every lr of the grid with the tuning seeds (seeds kept apart from
   the reporting seeds), under ``OUT/tuning/runs/`` (left out of reports);
2. *choose*: the lr with the best mean final validation score — the out-of-range validation
   slice logged during training, never the test set; ties go to the smaller lr
   (:func:`prlstm.experiments.orchestrate.tuning.choose_lr`) — written to
   ``OUT/tuning/<task>/<label>.json`` with the grid and every validation number;
3. *report*: train the reporting seeds at the chosen lr, under ``OUT/``.

Each phase is an ordinary sweep, so an interrupted tuned sweep resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prlstm.experiments.orchestrate.sweep import Engine, Summary, run_sweep, trained
from prlstm.experiments.orchestrate.tuning import (
    choice_path,
    choose_lr,
    foreign_choice,
    read_choice,
    validation_scores,
    write_choice,
)
from prlstm.experiments.reporting.results import TUNING_DIR, variant_labels
from prlstm.experiments.run.config import RunConfig

#: ``make(task, model, hparams, seed, lr) -> RunConfig``
MakeConfig = Callable[[str, str, dict[str, Any], int, float], RunConfig]


@dataclass(frozen=True)
class Cell:
    """One task × model variant; ``label`` is its report column."""

    task: str
    model: str
    hparams: dict[str, Any] = field(default_factory=dict)
    label: str = ""


def label_cells(cells: list[tuple[str, str, dict[str, Any]]]) -> list[Cell]:
    """Cells with the report's column labels (the model name plus the hyper-parameters that
    differ between variants of that model), computed over the whole grid."""
    fake = [{"model": m, "config": {"hparams": dict(h)}} for _, m, h in cells]
    labels = variant_labels(fake)
    return [Cell(t, m, dict(h), label) for (t, m, h), label in zip(cells, labels, strict=True)]


def tuning_configs(cells: list[Cell], make: MakeConfig, lrs: list[float],
                   seeds: list[int]) -> list[RunConfig]:
    """Every cell at every lr of the grid, with the tuning seeds."""
    configs = [dataclasses.replace(make(c.task, c.model, c.hparams, s, lr), test=False)
               for c in cells for lr in lrs for s in seeds]
    if any(not c.val_every for c in configs):
        raise ValueError("tuning needs validation: set val_every > 0 (--val-every)")
    return configs


def recorded_choice(out: Path, cell: Cell, lrs: list[float],
                    config: RunConfig | None = None) -> float | None:
    """The lr recorded for ``cell`` over the grid ``lrs`` (None: no choice file for it).

    Raises:
        ValueError: the file records another variant than ``config``'s (its model and
            hyper-parameters): two variants swept apart share the label, and so the file.
    """
    path = choice_path(out, cell.task, cell.label)
    if not path.is_file():
        return None
    recorded = read_choice(path)
    if config is not None and (why := foreign_choice(recorded, config.model, config.hparams)):
        raise ValueError(f"lr choice file {path} was {why}: both are labelled "
                         f"{cell.label!r}; sweep the variants together (one sweep labels them "
                         f"apart) or into separate --out directories")
    return recorded.chosen if sorted(recorded.grid) == sorted(lrs) else None


def choose(cell: Cell, configs: list[RunConfig], runs_root: Path, out: Path,
           lrs: list[float]) -> float | None:
    """Choose and record the cell's lr from its finished tuning runs (``None``: some tuning
    run has not finished, so there is nothing to choose yet)."""
    recorded = recorded_choice(out, cell, lrs, configs[0])
    if recorded is not None:
        return recorded
    path = choice_path(out, cell.task, cell.label)
    dirs = [runs_root / c.run_id() for c in configs]
    if not all(trained(d, c) for d, c in zip(dirs, configs, strict=True)):
        return None
    scores = validation_scores(dirs)
    chosen = choose_lr({lr: list(per_seed.values()) for lr, per_seed in scores.items()})
    write_choice(path, cell.task, cell.label, lrs, scores, chosen,
                 {"model": configs[0].model, "hparams": configs[0].hparams})
    return chosen


def run_tuned_sweep(cells: list[Cell], make: MakeConfig, out: str | Path, *,
                    tune_lrs: list[float], tune_seeds: list[int], seeds: list[int],
                    engine: Engine | None = None, workers: int = 1, progress: bool = False,
                    on_result: Callable[[Summary], None] | None = None
                    ) -> tuple[list[Summary], dict[tuple[str, str], float | None]]:
    """Tune, choose and train ``cells`` (see the module doc).

    Returns:
        the summaries of every run (tuning runs first), and the chosen lr per
        ``(task, label)`` (``None`` where a tuning run failed, so that cell was not trained).
    """
    if not tune_lrs or not tune_seeds or not seeds:
        raise ValueError("a tuned sweep needs tune_lrs, tune_seeds and seeds")
    overlap = sorted(set(tune_seeds) & set(seeds))
    if overlap:
        raise ValueError(f"tuning seeds {overlap} are also reporting seeds; keep them apart "
                         f"so the chosen lr is not fitted to the reported runs")
    out = Path(out)
    runs_root = out / TUNING_DIR / "runs"
    per_cell = [tuning_configs([c], make, tune_lrs, tune_seeds) for c in cells]
    # a cell whose choice is recorded needs no tuning run (their checkpoints are not kept in
    # results/, so a fresh clone resumes from the choice files)
    flat = [cfg for c, cfgs in zip(cells, per_cell, strict=True)
            if recorded_choice(out, c, tune_lrs, cfgs[0]) is None for cfg in cfgs]
    summaries = run_sweep(flat, runs_root, engine=engine, workers=workers, progress=progress,
                          on_result=on_result) if flat else []
    chosen = {(c.task, c.label): choose(c, cfgs, runs_root, out, tune_lrs)
              for c, cfgs in zip(cells, per_cell, strict=True)}
    final = [make(c.task, c.model, c.hparams, s, lr) for c in cells
             if (lr := chosen[(c.task, c.label)]) is not None for s in seeds]
    if final:
        summaries += run_sweep(final, out, engine=engine, workers=workers, progress=progress,
                               on_result=on_result)
    return summaries, chosen
