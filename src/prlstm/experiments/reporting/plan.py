"""The grid a report lays out: finished runs by cell, and with a preset every planned cell.

``prlstm report --preset NAME`` shows each cell of that preset's grid (``not run yet`` where
no run has finished) and a progress table of finished / planned runs per cell, so an
unfinished sweep reads as unfinished, not as a smaller table. For a preset that tunes its lr
the planned runs are the reporting seeds at each cell's recorded choice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prlstm.experiments.reporting.results import (
    Results,
    group_results,
    ordered_models,
    ordered_tasks,
    variant_labels,
)

DASH = "–"
NOT_RUN = "not run yet"


@dataclass
class Layout:
    """What the tables show: finished runs by ``(task, label)``, every key to show (finished
    or planned), and the planned / finished run counts per key when a preset is given."""

    groups: Results
    keys: set[tuple[str, str]]
    levels: dict[str, str]
    planned: Counter[tuple[str, str]] = field(default_factory=Counter)
    finished: Counter[tuple[str, str]] = field(default_factory=Counter)


def planned_runs(preset: str, root: str | Path | None = None) -> list[dict[str, Any]]:
    """A placeholder per run of ``preset``'s grid (what ``prlstm sweep --preset PRESET``
    trains): task, level, model, hyper-parameters and run id — no numbers.

    For a preset that tunes its lr (``tune_lrs``), the planned runs are the reporting seeds at
    each cell's chosen lr, read from the choice files under ``root`` (the sweep's output); a
    cell with no recorded choice yet gets run ids no result has (``UNCHOSEN``), so none of its
    runs counts as finished.
    """
    from prlstm import tasks as task_registry
    from prlstm.experiments.orchestrate.presets import get_preset, grid, make_config

    chosen_preset = get_preset(preset)
    lr_of = _tuned_lrs(preset, root) if chosen_preset.tune_lrs else None
    planned = []
    for point in grid(chosen_preset):
        config = make_config(point.task, point.model, preset, hparams=point.hparams,
                             seed=point.seed, lr=point.lr)
        run_id = config.run_id()
        if lr_of is not None:
            lr = lr_of(point.task, point.model, point.hparams)
            run_id = (f"{UNCHOSEN}/{run_id}" if lr is None else
                      make_config(point.task, point.model, preset, hparams=point.hparams,
                                  seed=point.seed, lr=lr).run_id())
        planned.append({"task": point.task, "level": task_registry.get(point.task).level,
                        "model": point.model, "config": {"hparams": dict(config.hparams)},
                        "run_id": run_id})
    return planned


#: run-id prefix of a planned run whose cell has no recorded lr choice yet
UNCHOSEN = "lr-not-chosen-yet"


def _tuned_lrs(preset: str, root: str | Path | None
               ) -> Callable[[str, str, dict[str, Any]], float | None]:
    """``lr(task, model, hparams)``: the lr recorded under ``root`` (or its parent) for that
    cell of the tuned ``preset`` (None: no choice recorded, an unreadable choice file, or no
    ``root``)."""
    from prlstm.experiments.orchestrate.presets import get_preset, grid
    from prlstm.experiments.orchestrate.tuned import label_cells, recorded_choice

    chosen_preset = get_preset(preset)
    points = grid(chosen_preset, seeds=[0], lrs=[chosen_preset.tune_lrs[0]])
    cells = label_cells([(p.task, p.model, dict(p.hparams)) for p in points])
    lrs = list(chosen_preset.tune_lrs)

    def recorded(cell: Any) -> float | None:
        """The choice under ``root`` or its parent, as the comparison section finds it."""
        for base in (Path(root), Path(root).parent) if root is not None else ():
            try:
                if (lr := recorded_choice(base, cell, lrs)) is not None:
                    return lr
            except (OSError, ValueError):  # damaged: the comparison section says so
                return None
        return None

    found = {(c.task, c.model, json.dumps(c.hparams, sort_keys=True, default=str)): recorded(c)
             for c in cells}

    def lr(task: str, model: str, hparams: dict[str, Any]) -> float | None:
        return found.get((task, model, json.dumps(dict(hparams), sort_keys=True, default=str)))

    return lr


def layout(results: list[dict[str, Any]], planned: list[dict[str, Any]] | None = None
           ) -> Layout:
    """Group ``results``; with ``planned`` (:func:`planned_runs`) every planned cell is shown
    too, and its runs are counted (a result counts as finished when its run id is planned)."""
    planned = planned or []
    labels = variant_labels([*results, *planned])  # one labelling for both
    groups = group_results(results, labels[:len(results)]) if results else {}
    done = {r.get("run_id") for r in results}
    lay = Layout(groups, set(groups), {r["task"]: str(r.get("level", "?"))
                                       for r in [*planned, *results]})
    for run, label in zip(planned, labels[len(results):], strict=True):
        key = (run["task"], label)
        lay.keys.add(key)
        lay.planned[key] += 1
        lay.finished[key] += run["run_id"] in done
    return lay


def progress_table(lay: Layout, preset: str, unchosen: int = 0) -> list[str]:
    """Finished / planned runs per cell of ``preset``'s grid (empty without a plan);
    ``unchosen``: planned runs whose cell has no recorded lr choice yet."""
    if not lay.planned:
        return []
    total, done = sum(lay.planned.values()), sum(lay.finished.values())
    task_names, model_names = ordered_tasks(lay.planned), ordered_models(lay.planned)
    lines = [f"**Progress** of preset {preset}: {done} of {total} planned runs finished "
             f"({NOT_RUN}: no finished run in the cell yet; "
             f"`prlstm sweep --preset {preset}` resumes the rest)."
             + (f" {unchosen} of them wait for their cell's lr choice (tuning not finished)."
                if unchosen else ""), "",
             "| Task | " + " | ".join(model_names) + " |", "|---|" + "---|" * len(model_names)]
    for task in task_names:
        cells = [f"{lay.finished[(task, m)]}/{lay.planned[(task, m)]}"
                 if lay.planned[(task, m)] else DASH for m in model_names]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines
