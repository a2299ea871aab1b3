"""``prlstm report``: Markdown results tables in the shape of the paper's Table 2.

Rows are tasks grouped by level (regular, DCF, CS, in benchmark order), columns are models
(variants). Two tables, each cell summarising that task and model's ``n`` runs (seeds ×
learning rates):

* **Score**: the best run's out-of-range score, then ``(mean ± std)`` over the runs when
  ``n >= 2``, ``n``, and how many runs fitted their training range. Only solved cells (best
  score ≥ 90 %) are bold; a ``†`` marks a cell whose best run did not fit its training range
  (in-range accuracy < 90 %), i.e. "not trained" rather than "does not generalise". A final row
  counts the solved tasks per model.
* **In-range accuracy and steps to generalise**: the best run's in-range accuracy (lengths
  1..N; mean ± std when n ≥ 2), and the median over the runs that generalised of the first
  logged step whose validation score reached 90 % (with how many of the validated runs did),
  or "never".

``--preset NAME`` lays the tables out over that preset's whole grid: every planned cell is
shown (``not run yet`` where no run has finished) and a progress table counts finished /
planned runs per cell (:mod:`prlstm.experiments.reporting.plan`).

``report.md`` adds a table of every run. Result files written before a field existed show
"–" for it. Everything is read from the saved ``result.json`` files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prlstm.experiments.reporting.budget import budget_lines
from prlstm.experiments.reporting.plan import (
    DASH,
    NOT_RUN,
    UNCHOSEN,
    Layout,
    layout,
    planned_runs,
    progress_table,
)
from prlstm.experiments.reporting.results import (
    CellSummary,
    group_results,
    load_results,
    ordered_models,
    ordered_tasks,
    summarise,
    variant_labels,
)
from prlstm.experiments.run.evaluate import FIT_THRESHOLD, SOLVED_THRESHOLD
from prlstm.experiments.run.io import atomic_write, ensure_writable_dir, read_json

LEVEL_TITLES = {"regular": "Regular", "dcf": "DCF", "cs": "CS"}
NOT_FITTED = "†"
NOT_FITTED_LEGEND = (f"{NOT_FITTED} did not fit its training range: in-range accuracy < "
                     f"{100 * FIT_THRESHOLD:.0f} %.")


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def _spread(mean: float | None, std: float | None) -> str:
    """`` (mean ± std)`` when there is a std (n >= 2), else nothing."""
    return "" if mean is None or std is None else f" ({mean:.1f} ± {std:.1f})"


def score_cell(cell: CellSummary) -> str:
    """``**best**† (mean ± std) · n=3 · fit 2/3``: bold only if solved, ``†`` if the best
    run did not fit, ``(mean ± std)`` only for n >= 2, ``fit –`` for results without it."""
    best = _pct(cell.best)
    if cell.solved:
        best = f"**{best}**"
    if cell.best_fitted is False:
        best += NOT_FITTED
    fit = f"{cell.fitted}/{cell.fit_known}" if cell.fit_known else DASH
    return f"{best}{_spread(cell.mean, cell.std)} · n={cell.n} · fit {fit}"


def generalise_text(cell: CellSummary) -> str:
    """``step 450 (2/3)`` (median over the runs that generalised), ``never (0/3)``, or ``–``
    when no run was validated."""
    if not cell.validated:
        return DASH
    k = len(cell.generalised_steps)
    if not k:
        return f"never (0/{cell.validated})"
    return f"step {cell.median_steps:g} ({k}/{cell.validated})"


def in_range_cell(cell: CellSummary) -> str:
    """``in-range best (mean ± std) · gen. step 450 (2/3)``."""
    spread = _spread(cell.in_range_mean, cell.in_range_std) if cell.in_range_known > 1 else ""
    return f"{_pct(cell.best_in_range)}{spread} · gen. {generalise_text(cell)}"


def extra_lengths_cell(runs: list[dict[str, Any]]) -> str:
    """``1k 98.4 · 10k 95.0 (n=3)``: mean accuracy over the runs at each extra length."""
    by_length: dict[int, list[float]] = {}
    for r in runs:
        for length, acc in ((r.get("extra_lengths") or {}).get("accuracy") or {}).items():
            by_length.setdefault(int(length), []).append(100.0 * acc)
    if not by_length:
        return DASH
    def name(n: int) -> str:
        return f"{n // 1000}k" if n % 1000 == 0 else str(n)

    parts = [f"{name(n)} {sum(v) / len(v):.1f}" for n, v in sorted(by_length.items())]
    counts = {len(v) for v in by_length.values()}
    return " · ".join(parts) + f" (n={'/'.join(str(c) for c in sorted(counts))})"


def parameters_row(lay: Layout, model_names: list[str]) -> str:
    """``| | parameters | 232,322–235,397 | ... |``: each column's parameter counts over its
    tasks (they differ with the tasks' vocabularies), ``–`` where none can be counted."""
    from prlstm.experiments.reporting.comparison import parameters  # it imports this module

    cells = []
    for m in model_names:
        counts = parameters([r for (_, label), runs in lay.groups.items() if label == m
                             for r in runs])
        cells.append(DASH if not counts else f"{counts[0]:,}" if len(counts) == 1
                     else f"{counts[0]:,}–{counts[-1]:,}")
    return "| | parameters | " + " | ".join(cells) + " |"


def _grid(lay: Layout, render: Callable[[CellSummary, list[dict[str, Any]]], str],
          solved_row: bool, params_row: bool = False) -> list[str]:
    task_names, model_names = ordered_tasks(lay.keys), ordered_models(lay.keys)
    lines = ["| Level | Task | " + " | ".join(model_names) + " |",
             "|---|---|" + "---|" * len(model_names)]
    if params_row:
        lines.append(parameters_row(lay, model_names))
    solved = dict.fromkeys(model_names, 0)
    attempted = dict.fromkeys(model_names, 0)
    previous_level = None
    for task in task_names:
        level = lay.levels.get(task, "?")
        texts = []
        for m in model_names:
            runs = lay.groups.get((task, m))
            if not runs:
                texts.append(NOT_RUN if lay.planned[(task, m)] else DASH)
                continue
            cell = summarise(runs)
            attempted[m] += 1
            solved[m] += cell.solved
            texts.append(render(cell, runs))
        title = LEVEL_TITLES.get(level, level) if level != previous_level else ""
        previous_level = level
        head = f"| {title} |" if title else "| |"
        lines.append(f"{head} {task} | " + " | ".join(texts) + " |")
    if solved_row:
        lines.append("| | **solved** | " + " | ".join(f"{solved[m]}/{attempted[m]}"
                                                      for m in model_names) + " |")
    return lines


def published_table(results: list[dict[str, Any]]) -> list[str]:
    """Published 1M-step scores for the tasks and models of ``results`` (empty if none)."""
    from prlstm.experiments.reporting.published import SOURCES, published

    groups = group_results(results)
    task_names, model_names = ordered_tasks(groups), ordered_models(groups)
    base = {label: r["model"] for label, r in zip(variant_labels(results), results, strict=True)}
    rows, used = [], set()
    for task in task_names:
        cells = []
        for label in model_names:
            found = published(task, base.get(label, label))
            if found:
                used.add(found[1])
            cells.append(f"{found[0]:.1f} ({found[1]})" if found else DASH)
        if any(c != DASH for c in cells):
            rows.append(f"| {task} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    return ["**Published** scores (%, 1M training steps; NOT measured here — for comparison "
            "only): " + "; ".join(f"{k}: {SOURCES[k]}" for k in sorted(used)) + ". "
            "–: not found in a readable source.", "",
            "| Task | " + " | ".join(model_names) + " |",
            "|---|" + "---|" * len(model_names), *rows]


def markdown_table(results: list[dict[str, Any]], *, with_published: bool = False,
                   preset: str | None = None, root: str | Path | None = None) -> str:
    """The budget lines and summary tables (Markdown) for ``results``; ``with_published``
    adds the published 1M-step scores for the same tasks and models; ``preset`` shows every
    cell of that preset's grid (``not run yet`` where nothing finished) and its progress
    (``root``: the sweep's output, where a tuned preset's lr choices are recorded)."""
    planned = planned_runs(preset, root) if preset else None
    lay = layout(results, planned)
    unchosen = sum(p["run_id"].startswith(UNCHOSEN) for p in planned or [])
    if not results:  # nothing finished yet: with a preset, still show what is planned
        return "\n".join(["No results found.", *([""] + progress_table(lay, preset, unchosen)
                                                 if preset else [])]) + "\n"
    lines = [*budget_lines(results), "",
             "**Score** (out-of-range accuracy, %): best run, (mean ± std over the runs when "
             "n ≥ 2), n runs (seeds × learning rates), runs that fitted their training range. "
             f"Bold: solved. {NOT_FITTED_LEGEND} First row: each column's parameter counts "
             "(they vary with the tasks' vocabularies).", "",
             *_grid(lay, lambda cell, _: score_cell(cell), solved_row=True, params_row=True),
             "",
             "**In-range accuracy** (lengths 1..N, %) of the best run (mean ± std when n ≥ 2) "
             "and **steps to generalise**: median first logged step with validation score "
             f"≥ {100 * SOLVED_THRESHOLD:.0f} % over the runs that reached it (runs that did / "
             "validated runs); never: none did; –: no validation.", "",
             *_grid(lay, lambda cell, _: in_range_cell(cell), solved_row=False)]
    if any(r.get("extra_lengths") for r in results):
        per_length = sorted({r["extra_lengths"].get("per_length") for r in results
                             if r.get("extra_lengths")}, key=str)
        lines += ["", "**Far beyond the test range** (`prlstm eval RUN --lengths ...`): mean "
                  "accuracy (%) over the runs at each extra length, "
                  f"{'/'.join(str(k) for k in per_length)} sequences per length; not part of "
                  "the score. A model that has learned the automaton keeps its accuracy.", "",
                  *_grid(lay, lambda _, runs: extra_lengths_cell(runs), solved_row=False)]
    if with_published and (table := published_table(results)):
        lines += ["", *table]
    if preset and (table := progress_table(lay, preset, unchosen)):
        lines += ["", *table]
    return "\n".join(lines) + "\n"


def _fitted_text(run: dict[str, Any]) -> str:
    fitted = run.get("fitted")
    return DASH if not isinstance(fitted, bool) else ("yes" if fitted else f"no {NOT_FITTED}")


def _steps_text(run: dict[str, Any]) -> str:
    if "steps_to_generalise" not in run:
        return DASH
    steps = run["steps_to_generalise"]
    return "never" if steps is None else str(int(steps))


def runs_table(results: list[dict[str, Any]]) -> str:
    """A Markdown row per run: score, in-range accuracy, fitted, steps to generalise."""
    lines = ["| Task | Model | Seed | lr | Score | In-range | Fitted | Steps to generalise |",
             "|---|---|---|---|---|---|---|---|"]
    groups = group_results(results)
    task_rank = {t: i for i, t in enumerate(ordered_tasks(groups))}
    model_rank = {m: i for i, m in enumerate(ordered_models(groups))}
    rows = sorted(zip(variant_labels(results), results, strict=True),
                  key=lambda lr: (task_rank[lr[1]["task"]], model_rank[lr[0]],
                                  str(lr[1].get("lr")), float(lr[1].get("seed") or 0)))
    for label, r in rows:
        in_range = r.get("in_range_accuracy")
        in_text = DASH if not isinstance(in_range, int | float) else f"{100 * in_range:.1f}"
        lines.append(f"| {r['task']} | {label} | {r.get('seed', DASH)} | {r.get('lr', DASH)} | "
                     f"{100 * r['score']:.1f} | {in_text} | {_fitted_text(r)} | "
                     f"{_steps_text(r)} |")
    return "\n".join(lines) + "\n"


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, *,
                 plots: bool = True, published: bool = False,
                 preset: str | None = None, reference: str | None = None
                 ) -> tuple[str, list[Path]]:
    """Write ``report.md`` and the PNG plots for ``results_dir`` into ``out_dir``.

    ``out_dir`` defaults to ``results_dir/report``. When a cell has two runs or more, the
    fair-comparison section (pairs against ``reference``) is added and its numbers are saved
    as ``comparison.json`` (:mod:`prlstm.experiments.reporting.comparison`). Returns the
    summary tables' text (without the per-run table and that section, which only ``report.md``
    holds) and the files written (not ``comparison.json``).
    """
    results = load_results(results_dir)
    target = ensure_writable_dir(Path(out_dir) if out_dir else Path(results_dir) / "report")
    table = markdown_table(results, with_published=published, preset=preset,
                           root=results_dir)
    text = "# Results\n\n" + table
    saved: Path | None = None
    if results:
        from prlstm.experiments.reporting.comparison import write_comparison  # imports this module

        section, saved = write_comparison(results, results_dir, target, reference)
        text += f"\n{section}" if section else ""
        if plots and saved is not None:
            text += "\n![Fair comparison: solve rates and mean scores](comparison.png)\n"
        text += ("\n<details><summary>Every run</summary>\n\n" + runs_table(results)
                 + "\n</details>\n")
    if plots and results:
        text += "\n![Scores: tasks × models at a glance](scores.png)\n"
    report_path = target / "report.md"
    atomic_write(report_path, lambda f: f.write(text))
    written = [report_path]
    if plots and results:
        from prlstm.experiments.reporting.plots import write_plots

        written += write_plots(group_results(results), target)
        if saved is not None:
            from prlstm.experiments.reporting.plots import comparison_plot

            comparison_plot(read_json(saved), target / "comparison.png")
            written.append(target / "comparison.png")
    return table, written
