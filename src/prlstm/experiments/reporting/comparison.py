"""The report's "fair comparison" section: per-cell numbers with intervals, and tested pairs.

A cell is a task and a model variant (:mod:`~prlstm.experiments.reporting.results`); with an lr
choice file (:mod:`~prlstm.experiments.orchestrate.tuning`) under the results root or its
parent only the chosen lr's runs count, else all (and the section says so). Per task: a row per
variant (parameters, steps, lr, n, solves with their Wilson interval, mean score with its
bootstrap interval, median seconds, steps and seconds to generalise), the reference against
every other variant (:func:`~prlstm.experiments.reporting.stats.compare`) and a generated
footnote. :func:`comparison_data` computes them (``comparison.json``);
:func:`~prlstm.experiments.reporting.comparison_text.render` writes the Markdown.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prlstm.experiments.orchestrate.tuning import (
    EDGE_CHECK_FILE,
    LrChoice,
    choice_path,
    foreign_choice,
    read_choice,
)
from prlstm.experiments.reporting.comparison_text import render
from prlstm.experiments.reporting.report import generalise_text
from prlstm.experiments.reporting.results import (
    group_results,
    ordered_models,
    ordered_tasks,
    summarise,
    variant_labels,
)
from prlstm.experiments.reporting.stats import ALPHA, cell_stats, compare, holm_adjusted
from prlstm.experiments.run.evaluate import SOLVED_THRESHOLD
from prlstm.experiments.run.io import read_json, with_digest, write_json
from prlstm.experiments.run.trainlog import read_rows

FORMAT = 1
JSON_FILE = "comparison.json"
_BUILD_ARGS = ("model", "input_size", "output_size")
_canonical = functools.partial(json.dumps, sort_keys=True)



def find_choice(root: str | Path, task: str, label: str,
                variant: tuple[str, dict[str, Any]] | None = None
                ) -> tuple[LrChoice | None, str | None]:
    """The cell's lr choice from ``root/tuning`` or ``root/../tuning`` (the first that exists),
    and the path it came from; a damaged or foreign file (another task, or another
    ``(model, hparams)`` variant than ``variant`` where the file records one) gives
    ``(None, "path: why")``."""
    for base in (Path(root), Path(root).parent):
        path = choice_path(base, task, label)
        if not path.is_file():
            continue
        try:
            choice = read_choice(path)
        except ValueError as err:
            return None, f"{path}: {err}"
        if choice.task != task:
            return None, f"{path}: records task {choice.task!r}, not {task!r}"
        if variant is not None and (why := foreign_choice(choice, *variant)):
            return None, f"{path}: {why}"
        return choice, str(path)
    return None, None


@functools.cache
def _count_parameters(model: str, task: str, hparams: str, options: str) -> int | None:
    """Build the model for the task's V and C and count it (None if that fails; only
    registered models: a plugin path read from a result file is never imported)."""
    from prlstm import models, tasks

    if model not in models.HPARAMS:
        return None
    try:
        spec = tasks.get(task, **json.loads(options))
        return models.count_parameters(model, spec.input_size, spec.output_size,
                                       **json.loads(hparams))
    except Exception:  # odd saved hparams: show no count rather than fail the report
        return None


def parameters(runs: list[dict[str, Any]]) -> list[int]:
    """Distinct parameter counts of the runs: recorded in ``result.json``, else counted by
    building the model from its saved hyper-parameters (runs that cannot be built left out)."""
    counts = set()
    for r in runs:
        value = r.get("parameters")
        if not isinstance(value, int) or isinstance(value, bool):
            config = r.get("config") or {}
            saved = r.get("model_config") or config.get("hparams") or {}
            hparams = {k: v for k, v in saved.items() if k not in _BUILD_ARGS}
            value = _count_parameters(r["model"], r["task"], _canonical(hparams),
                                      _canonical(config.get("task_options") or {}))
        if value is not None:
            counts.add(value)
    return sorted(counts)


def _finite(value: object) -> float | None:
    """``value`` as a float if it is a finite number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _median(values: Iterable[float | None]) -> float | None:
    """Median of the known values (None if there are none)."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def generalisation(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Steps to generalise as the report counts them (``steps_to_generalise`` of each result),
    and the wall-clock seconds at that step from each run's ``train_log.csv``."""
    cell = summarise(runs)
    known: list[float] = []
    for r in runs:
        if (step := r.get("steps_to_generalise")) is not None and r.get("run_dir"):
            row = next((x for x in read_rows(r["run_dir"]) if x.step == int(step)), None)
            if row is not None and (value := _finite(row.wall_seconds)) is not None:
                known.append(value)
    return {"validated": cell.validated, "reached": len(cell.generalised_steps),
            "median_steps": cell.median_steps, "median_seconds": _median(known),
            "seconds_known": len(known), "text": generalise_text(cell)}


def common_hparams(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The hyper-parameters every run of a cell was configured with (``config.hparams``; the
    ones that differ between its runs, if any, are left out)."""
    settings = [(r.get("config") or {}).get("hparams") or {} for r in runs]
    first = settings[0] if settings else {}
    return {k: v for k, v in sorted(first.items())
            if all(k in s and s[k] == v for s in settings[1:])}


def cell_entry(task: str, label: str, runs: list[dict[str, Any]],
               root: str | Path) -> dict[str, Any]:
    """One cell's numbers (a ``comparison.json`` entry): the runs used after the lr choice."""
    made = runs[0].get("config") or {}
    choice, source = find_choice(root, task, label,
                                 (str(runs[0]["model"]), made.get("hparams") or {}))
    lrs = sorted({float(r["lr"]) for r in runs if _finite(r.get("lr")) is not None})
    used = [r for r in runs if (lr := _finite(r.get("lr"))) is not None
            and math.isclose(lr, choice.chosen, rel_tol=1e-9)] if choice else runs
    scored = [r for r in used if _finite(r.get("score")) is not None]
    entry: dict[str, Any] = {
        "task": task, "variant": label, "model": runs[0]["model"],
        "parameters": parameters(used or runs),
        "steps": sorted({int(r["steps"]) for r in used or runs
                         if _finite(r.get("steps")) is not None}),
        "lr": {"chosen": choice.chosen if choice else None,
               "grid": list(choice.grid) if choice else None,
               "tuning_seeds": sorted(choice.scores[choice.chosen]) if choice else None,
               "validation": [{"lr": lr, "mean": mean} for lr, mean in choice.means.items()]
               if choice else None,
               "source": source if choice else None,
               "unreadable": None if choice else source, "run_lrs": lrs},
        "hparams": common_hparams(used or runs),
        "runs": len(runs), "excluded": len(runs) - len(used),
        "unscored": len(used) - len(scored), "n": len(scored),
        # runs that fitted their training range, of those that recorded it
        "fitted": sum(r.get("fitted") is True for r in scored),
        "fit_known": sum(isinstance(r.get("fitted"), bool) for r in scored),
        "run_ids": [str(r.get("run_id") or r.get("run_dir")) for r in scored],
        "seeds": [r.get("seed") for r in scored],
        "scores": [float(r["score"]) for r in scored],
    }
    if scored:
        stats = cell_stats(entry["scores"], SOLVED_THRESHOLD)
        entry.update(solves=stats.solves, solve_rate=stats.solve_rate,
                     solve_ci=[stats.solve_low, stats.solve_high], mean=stats.mean,
                     mean_ci=[stats.mean_low, stats.mean_high], std=stats.std,
                     median_train_seconds=_median(_finite(r.get("train_seconds"))
                                                  for r in scored),
                     median_train_cpu_seconds=_median(_finite(r.get("train_cpu_seconds"))
                                                      for r in scored),
                     generalise=generalisation(scored))
    return entry


def comparison_data(results: list[dict[str, Any]], root: str | Path,
                    reference: str | None = None) -> dict[str, Any]:
    """Every cell's numbers and the reference-vs-other pairs per task (JSON-able); the
    reference defaults to the first ``pr_lstm`` variant in report order, else the first one."""
    groups = group_results(results, variant_labels(results)) if results else {}
    tasks, labels = ordered_tasks(groups), ordered_models(groups)
    reference = reference or next((m for m in labels if m.split(" ")[0] == "pr_lstm"),
                                  labels[0] if labels else None)
    cells = [cell_entry(t, m, groups[(t, m)], root) for t in tasks for m in labels
             if (t, m) in groups]
    refs = {c["task"]: c for c in cells if c["variant"] == reference and c["n"]}
    pairs = [_pair(matched_reference(c, cells, refs[c["task"]]), c) for c in cells
             if c["task"] in refs and c is not refs[c["task"]] and c["n"]]
    # Holm over every pair of the report, each pair's p being Bonferroni over its two tests
    for pair, holm in zip(pairs, holm_adjusted(
            [min(1.0, 2 * min(p["fisher_p"], p["permutation_p"])) for p in pairs]), strict=True):
        pair.update(holm_p=holm, survives_holm=holm < ALPHA)
    counts = Counter(c["n"] for c in cells if c["n"])
    usual = max(counts, key=lambda n: (counts[n], n)) if counts else 0
    for c in cells:
        c["incomplete"] = c["n"] < usual
    return {"format": FORMAT, "threshold": SOLVED_THRESHOLD, "confidence": 0.95,
            "reference": reference, "usual_n": usual, "cells": cells, "pairs": pairs,
            "edge_check": _edge_check(root, cells), "budget": budget(results, cells)}


def matched_reference(cell: dict[str, Any], cells: list[dict[str, Any]],
                      reference: dict[str, Any]) -> dict[str, Any]:
    """The cell ``cell`` is tested against: of the scored cells of ``reference``'s model on
    its task, the one nearest to it in parameter count (ratio of the counts; ties, unknown
    counts and the reference model's own other variants go to ``reference``). In ``cpu-fair``
    that sets the LSTM and the RNN at H = 128 against PR-LSTM at the LSTM's size, and every
    PR-LSTM-sized variant against PR-LSTM at H = 128."""
    if cell["model"] == reference["model"] or not cell["parameters"]:
        return reference
    size = statistics.median(cell["parameters"])
    candidates = [c for c in cells if c["task"] == cell["task"] and c["n"]
                  and c["model"] == reference["model"] and c["parameters"]]

    def distance(c: dict[str, Any]) -> tuple[float, bool]:
        return abs(math.log(statistics.median(c["parameters"]) / size)), c is not reference

    return min(candidates, key=distance, default=reference)


def budget(results: list[dict[str, Any]], cells: list[dict[str, Any]]) -> dict[str, Any]:
    """What the runs were given, for the summary's budget line: devices, torch versions,
    reporting seeds, batch sizes, the lr grids and tuning seeds of the choices (or, untuned,
    the lrs used), and the pinned CPU settings' status."""
    def distinct(values: Iterable[Any]) -> list[Any]:
        return sorted({v for v in values if v is not None}, key=str)

    tuned = [c for c in cells if c["lr"]["chosen"] is not None]
    return {
        "devices": distinct(str(r.get("device")) for r in results if r.get("device")),
        "torch": distinct(r.get("torch_version") for r in results),
        "seeds": sorted({s for c in cells for s in c["seeds"] if isinstance(s, int)}),
        "batch_size": distinct((r.get("config") or {}).get("batch_size") for r in results),
        "lr_grids": [list(g) for g in distinct(tuple(c["lr"]["grid"]) for c in tuned)],
        "tuning_seeds": sorted({s for c in tuned for s in c["lr"]["tuning_seeds"] or ()}),
        "tuned_cells": len(tuned), "cells": len(cells),
        "cpu_pin": distinct(str((r.get("cpu_env") or {}).get("pin")) for r in results
                            if r.get("cpu_env")),
    }


def _pair(ref: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """:func:`~prlstm.experiments.reporting.stats.compare` of two cells as a JSON-able dict."""
    result = compare(ref["scores"], other["scores"], SOLVED_THRESHOLD)
    return {"task": ref["task"], "reference": ref["variant"], "other": other["variant"],
            "n_reference": result.n_a, "n_other": result.n_b,
            "solves_reference": result.solves_a, "solves_other": result.solves_b,
            "mean_reference": result.mean_a, "mean_other": result.mean_b,
            "fisher_p": result.fisher_p, "permutation_p": result.permutation_p,
            "distinguishable": result.distinguishable, "attainable": result.attainable,
            "verdict": result.verdict}


def _edge_check(root: str | Path,
                cells: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The counts of ``tuning/edge_check.json`` under ``root`` or its parent, if readable;
    with the report's ``cells``, over the checked cells that are in the report (a report of
    one task counts that task's edge cells, not the whole grid's)."""
    for base in (Path(root), Path(root).parent):
        path = base / EDGE_CHECK_FILE
        if path.is_file():
            try:
                data = read_json(path)
                if cells is None:
                    return {k: int(data[k]) for k in ("edge_cells", "finished", "outward_wins")}
                here = {(c["task"], c["variant"]) for c in cells}
                checked = [e for e in data["cells"] if (e["task"], e["variant"]) in here]
                return {"edge_cells": len(checked),
                        "finished": sum(e["finished"] is True for e in checked),
                        "outward_wins": sum(e["outward_wins"] is True for e in checked)}
            except (OSError, ValueError, KeyError, TypeError):
                return None
    return None


def comparison_section(results: list[dict[str, Any]], root: str | Path,
                       reference: str | None = None) -> str:
    """The section's Markdown for ``results`` loaded from ``root``."""
    return render(comparison_data(results, root, reference))


def write_comparison(results: list[dict[str, Any]], root: str | Path, out_dir: str | Path,
                     reference: str | None = None) -> tuple[str, Path | None]:
    """The section's Markdown, and ``out_dir/comparison.json`` (atomic, with a digest) with its
    numbers; ``("", None)`` when no cell has two runs (nothing to compare: a stale
    ``comparison.json`` there is removed)."""
    path = Path(out_dir) / JSON_FILE
    if not results or all(len(runs) < 2 for runs in group_results(results).values()):
        path.unlink(missing_ok=True)
        return "", None
    data = comparison_data(results, root, reference)
    write_json(path, with_digest(data))
    return render(data), path
