"""PNG plots from saved results (matplotlib, Agg backend; experiments.md E4 and E6).

* ``accuracy_<task>.png``: accuracy at every evaluated length, one line per model (its best
  run), with the training range 1..N shaded.
* ``training_<task>.png``: training loss and accuracy against the update step, one line per
  model (its best run), read from ``train_log.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prlstm.experiments.io import atomic_write_file
from prlstm.experiments.results import Results, best_run, ordered_models, ordered_tasks
from prlstm.experiments.trainlog import read_log


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("plots need matplotlib: pip install 'prlstm[plot]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    atomic_write_file(path, lambda name: fig.savefig(name, format="png", dpi=110))


def accuracy_plot(task: str, runs_by_model: dict[str, dict[str, Any]], path: Path) -> None:
    """Accuracy vs length for one task (one line per model)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    train_length = max(int(r["train_length"]) for r in runs_by_model.values())
    ax.axvspan(0.5, train_length + 0.5, color="0.85", label=f"training lengths 1..{train_length}")
    for model, run in runs_by_model.items():
        ax.plot(run["lengths"], [100 * a for a in run["accuracy"]], lw=1.2,
                label=f"{model} (score {100 * run['score']:.1f})")
    ax.set(title=task, xlabel="sequence length", ylabel="accuracy (%)", ylim=(-2, 102))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def training_plot(task: str, runs_by_model: dict[str, dict[str, Any]], path: Path) -> bool:
    """Training loss and accuracy vs step for one task; False if no run has a log."""
    logs = {m: read_log(r["run_dir"]) for m, r in runs_by_model.items()}
    logs = {m: rows for m, rows in logs.items() if rows}
    if not logs:
        return False
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for model, rows in logs.items():
        steps = [r["step"] for r in rows]
        ax_loss.plot(steps, [r["loss"] for r in rows], lw=1.2, label=model)
        ax_acc.plot(steps, [100 * r["accuracy"] for r in rows], lw=1.2, label=model)
    ax_loss.set(title=f"{task}: training loss", xlabel="step", ylabel="loss")
    ax_acc.set(title=f"{task}: training accuracy", xlabel="step", ylabel="accuracy (%)",
               ylim=(-2, 102))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True


def write_plots(groups: Results, out_dir: Path) -> list[Path]:
    """Both plots for every task in ``groups``; returns the files written."""
    written = []
    for task in ordered_tasks(groups):
        best = {m: best_run(groups[(task, m)]) for m in ordered_models(groups)
                if (task, m) in groups}
        accuracy_path = out_dir / f"accuracy_{task}.png"
        accuracy_plot(task, best, accuracy_path)
        written.append(accuracy_path)
        training_path = out_dir / f"training_{task}.png"
        if training_plot(task, best, training_path):
            written.append(training_path)
    return written
