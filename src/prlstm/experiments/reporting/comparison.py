"""The report's "fair comparison" section: per-cell numbers with intervals, and tested pairs.

A cell is a task and a model variant (:mod:`~prlstm.experiments.reporting.results`); with an lr
choice file (:mod:`~prlstm.experiments.orchestrate.tuning`) under the results root or its
parent only the chosen lr's runs count, else all (and the section says so). Per task: a row per
variant (parameters, steps, lr, n, solves with their Wilson interval, mean score with its
bootstrap interval, median seconds, steps and seconds to generalise), the reference against
every other variant (:func:`~prlstm.experiments.reporting.stats.compare`) and a generated
footnote. :func:`comparison_data` computes them (``comparison.json``); :func:`render` writes the
Markdown, escaping names from result files.
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

from prlstm.experiments.orchestrate.tuning import LrChoice, choice_path, edge_side, read_choice
from prlstm.experiments.reporting.report import DASH, generalise_text
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
EDGE_CHECK = "tuning/edge_check.json"  # written by results/cpu-fair/edge_check.py
JSON_FILE = "comparison.json"
_BUILD_ARGS = ("model", "input_size", "output_size")
_canonical = functools.partial(json.dumps, sort_keys=True)
_ESCAPES = {"\\": "\\\\", "|": "\\|", "`": "\\`", "*": "\\*", "[": "\\[", "]": "\\]",
            "&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": " ", "\r": " "}


def escape(text: object) -> str:
    """``text`` safe inside a Markdown table cell: pipes, backticks, emphasis and link marks
    are backslash-escaped, ``& < >`` become HTML entities and line breaks spaces."""
    return "".join(_ESCAPES.get(ch, ch) for ch in str(text))


def lr_text(lr: float) -> str:
    """``1e-3`` for 0.001, ``3e-4`` for 0.0003, ``0.01`` for 0.01."""
    if lr >= 0.01 or lr <= 0:
        return f"{lr:g}"
    mantissa, exponent = f"{lr:.6e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def find_choice(root: str | Path, task: str, label: str) -> tuple[LrChoice | None, str | None]:
    """The cell's lr choice from ``root/tuning`` or ``root/../tuning`` (the first that exists),
    and the path it came from; a damaged or foreign file gives ``(None, "path: why")``."""
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
    choice, source = find_choice(root, task, label)
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
    pairs = [_pair(refs[c["task"]], c) for c in cells
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
            "edge_check": _edge_check(root)}


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


def reference_higher(pair: dict[str, Any]) -> bool:
    """Whether the reference did better in ``pair``: by mean score, else (equal means, or a
    file from before the means were saved) by solves."""
    ref, other = pair.get("mean_reference"), pair.get("mean_other")
    if ref is None or other is None or ref == other:
        ref, other = pair["solves_reference"], pair["solves_other"]
    return ref > other


def short_verdict(pair: dict[str, Any]) -> str:
    """The verdict of a pair in a few words: ``distinguishable, reference higher`` / ``lower``
    (by mean score, else by solves), ``not distinguishable``, or ``too few runs to tell`` where
    no outcome at these numbers of runs could have been distinguishable. A difference between
    two variants that solved no run adds ``(neither solved a run)``: it is a difference in how
    they fail, not in what generalises. One that does not survive Holm's correction over all
    the report's pairs (``survives_holm`` false) adds ``; not after Holm``."""
    if pair["distinguishable"]:
        neither = (" (neither solved a run)"
                   if pair["solves_reference"] == pair["solves_other"] == 0 else "")
        holm = "; not after Holm" if pair.get("survives_holm") is False else ""
        side = "higher" if reference_higher(pair) else "lower"
        return f"distinguishable, reference {side}{neither}{holm}"
    return "not distinguishable" if pair["attainable"] else "too few runs to tell"


def seconds_text(value: float | None) -> str:
    """``8.5 s`` / ``124 s`` / ``–``."""
    return DASH if value is None else f"{value:.{1 if value < 10 else 0}f} s"


def generalise_cell_text(cell: dict[str, Any]) -> str:
    """``step 4 (7/8) · 2.0 s``: median steps to generalise and the wall clock at that step
    (``never (0/8)`` when no run got there; ``–`` for a cell without runs)."""
    gen = cell.get("generalise")
    if not gen:
        return DASH
    seconds = f" · {seconds_text(gen['median_seconds'])}" if gen["reached"] else ""
    return f"{gen['text']}{seconds}"


def _lr_cell(c: dict[str, Any]) -> str:
    """``1e-3 of {3e-4, 1e-3}`` with a choice, else the runs' lrs marked untuned."""
    lr = c["lr"]
    if lr["chosen"] is not None:
        grid = ", ".join(lr_text(x) for x in lr["grid"])
        return f"{lr_text(lr['chosen'])} of {{{grid}}}"
    text = ", ".join(lr_text(x) for x in lr["run_lrs"]) or DASH
    return text + (" (pooled, untuned)" if len(lr["run_lrs"]) > 1 else " (untuned)")


def _row(c: dict[str, Any]) -> str:
    """A table row of one cell (its name escaped)."""
    params = "/".join(f"{p:,}" for p in c["parameters"]) or DASH
    steps = "/".join(str(s) for s in c["steps"]) or DASH
    head = (f"| {escape(c['variant'])}{' (incomplete)' if c['incomplete'] else ''} | {params} "
            f"| {steps} | {_lr_cell(c)} | {c['n']} |")
    if not c["n"]:
        return head + " no scored run at the chosen lr | | | |"
    lo, hi = (100 * x for x in c["solve_ci"])
    mlo, mhi = (100 * x for x in c["mean_ci"])
    cpu_s = c.get("median_train_cpu_seconds")
    cpu = "" if cpu_s is None else f" (CPU {seconds_text(cpu_s)})"
    return (f"{head} {c['solves']}/{c['n']} ({lo:.0f}–{hi:.0f} %) | {100 * c['mean']:.1f} "
            f"({mlo:.1f}–{mhi:.1f}) | {seconds_text(c['median_train_seconds'])}{cpu} | "
            f"{generalise_cell_text(c)} |")


def _pair_row(p: dict[str, Any]) -> str:
    """A table row of one pair (the other variant's name escaped)."""
    holm = p.get("holm_p")
    return (f"| {escape(p['other'])} | {p['n_reference']} vs {p['n_other']} | "
            f"{p['solves_reference']} vs {p['solves_other']} | {p['fisher_p']:.2g} | "
            f"{p['permutation_p']:.2g} | {DASH if holm is None else f'{holm:.2g}'} | "
            f"{short_verdict(p)} |")


def edge_note(cells: list[dict[str, Any]], check: dict[str, Any] | None = None) -> str:
    """A sentence on the cells whose chosen lr is an end of their grid and strictly better than
    every other lr there (their best lr may lie outside the grid); "" when there is none.
    ``check``: the counts of an edge check (``edge_check`` of :func:`comparison_data`)."""
    sides = [edge_side({v["lr"]: v["mean"] for v in c["lr"].get("validation") or ()},
                       c["lr"]["chosen"]) for c in cells]
    top, bottom = sides.count("top"), sides.count("bottom")
    if not top and not bottom:
        return ""
    text = (f"{top} of {len(cells)} cells chose the largest lr of their grid and {bottom} the "
            "smallest, strictly better there than at every other lr: their best lr may lie "
            "outside the grid.")
    if check and check.get("finished"):
        text += (f" An edge check (`{EDGE_CHECK}`: the tuning seed again at the next "
                 "half-decade outward, validation only) found that the outward lr would have "
                 f"been chosen in {check['outward_wins']} of the {check['finished']} edge cells "
                 "it checked; the choices were kept.")
    return text


def _edge_check(root: str | Path) -> dict[str, Any] | None:
    """The counts of ``tuning/edge_check.json`` under ``root`` or its parent, if readable."""
    for base in (Path(root), Path(root).parent):
        path = base / EDGE_CHECK
        if path.is_file():
            try:
                data = read_json(path)
                return {k: int(data[k]) for k in ("edge_cells", "finished", "outward_wins")}
            except (OSError, ValueError, KeyError, TypeError):
                return None
    return None


def _choice_table(cells: list[dict[str, Any]]) -> list[str]:
    """Each tuned cell's mean final validation score at every lr of its grid (the chosen one
    bold); no lines when no cell of ``cells`` has a readable choice file."""
    tuned = [c for c in cells if c["lr"].get("validation")]
    if not tuned:
        return []
    lrs = sorted({v["lr"] for c in tuned for v in c["lr"]["validation"]})
    seeds = sorted({s for c in tuned for s in c["lr"]["tuning_seeds"] or ()})
    lines = [f"Learning-rate choice: mean final validation score (%) over the tuning seed(s) "
             f"{', '.join(str(s) for s in seeds)}; bold: chosen (best mean, ties to the "
             "smaller lr).", "",
             "| Variant | " + " | ".join(lr_text(lr) for lr in lrs) + " |",
             "|---|" + "---|" * len(lrs)]
    for c in tuned:
        means = {v["lr"]: v["mean"] for v in c["lr"]["validation"]}
        row = []
        for lr in lrs:
            value = means.get(lr, "absent")
            text = ("" if value == "absent" else DASH if value is None
                    else f"{100 * value:.1f}")
            row.append(f"**{text}**" if text and lr == c["lr"]["chosen"] else text)
        lines.append(f"| {escape(c['variant'])} | " + " | ".join(row) + " |")
    return [*lines, ""]


def _footnote(data: dict[str, Any]) -> list[str]:
    """What the numbers above can and cannot show, generated from them."""
    cells, usual = data["cells"], data["usual_n"]
    notes = [f"Solved: score ≥ {100 * data['threshold']:.0f} %. Intervals are 95 %: Wilson "
             "for the solve rate, percentile bootstrap for the mean; they describe these seeds "
             "at this budget and these test lengths, not other sizes, budgets or lengths."]
    incomplete = [c for c in cells if c["incomplete"]]
    if incomplete:
        notes.append(f"Incomplete (fewer than the usual n = {usual} runs): " + ", ".join(
            f"{escape(c['task'])} / {escape(c['variant'])} (n = {c['n']})" for c in incomplete)
            + ".")
    untuned = [c for c in cells if c["lr"]["chosen"] is None]
    pooled = [c for c in untuned if len(c["lr"]["run_lrs"]) > 1]
    if untuned:
        notes.append(f"{len(untuned)} of {len(cells)} cells have no lr choice file (tuning/ "
                     "under the results directory or its parent): their lr was not chosen on "
                     "validation" + (f", and {len(pooled)} pool runs at several lrs."
                                     if pooled else "."))
    if unreadable := sum(c["lr"]["unreadable"] is not None for c in cells):
        notes.append(f"{unreadable} choice files could not be read (see comparison.json); "
                     "those cells use all their runs.")
    if edges := edge_note(cells, data.get("edge_check")):
        notes.append(edges)
    if reused := sum(s in (c["lr"]["tuning_seeds"] or ()) for c in cells for s in c["seeds"]):
        notes.append(f"{reused} runs here are at a tuning seed and the chosen lr (likely the "
                     "tuning runs): their validation scores, never test scores, picked that lr.")
    if excluded := sum(c["excluded"] for c in cells):
        notes.append(f"{excluded} runs at non-chosen learning rates are left out.")
    if unscored := sum(c["unscored"] for c in cells):
        notes.append(f"{unscored} runs with no finite score are left out.")
    notes += _pair_notes(data) + _size_notes(cells)
    return ["**What this can and cannot show.**", "", *(f"* {n}" for n in notes)]


def _pair_notes(data: dict[str, Any]) -> list[str]:
    """Tasks without pairs, the per-pair α, and the numbers of runs too small to tell."""
    cells, pairs, notes = data["cells"], data["pairs"], []
    refs = {c["task"] for c in cells if c["variant"] == data["reference"] and c["n"]}
    if missing := [t for t in dict.fromkeys(c["task"] for c in cells) if t not in refs]:
        notes.append(f"No pairs on {', '.join(escape(t) for t in missing)}: the reference "
                     "has no scored run there.")
    if pairs:
        notes.append(f"Each pair ({len(pairs)} here) is tested at α = 0.05 on its own (both "
                     "tests two-sided, Bonferroni over the two: distinguishable when the "
                     "smaller p-value is below 0.025); higher / lower compares the mean "
                     "scores. Holm p corrects for testing all of them: Holm's step-down "
                     f"adjustment over the {len(pairs)} pairs of the report (each pair's p "
                     "being twice its smaller p-value); 'not after Holm' marks a distinguishable "
                     "pair whose Holm p is 0.05 or more.")
    futile = sorted({f"{p['n_reference']} vs {p['n_other']}" for p in pairs
                     if not p["attainable"]})
    if futile:
        notes.append(f"At n = {', '.join(futile)} no outcome could be distinguishable, "
                     "hence 'too few runs to tell': it says nothing about the models.")
    return notes


def _size_notes(cells: list[dict[str, Any]]) -> list[str]:
    """Tasks whose variants differ in size (> 10 %) or in training steps."""
    notes = []
    for task in dict.fromkeys(c["task"] for c in cells):
        sizes = [p for c in cells if c["task"] == task for p in c["parameters"]]
        steps = {s for c in cells if c["task"] == task for s in c["steps"]}
        if sizes and max(sizes) > 1.1 * min(sizes):
            notes.append(f"{escape(task)}: parameter counts range {min(sizes):,}–"
                         f"{max(sizes):,}, so the variants are not size-matched.")
        if len(steps) > 1:
            notes.append(f"{escape(task)}: training steps differ ({min(steps)}–{max(steps)}): "
                         "a comparison at these budgets, not at equal budgets.")
    return notes


def render(data: dict[str, Any]) -> str:
    """The Markdown section for :func:`comparison_data`'s numbers."""
    ref = data["reference"]
    lines = ["## Fair comparison", "",
             "Runs at the lr chosen on validation where a choice was recorded; pairs against "
             f"{escape(ref) if ref else DASH}. Times: training seconds without validation or "
             "warm-up, wall-clock and (where recorded) the training process's CPU seconds, "
             "which other jobs on the machine do not inflate (to generalise: the log's "
             "wall clock at that step, median).", ""]
    for task in dict.fromkeys(c["task"] for c in data["cells"]):
        lines += [f"### {escape(task)}", "",
                  "| Variant | Parameters | Steps | lr | n | Solved k/n (95 % CI) | "
                  "Mean score % (95 % CI) | Median train time | Steps to generalise · time |",
                  "|---|---|---|---|---|---|---|---|---|",
                  *(_row(c) for c in data["cells"] if c["task"] == task), "",
                  *_choice_table([c for c in data["cells"] if c["task"] == task])]
        pairs = [p for p in data["pairs"] if p["task"] == task]
        if pairs:
            lines += [f"{escape(ref)} against each other variant:", "",
                      "| Other | n | Solves | Fisher p | Permutation p | Holm p | Verdict |",
                      "|---|---|---|---|---|---|---|", *(_pair_row(p) for p in pairs), ""]
    return "\n".join([*lines, *_footnote(data)]) + "\n"


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
