"""PNG plots from saved results (matplotlib, Agg backend).

They draw E4 and E6: docs/experiments.md#e4-training-time and
docs/experiments.md#e6-accuracy-vs-length.

* ``accuracy_<task>.png``: accuracy at every evaluated length, a panel per model (shared axes)
  with a line per run (seed, lr and score in the legend), the training range 1..N shaded.
* ``training_<task>.png``: training accuracy (solid) and, where validation ran, the out-of-range
  validation score (dashed, dots) of every run, against the update step and against wall-clock
  training seconds (two panels), read from ``train_log.csv``; every model of the task in one
  figure.
* ``scores.png``: the whole table at a glance — a heatmap of tasks (rows, benchmark order) ×
  models (columns), coloured by the mean score over the cell's runs and annotated with the best
  score, the mean and ``n``; solved cells (best ≥ 90 %) in bold, ``†`` where the best run did
  not fit its training range, empty cells grey.
* ``comparison.png`` (from a fair comparison's numbers, :func:`comparison_figure`): a row per
  task, the solve rate with its Wilson interval (left) and the mean score with its bootstrap
  interval (right) of every variant; the reference in black, variants distinguishable from it
  (or from its model's variant nearest in size) marked ``*``, ``**`` where that holds after
  Holm's correction over all the pairs.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from prlstm.experiments.reporting.comparison_text import neither_solved
from prlstm.experiments.reporting.results import Results, ordered_models, ordered_tasks, summarise
from prlstm.experiments.run.evaluate import SOLVED_THRESHOLD
from prlstm.experiments.run.io import atomic_write_file
from prlstm.experiments.run.trainlog import read_log
from prlstm.naming import file_in

RunsByModel = dict[str, list[dict[str, Any]]]
MAX_LEGEND = 8  # runs per panel with a legend entry each


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("plots need matplotlib: pip install 'prlstm[plot]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    atomic_write_file(path, lambda name: fig.savefig(name, format="png", dpi=110,
                                                         bbox_inches="tight"))


def _colour(index: int) -> str:
    return f"C{index % 10}"


def _run_label(run: dict[str, Any]) -> str:
    """``seed 0, lr 0.001: score 7.8, in-range 99.5`` (``†`` if it did not fit)."""
    label = f"seed {run.get('seed')}, lr {run.get('lr')}: score {100 * run['score']:.1f}"
    in_range = run.get("in_range_accuracy")
    if isinstance(in_range, int | float):
        label += f", in-range {100 * in_range:.1f}"
    return label + (" †" if run.get("fitted") is False else "")


def accuracy_plot(task: str, runs_by_model: RunsByModel, path: Path) -> None:
    """Accuracy vs length for one task: a panel per model (same axes), a line per run."""
    plt = _pyplot()
    n_models = len(runs_by_model)
    fig, axes = plt.subplots(n_models, 1, figsize=(10.5, 0.6 + 2.3 * n_models), sharex=True,
                             sharey=True, squeeze=False)
    train_length = max(int(r.get("train_length") or 0) for runs in runs_by_model.values()
                       for r in runs)
    for ax, (model, runs) in zip(axes[:, 0], runs_by_model.items(), strict=True):
        ax.axvspan(0.5, train_length + 0.5, color="0.88")
        ordered = sorted(runs, key=lambda r: (str(r.get("lr")), float(r.get("seed") or 0)))
        for j, r in enumerate(ordered):
            lengths = r.get("lengths") or list(range(1, len(r["accuracy"]) + 1))
            ax.plot(lengths, [100 * a for a in r["accuracy"]], lw=0.8, alpha=0.8,
                    color=_colour(j), label=_run_label(r) if len(runs) <= MAX_LEGEND else None)
        scores = [100 * r["score"] for r in runs]
        summary = f"n={len(runs)}, best {max(scores):.1f}"
        if len(runs) > 1:
            summary += f", median {statistics.median(scores):.1f}"
        ax.set_title(f"{model} ({summary})", fontsize=9, loc="left")
        ax.set(ylabel="accuracy (%)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
        if len(runs) <= MAX_LEGEND:
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel(f"sequence length (shaded: training lengths 1..{train_length})")
    fig.suptitle(f"{task}: accuracy by length, every run", fontsize=11)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _series(rows: list[dict[str, float]], x: str, y: str) -> tuple[list[float], list[float]]:
    pairs = [(r[x], 100 * r[y]) for r in rows if not math.isnan(r.get(y, math.nan))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def training_plot(task: str, runs_by_model: RunsByModel, path: Path) -> bool:
    """Training accuracy and validation score vs step and vs wall-clock seconds for one task
    (every run of every model); False if no run has a log."""
    logs = {m: [rows for r in runs if (rows := read_log(r["run_dir"]))]
            for m, runs in runs_by_model.items()}
    logs = {m: run_logs for m, run_logs in logs.items() if run_logs}
    if not logs:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    any_val = False
    for i, (model, run_logs) in enumerate(logs.items()):
        for j, rows in enumerate(run_logs):
            for ax, x in zip(axes, ("step", "wall_seconds"), strict=True):
                label = f"{model} (n={len(run_logs)})" if j == 0 and x == "step" else None
                ax.plot(*_series(rows, x, "accuracy"), lw=0.9, alpha=0.6, color=_colour(i),
                        label=label)
                val_x, val_y = _series(rows, x, "val_score")
                if val_x:
                    any_val = True
                    ax.plot(val_x, val_y, ls="--", marker=".", ms=4, lw=1.1, color=_colour(i))
    threshold = 100 * SOLVED_THRESHOLD
    for ax in axes:
        ax.axhline(threshold, color="0.5", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    axes[0].plot([], [], color="0.3", lw=0.9, label="training accuracy")
    if any_val:
        axes[0].plot([], [], color="0.3", ls="--", marker=".", label="validation score "
                     "(out-of-range slice)")
    axes[0].plot([], [], color="0.5", lw=0.8, ls=":", label=f"{threshold:.0f} %")
    axes[0].set(title=f"{task}: against update step", xlabel="step", ylabel="accuracy (%)",
                ylim=(-2, 102))
    axes[1].set(title=f"{task}: against wall-clock", xlabel="training seconds (no warm-up)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8,
               frameon=False)
    _save(fig, path)
    plt.close(fig)
    return True


GridCell = tuple[float, str, bool]  # (mean score or nan, annotation, solved)


def score_grid(groups: Results) -> tuple[list[str], list[str], list[list[GridCell]]]:
    """The numbers behind ``scores.png``: tasks, models, and a row of cells per task.

    A cell is ``(mean score, "best[†]\\navg mean, n=N", solved)``; an empty cell is
    ``(nan, "–", False)``.
    """
    task_names, model_names = ordered_tasks(groups), ordered_models(groups)
    rows = []
    for task in task_names:
        row: list[GridCell] = []
        for model in model_names:
            runs = groups.get((task, model))
            if not runs:
                row.append((math.nan, "–", False))
                continue
            cell = summarise(runs)
            mark = "†" if cell.best_fitted is False else ""
            row.append((cell.mean, f"{cell.best:.0f}{mark}\navg {cell.mean:.0f}, n={cell.n}",
                        cell.solved))
        rows.append(row)
    return task_names, model_names, rows


def score_grid_plot(groups: Results, path: Path) -> None:
    """Heatmap of the score table: tasks × models, colour = mean score, text = best / mean."""
    task_names, model_names, rows = score_grid(groups)
    if not task_names:
        raise ValueError("groups must hold at least one (task, model) cell, got none")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.25 * len(model_names), 0.9 + 0.42 * len(task_names)))
    for i, row in enumerate(rows):
        for j, (mean, text, solved) in enumerate(row):
            colour = "0.4" if math.isnan(mean) else "black" if mean > 35 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour,
                    fontweight="bold" if solved else "normal")
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
    image = ax.imshow([[mean for mean, _, _ in row] for row in rows], cmap=cmap, vmin=0,
                      vmax=100, aspect="auto")
    ax.set_xticks(range(len(model_names)), [m.replace(" ", "\n") for m in model_names],
                  fontsize=7)
    ax.set_yticks(range(len(task_names)), task_names, fontsize=8)
    ax.tick_params(top=True, bottom=False, labeltop=True, labelbottom=False)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="mean score over runs (%)")
    ax.set_title(f"best score (bold: solved, ≥ {100 * SOLVED_THRESHOLD:.0f} %; † did not fit "
                 "its training range) / mean score, n runs", fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def write_plots(groups: Results, out_dir: Path) -> list[Path]:
    """The score heatmap, then both plots for every task in ``groups``; returns the files
    written."""
    if not groups:
        return []
    scores_path = out_dir / "scores.png"
    score_grid_plot(groups, scores_path)
    written = [scores_path]
    for task in ordered_tasks(groups):
        runs = {m: groups[(task, m)] for m in ordered_models(groups) if (task, m) in groups}
        accuracy_path = file_in(out_dir, "accuracy_", task, ".png")  # task names read from files
        accuracy_plot(task, runs, accuracy_path)
        written.append(accuracy_path)
        training_path = file_in(out_dir, "training_", task, ".png")
        if training_plot(task, runs, training_path):
            written.append(training_path)
    return written


def comparison_figure(data: dict[str, Any]) -> Any:
    """The figure of ``comparison.json``'s numbers (see the module doc); each task's axes are
    ``fig.axes[2 * i]`` (solve rate, %) and ``fig.axes[2 * i + 1]`` (mean score, %), with one
    error bar per scored variant, top to bottom in the report's order."""
    cells = [c for c in data["cells"] if c["n"]]
    task_names = list(dict.fromkeys(c["task"] for c in cells))
    if not task_names:
        raise ValueError("comparison data must hold at least one scored cell, got none")
    marks = {(p["task"], p["other"]): (" **" if p.get("survives_holm") else " *")
             + (" (neither solved a run)" if neither_solved(p)
                else "")
             for p in data["pairs"] if p["distinguishable"]}
    against = {(p["task"], p["other"]): f" (vs {p['reference']})" for p in data["pairs"]
               if p["reference"] != data["reference"]}
    plt = _pyplot()
    most = max(sum(c["task"] == t for c in cells) for t in task_names)
    fig, axes = plt.subplots(len(task_names), 2, squeeze=False, sharex=True,
                             figsize=(9.0, 0.6 + len(task_names) * (0.5 + 0.26 * most)))
    for row, task in zip(axes, task_names, strict=True):
        here = [c for c in cells if c["task"] == task]
        labels = [c["variant"] + against.get((task, c["variant"]), "")
                  + marks.get((task, c["variant"]), "") for c in here]
        for ax, value, interval in ((row[0], "solve_rate", "solve_ci"),
                                    (row[1], "mean", "mean_ci")):
            for y, c in enumerate(here):
                centre, (low, high) = 100 * c[value], (100 * x for x in c[interval])
                colour = "black" if c["variant"] == data["reference"] else "C0"
                ax.errorbar([centre], [y], xerr=[[centre - low], [high - centre]], fmt="o",
                            color=colour, markersize=4, capsize=3)
            ax.set_yticks(range(len(here)), labels, fontsize=7)
            ax.set_ylim(len(here) - 0.5, -0.5)
            ax.set_xlim(-3, 103)
            ax.grid(axis="x", alpha=0.3)
        row[0].set_ylabel(task, fontsize=8)
        row[1].tick_params(labelleft=False)
    axes[-1][0].set_xlabel("solved runs, % (Wilson 95 % CI)", fontsize=8)
    axes[-1][1].set_xlabel("mean score, % (bootstrap 95 % CI)", fontsize=8)
    fig.suptitle(f"reference (black): {data['reference']}; * distinguishable from it (or from "
                 "its model's variant nearest in size), "
                 f"** also after Holm over all pairs (solved: score ≥ "
                 f"{100 * data['threshold']:.0f} %)", fontsize=8)
    fig.tight_layout()
    return fig


def comparison_plot(data: dict[str, Any], path: Path) -> None:
    """Write :func:`comparison_figure` of ``data`` to ``path`` (PNG)."""
    plt = _pyplot()
    fig = comparison_figure(data)
    _save(fig, path)
    plt.close(fig)
