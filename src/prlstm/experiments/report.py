"""``prlstm report``: a Markdown results table in the shape of the paper's Table 2.

Rows are tasks grouped by level (regular, DCF, CS, in benchmark order), columns are models.
Each cell is ``best (mean ± std)``: the best score over all runs of that task and model (seeds ×
learning rates), then the mean and sample standard deviation over those runs, in percent; the
best cell of each row is bold. A final row counts the tasks each model solved (best score ≥ 90%).
Everything is read from the saved ``result.json`` files.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from prlstm.experiments.evaluate import SOLVED_THRESHOLD
from prlstm.experiments.io import atomic_write, ensure_writable_dir
from prlstm.experiments.results import group_results, load_results, ordered_models, ordered_tasks

LEVEL_TITLES = {"regular": "Regular", "dcf": "DCF", "cs": "CS"}


def cell_stats(runs: list[dict[str, Any]]) -> tuple[float, float, float, int]:
    """``(best, mean, std, n)`` of the runs' scores in percent (std is 0 for one run)."""
    scores = [100.0 * r["score"] for r in runs]
    std = statistics.stdev(scores) if len(scores) > 1 else 0.0
    return max(scores), statistics.fmean(scores), std, len(scores)


def _budget_lines(results: list[dict[str, Any]]) -> list[str]:
    presets = sorted({str(r.get("preset", "custom")) for r in results})
    steps: dict[str, set[int]] = defaultdict(set)
    for r in results:
        steps[r["model"]].add(int(r["steps"]))
    step_text = "; ".join(f"{m} {'/'.join(str(s) for s in sorted(v))}"
                          for m, v in sorted(steps.items()))
    evals = sorted({(r["train_length"], len(r["accuracy"]),
                     r.get("config", {}).get("eval_per_length")) for r in results})
    eval_text = "; ".join(f"test lengths {n + 1}..{m}, {k} sequences per length"
                          for n, m, k in evals)
    def _joined(key: str, section: str | None = None) -> str:
        values = {(r.get(section, {}) if section else r).get(key) for r in results}
        return ", ".join(str(v) for v in sorted(values, key=str))

    hparams = sorted({f"H={r.get('model_config', {}).get('hidden_size')}" for r in results
                      if r.get("model_config", {}).get("hidden_size") is not None})
    return [f"Budget preset: {', '.join(presets)}. Training steps: {step_text}.",
            f"Seeds: {_joined('seed')}; learning rates: {_joined('lr')}; batch "
            f"{_joined('batch_size', 'config')}; recurrent {', '.join(hparams) or 'n/a'}.",
            f"Device: {_joined('device')}; torch {_joined('torch_version')}.",
            f"Evaluation: {eval_text}. Solved = score >= {100 * SOLVED_THRESHOLD:.0f}%.",
            "Cells: best score over seeds x learning rates in % (mean ± std over the runs)."]


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The Table 2-style Markdown table (with a budget note) for ``results``."""
    if not results:
        return "No results found.\n"
    groups = group_results(results)
    task_names, model_names = ordered_tasks(groups), ordered_models(groups)
    lines = [*_budget_lines(results), "",
             "| Level | Task | " + " | ".join(model_names) + " |",
             "|---|---|" + "---|" * len(model_names)]
    solved = dict.fromkeys(model_names, 0)
    attempted = dict.fromkeys(model_names, 0)
    previous_level = None
    for task in task_names:
        stats = {m: cell_stats(groups[(task, m)]) for m in model_names if (task, m) in groups}
        top = f"{max(s[0] for s in stats.values()):.1f}"  # ties as displayed are all bold
        level = str(groups[(task, next(iter(stats)))][0].get("level", "?"))
        cells = []
        for m in model_names:
            if m not in stats:
                cells.append("–")
                continue
            best, mean, std, _ = stats[m]
            attempted[m] += 1
            solved[m] += best >= 100 * SOLVED_THRESHOLD
            text = f"{best:.1f}"
            cells.append(f"{'**' + text + '**' if text == top else text} ({mean:.1f} ± {std:.1f})")
        title = LEVEL_TITLES.get(level, level) if level != previous_level else ""
        previous_level = level
        head = f"| {title} |" if title else "| |"
        lines.append(f"{head} {task} | " + " | ".join(cells) + " |")
    lines.append("| | **solved** | " + " | ".join(f"{solved[m]}/{attempted[m]}"
                                                  for m in model_names) + " |")
    return "\n".join(lines) + "\n"


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, *,
                 plots: bool = True) -> tuple[str, list[Path]]:
    """Write ``report.md`` and the PNG plots for ``results_dir`` into ``out_dir``.

    ``out_dir`` defaults to ``results_dir/report``. Returns the table text and the files
    written.
    """
    results = load_results(results_dir)
    target = ensure_writable_dir(Path(out_dir) if out_dir else Path(results_dir) / "report")
    table = markdown_table(results)
    report_path = target / "report.md"
    atomic_write(report_path, lambda f: f.write("# Results\n\n" + table))
    written = [report_path]
    if plots and results:
        from prlstm.experiments.plots import write_plots

        written += write_plots(group_results(results), target)
    return table, written
