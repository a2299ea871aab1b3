"""The report's fair-comparison section on fake runs with known scores (two variants × 8 seeds,
plus runs at a learning rate the tuning choice did not pick)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from prlstm import models, tasks
from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.orchestrate.tuning import CONFIG_FILE, choice_path, write_choice
from prlstm.experiments.reporting.comparison import (
    JSON_FILE,
    common_hparams,
    comparison_data,
    comparison_section,
    find_choice,
)
from prlstm.experiments.reporting.comparison_text import (
    edge_note,
    escape,
    lr_text,
    render,
    short_verdict,
)
from prlstm.experiments.reporting.report import write_report
from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.reporting.stats import (
    cell_stats,
    compare,
    fisher_solve_test,
    wilson_interval,
)
from prlstm.experiments.run.evaluate import RESULT_FILE, SOLVED_THRESHOLD
from prlstm.experiments.run.io import intact, read_json, with_digest, write_json
from prlstm.experiments.run.trainlog import LogRow, TrainLog, read_rows, steps_to_threshold

SEEDS = range(8)
PR_SCORES = [1.0, 0.95, 0.92, 1.0, 0.97, 0.5, 0.99, 0.93]  # 7 of 8 solve
LSTM_SCORES = [0.5, 0.6, 0.4, 0.91, 0.55, 0.3, 0.45, 0.5]  # 1 of 8 solves
CHOSEN, OTHER_LR = 1e-3, 3e-3
PR_PARAMETERS = 1234  # recorded in result.json; lstm results record none (counted by building)


def make_run(root: Path, model: str, seed: int, lr: float, score: float) -> Path:
    """A finished run as training and evaluation leave it: config.json, a train_log.csv whose
    validation score reaches 0.95 at step ``2 + seed % 5`` when the run solves, and a
    result.json with a digest (``steps_to_generalise`` computed from the log, as evaluation
    does; wall-clock seconds are half the step)."""
    config = make_config("parity_check", model, "smoke", seed=seed, lr=lr)
    run_dir = root / config.run_id()
    run_dir.mkdir(parents=True)
    write_json(run_dir / CONFIG_FILE, config.to_dict())
    first = 2 + seed % 5 if score >= SOLVED_THRESHOLD else None
    log = TrainLog(run_dir)
    for step in range(1, config.steps + 1):
        val = 0.95 if first is not None and step >= first else 0.5
        log.append(LogRow(step=step, loss=1.0, accuracy=0.9, wall_seconds=0.5 * step,
                          lr=lr, val_score=val))
    n, m = config.train_length, config.eval_length
    result: dict[str, Any] = {
        "task": config.task, "level": "regular", "model": model, "preset": config.preset,
        "seed": seed, "lr": lr, "steps": config.steps, "score": score,
        "solved": score >= SOLVED_THRESHOLD, "in_range_accuracy": 1.0, "fitted": True,
        "validation": {"every": 1, "lengths": [m], "per_length": 8, "seed": 2},
        "steps_to_generalise": steps_to_threshold(read_rows(run_dir), SOLVED_THRESHOLD),
        "train_length": n, "lengths": list(range(1, m + 1)),
        "accuracy": [1.0] * n + [score] * (m - n), "train_seconds": 100.0 + 2 * seed,
        "model_config": {"model": model, **config.hparams}, "config": config.to_dict(),
        "run_id": config.run_id(),
    }
    if model == "pr_lstm":
        result["parameters"] = PR_PARAMETERS
        result["train_cpu_seconds"] = 60.0 + 2 * seed  # the lstm's runs predate the CPU clock
    write_json(run_dir / RESULT_FILE, with_digest(result))
    return run_dir


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``results/``: pr_lstm at the chosen lr (8 seeds) and at another lr (2 seeds, score 0),
    lstm at one lr (8 seeds); pr_lstm's choice file in ``results/tuning``."""
    root = tmp_path_factory.mktemp("cmp") / "results"
    for seed in SEEDS:
        make_run(root, "pr_lstm", seed, CHOSEN, PR_SCORES[seed])
        make_run(root, "lstm", seed, CHOSEN, LSTM_SCORES[seed])
    for seed in (0, 1):
        make_run(root, "pr_lstm", seed, OTHER_LR, 0.0)
    write_choice(choice_path(root, "parity_check", "pr_lstm"), "parity_check", "pr_lstm",
                 [CHOSEN, OTHER_LR], {CHOSEN: {0: 0.9, 1: 0.95}, OTHER_LR: {0: 0.2, 1: 0.1}},
                 CHOSEN)
    return root


@pytest.fixture(scope="module")
def data(tree: Path) -> dict[str, Any]:
    """The section's numbers for :func:`tree`."""
    return comparison_data(load_results(tree), tree)


def _cells(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The cells by variant label (one task)."""
    return {c["variant"]: c for c in data["cells"]}


def _table_rows(text: str) -> dict[str, list[str]]:
    """``{first cell: other cells}`` of the first table row starting with each first cell."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def test_chosen_lr_filters_runs(data: dict[str, Any]) -> None:
    pr = _cells(data)["pr_lstm"]
    assert pr["n"] == 8 and pr["runs"] == 10 and pr["excluded"] == 2
    assert pr["scores"] == PR_SCORES and sorted(pr["seeds"]) == list(SEEDS)
    assert not any("lr0.003" in run_id for run_id in pr["run_ids"])
    assert pr["lr"]["chosen"] == CHOSEN and pr["lr"]["grid"] == [CHOSEN, OTHER_LR]
    assert pr["lr"]["run_lrs"] == [CHOSEN, OTHER_LR] and pr["lr"]["tuning_seeds"] == [0, 1]
    lstm = _cells(data)["lstm"]
    assert lstm["lr"]["chosen"] is None and lstm["excluded"] == 0 and lstm["n"] == 8


def test_cell_numbers_match_stats(data: dict[str, Any]) -> None:
    for label, scores, solves in (("pr_lstm", PR_SCORES, 7), ("lstm", LSTM_SCORES, 1)):
        cell, expected = _cells(data)[label], cell_stats(scores, SOLVED_THRESHOLD)
        assert cell["solves"] == solves == expected.solves
        assert cell["solve_ci"] == pytest.approx(list(wilson_interval(solves, 8)))
        assert cell["mean_ci"] == [expected.mean_low, expected.mean_high]
        assert cell["mean"] == pytest.approx(statistics.fmean(scores))
        assert cell["median_train_seconds"] == 107.0  # 100 + 2 * seed over seeds 0..7
        assert not cell["incomplete"]
    gen = _cells(data)["pr_lstm"]["generalise"]
    # solved seeds 0,1,2,3,4,6,7 first reach 0.95 at 2,3,4,5,6,3,4: median step 4, at 2.0 s
    assert (gen["reached"], gen["validated"], gen["median_steps"]) == (7, 8, 4)
    assert gen["median_seconds"] == 2.0 and gen["text"] == "step 4 (7/8)"
    assert _cells(data)["lstm"]["generalise"]["median_steps"] == 5  # seed 3 only


def test_parameters_recorded_or_built(data: dict[str, Any]) -> None:
    assert _cells(data)["pr_lstm"]["parameters"] == [PR_PARAMETERS]
    spec = tasks.get("parity_check")
    built = models.count_parameters("lstm", spec.input_size, spec.output_size, hidden_size=8)
    assert _cells(data)["lstm"]["parameters"] == [built]


def test_pair_p_values_and_verdict(data: dict[str, Any]) -> None:
    (pair,) = data["pairs"]
    expected = compare(PR_SCORES, LSTM_SCORES, SOLVED_THRESHOLD)
    assert (pair["reference"], pair["other"]) == ("pr_lstm", "lstm")
    assert (pair["solves_reference"], pair["solves_other"]) == (7, 1)
    assert pair["fisher_p"] == pytest.approx(fisher_solve_test(7, 8, 1, 8))
    assert pair["permutation_p"] == pytest.approx(expected.permutation_p)
    assert pair["verdict"] == expected.verdict
    assert pair["verdict"].startswith("distinguishable at n = 8")
    assert pair["mean_reference"] == pytest.approx(statistics.fmean(PR_SCORES))
    assert pair["mean_other"] == pytest.approx(statistics.fmean(LSTM_SCORES))


@pytest.mark.parametrize(("fields", "text"), [
    ({"distinguishable": True, "mean_reference": 0.9, "mean_other": 0.4},
     "distinguishable, reference higher"),
    ({"distinguishable": True, "mean_reference": 0.4, "mean_other": 0.9},
     "distinguishable, reference lower"),
    # equal means (or a file from before the means were saved): the solves decide
    ({"distinguishable": True, "mean_reference": 0.5, "mean_other": 0.5}, "reference lower"),
    ({"distinguishable": True}, "distinguishable, reference lower"),
    ({"distinguishable": False, "attainable": True}, "not distinguishable"),
    ({"distinguishable": False, "attainable": False}, "too few runs to tell"),
])
def test_short_verdict(fields: dict[str, Any], text: str) -> None:
    pair = {"solves_reference": 1, "solves_other": 6, "attainable": True, **fields}
    assert short_verdict(pair).endswith(text)


def test_holm_runs_over_every_pair_of_the_report() -> None:
    """Three variants against the reference on two tasks: four pairs, one Holm family. A pair
    distinguishable alone (p 0.012 < 0.025) but not after Holm says so."""
    from prlstm.experiments.reporting.stats import holm_adjusted

    strong, weak = [1.0] * 8, [0.2] * 8  # 8 of 8 solved vs none: Fisher p 0.00016
    near = [0.2] * 6 + [0.95] * 2  # 0 vs 2 solves; scores differ less
    results = []
    for task in ("parity_check", "cycle_navigation"):
        for model, scores in (("pr_lstm", strong), ("lstm", weak), ("rnn", near)):
            results += [{"task": task, "level": "regular", "model": model, "seed": s,
                         "lr": 1e-3, "steps": 10, "score": v, "run_id": f"{task}/{model}/{s}",
                         "model_config": {"model": model}} for s, v in enumerate(scores)]
    data = comparison_data(results, Path("no-such-dir"))
    pairs = data["pairs"]
    assert len(pairs) == 4
    raw = [min(1.0, 2 * min(p["fisher_p"], p["permutation_p"])) for p in pairs]
    assert [p["holm_p"] for p in pairs] == pytest.approx(holm_adjusted(raw))
    lstm = next(p for p in pairs if p["other"] == "lstm")
    assert lstm["holm_p"] == pytest.approx(4 * raw[0]) and lstm["survives_holm"]
    assert short_verdict(lstm) == "distinguishable, reference higher"
    fragile = {**lstm, "holm_p": 0.06, "survives_holm": False}
    assert short_verdict(fragile) == "distinguishable, reference higher; not after Holm"
    assert "over the 4 pairs of the report" in render(data)


def test_a_difference_between_two_failures_says_so() -> None:
    """Two variants at chance (0 of 8 solved each) can differ in mean score by a hair and still
    be distinguishable; the verdict says neither solved, the other verdicts stay as they are."""
    pair = {"distinguishable": True, "attainable": True, "solves_reference": 0,
            "solves_other": 0, "mean_reference": 0.198, "mean_other": 0.202}
    assert short_verdict(pair) == "distinguishable, reference lower (neither solved a run)"
    assert short_verdict({**pair, "solves_other": 1}) == "distinguishable, reference lower"
    assert short_verdict({**pair, "distinguishable": False}) == "not distinguishable"


def test_cells_record_their_common_settings(tree: Path) -> None:
    (pr,) = [c for c in comparison_data(load_results(tree), tree)["cells"]
             if c["variant"] == "pr_lstm"]
    assert pr["hparams"] == make_config("parity_check", "pr_lstm", "smoke").hparams
    runs = [{"config": {"hparams": {"hidden_size": 8, "refinements": r}}} for r in (1, 2)]
    assert common_hparams(runs) == {"hidden_size": 8}
    assert common_hparams([{}]) == {}


def test_markdown_table(tree: Path, data: dict[str, Any]) -> None:
    text = comparison_section(load_results(tree), tree)
    rows = _table_rows(text)
    lo, hi = wilson_interval(7, 8)
    pr_stats = cell_stats(PR_SCORES)
    assert rows["pr_lstm"] == [
        f"{PR_PARAMETERS:,}", "6", "1e-3 of {1e-3, 3e-3}", "8",
        f"7/8 ({100 * lo:.0f}–{100 * hi:.0f} %)",
        f"{100 * pr_stats.mean:.1f} ({100 * pr_stats.mean_low:.1f}–"
        f"{100 * pr_stats.mean_high:.1f})", "107 s (CPU 67 s)", "step 4 (7/8) · 2.0 s"]
    assert rows["lstm"][6] == "107 s"
    lo, hi = wilson_interval(1, 8)
    assert rows["lstm"][2:5] == ["1e-3 (untuned)", "8", f"1/8 ({100 * lo:.0f}–{100 * hi:.0f} %)"]
    pair = data["pairs"][0]
    pair_row = next(line for line in text.splitlines()
                    if line.startswith("| lstm | pr_lstm | 8 vs 8"))
    # one pair in the report: Holm leaves its p (twice the smaller of the two) as it is
    holm = 2 * min(pair["fisher_p"], pair["permutation_p"])
    assert pair["holm_p"] == pytest.approx(holm) and pair["survives_holm"] is (holm < 0.05)
    assert pair_row == (f"| lstm | pr_lstm | 8 vs 8 | 7 vs 1 | {pair['fisher_p']:.2g} | "
                        f"{pair['permutation_p']:.2g} | {holm:.2g} | "
                        "distinguishable, reference higher |")
    assert "2 runs at non-chosen learning rates are left out." in text
    assert "1 of 2 cells have no lr choice file" in text
    assert "2 runs here are at a tuning seed and the chosen lr" in text  # seeds 0, 1 at 1e-3
    assert rows["lstm"][-1] == "step 5 (1/8) · 2.5 s"
    assert "No pairs on" not in text and "Each pair (1 here)" in text
    # the choice's validation numbers: seeds 0, 1 at 1e-3 (0.9, 0.95) and 3e-3 (0.2, 0.1)
    choice = text[text.index("Learning-rate choice"):].splitlines()
    assert choice[0].startswith("Learning-rate choice: mean final validation score (%) over "
                                "the tuning seed(s) 0, 1; bold: chosen")
    assert choice[2:5] == ["| Variant | 1e-3 | 3e-3 |", "|---|---|---|",
                           "| pr_lstm | **92.5** | 15.0 |"]  # lstm is untuned: no row
    assert _cells(data)["pr_lstm"]["lr"]["validation"] == [
        {"lr": CHOSEN, "mean": pytest.approx(0.925)}, {"lr": OTHER_LR, "mean": pytest.approx(0.15)}]


def test_report_writes_section_and_json(tree: Path, tmp_path: Path,
                                        data: dict[str, Any]) -> None:
    table, written = write_report(tree, tmp_path / "rep", plots=False)
    report = (tmp_path / "rep" / "report.md").read_text()
    assert report.startswith("# Results\n\n" + table) and "## Fair comparison" in report
    assert report.index("## Fair comparison") < report.index("<summary>Every run")
    saved = read_json(tmp_path / "rep" / JSON_FILE)
    assert intact(saved) and saved["format"] == 1 and saved["reference"] == "pr_lstm"
    assert saved["cells"] == data["cells"] and saved["pairs"] == data["pairs"]
    assert saved["usual_n"] == 8 and saved["threshold"] == SOLVED_THRESHOLD


def test_reference_from_the_cli(tree: Path, tmp_path: Path) -> None:
    from prlstm.cli import main

    out = tmp_path / "cli"
    assert main(["report", str(tree), "--out", str(out), "--no-plots",
                 "--reference", "lstm"]) == 0
    text = (out / "report.md").read_text()
    assert "Each other variant against lstm or," in text
    assert "| pr_lstm | lstm | 8 vs 8 | 1 vs 7 |" in text


def test_single_runs_give_no_section(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "pr_lstm", 0, CHOSEN, 1.0)
    make_run(root, "lstm", 0, CHOSEN, 0.5)
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / JSON_FILE).write_text("{}")  # from an earlier report: removed
    write_report(root, tmp_path / "rep", plots=False)
    assert "Fair comparison" not in (tmp_path / "rep" / "report.md").read_text()
    assert not (tmp_path / "rep" / JSON_FILE).exists()


def _fake(task: str, model: str, seed: int, score: float, lr: float = 1e-3) -> dict[str, Any]:
    """An in-memory result (no run directory, no parameter count)."""
    return {"task": task, "model": model, "seed": seed, "lr": lr, "steps": 10,
            "score": score, "accuracy": [score]}


def test_names_from_result_files_are_escaped(tmp_path: Path) -> None:
    results = [_fake("<script>|x", "<img src=x>", s, 0.5 + 0.1 * s) for s in range(3)]
    text = comparison_section(results, tmp_path)
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;\\|x" in text and "&lt;img src=x&gt;" in text
    assert escape("a|b<c>&`*[d]") == "a\\|b&lt;c&gt;&amp;\\`\\*\\[d\\]"
    assert all(line.count("|") - line.count("\\|") == 10
               for line in text.splitlines() if line.startswith("| &lt;img"))


def test_incomplete_pooled_and_unattainable(tmp_path: Path) -> None:
    results = [_fake("parity_check", "pr_lstm", s, 1.0) for s in range(4)]
    results += [_fake("parity_check", "lstm", s, 0.2, lr) for s in range(2)
                for lr in (1e-3, 3e-3)]
    results += [_fake("parity_check", "rnn", 0, 0.3)]
    data = comparison_data(results, tmp_path)
    cells = _cells(data)
    assert data["usual_n"] == 4 and cells["rnn"]["incomplete"] and not cells["lstm"]["incomplete"]
    assert cells["lstm"]["n"] == 4 and cells["lstm"]["lr"]["run_lrs"] == [1e-3, 3e-3]
    text = comparison_section(results, tmp_path)
    assert "1e-3, 3e-3 (pooled, untuned)" in text and "| rnn (incomplete) |" in text
    assert "Learning-rate choice" not in text  # no choice files: nothing to show
    assert "parity_check / rnn (n = 1)" in text and "and 1 pool runs at several lrs" in text
    # 4 vs 4: the smallest p of either test is 2 / C(8, 4) = 0.029 > 0.025
    assert "At n = 4 vs 1, 4 vs 4 no outcome could be distinguishable" in text
    alone = comparison_section(results, tmp_path, reference="gru")
    assert "No pairs on parity_check: the reference has no scored run there." in alone
    assert "Each other variant against" not in alone


def test_choice_in_parent_and_damaged_choice(tmp_path: Path) -> None:
    root = tmp_path / "results"
    root.mkdir()
    path = choice_path(tmp_path, "parity_check", "pr_lstm")
    write_choice(path, "parity_check", "pr_lstm", [1e-3], {1e-3: {0: 0.5}}, 1e-3)
    choice, source = find_choice(root, "parity_check", "pr_lstm")
    assert choice is not None and choice.chosen == 1e-3 and source == str(path)
    damaged = read_json(path)
    damaged["chosen_lr"] = 0.5
    write_json(path, damaged)
    choice, problem = find_choice(root, "parity_check", "pr_lstm")
    assert choice is None and problem is not None and "damaged" in problem
    data = comparison_data([_fake("parity_check", "pr_lstm", 0, 1.0)], root)
    assert data["cells"][0]["lr"]["unreadable"] == problem


def test_no_run_at_the_chosen_lr(tmp_path: Path) -> None:
    write_choice(choice_path(tmp_path, "parity_check", "lstm"), "parity_check", "lstm",
                 [1e-3, 3e-3], {1e-3: {0: 0.9}, 3e-3: {0: 0.1}}, 1e-3)
    results = [_fake("parity_check", "pr_lstm", s, 1.0) for s in range(2)]
    results += [_fake("parity_check", "lstm", s, 0.2, 3e-3) for s in range(2)]
    data = comparison_data(results, tmp_path)
    lstm = _cells(data)["lstm"]
    assert (lstm["n"], lstm["excluded"], data["pairs"]) == (0, 2, [])
    text = comparison_section(results, tmp_path)
    row = next(line for line in text.splitlines() if line.startswith("| lstm (incomplete) |"))
    assert row.endswith("| 10 | 1e-3 of {1e-3, 3e-3} | 0 | no scored run at the chosen lr | | | |")


@pytest.mark.parametrize(("lr", "text"), [(1e-3, "1e-3"), (3e-4, "3e-4"), (2.5e-4, "2.5e-4"),
                                          (0.01, "0.01"), (0.1, "0.1")])
def test_lr_text(lr: float, text: str) -> None:
    assert lr_text(lr) == text and math.isclose(float(text), lr)


def test_comparison_figure_draws_every_interval(data: dict[str, Any]) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    from prlstm.experiments.reporting.plots import comparison_figure

    fig = comparison_figure(data)
    solves, means = fig.axes[0], fig.axes[1]
    cells = [c for c in data["cells"] if c["n"]]
    for ax, value, interval in ((solves, "solve_rate", "solve_ci"), (means, "mean", "mean_ci")):
        bars = ax.containers
        assert len(bars) == len(cells)
        for y, (bar, cell) in enumerate(zip(bars, cells, strict=True)):
            (x,), (row,) = bar.lines[0].get_data()
            assert (x, row) == (pytest.approx(100 * cell[value]), y)
            (segment,) = bar.lines[2][0].get_segments()
            assert [p[0] for p in segment] == pytest.approx([100 * v for v in cell[interval]])
    labels = [t.get_text() for t in solves.get_yticklabels()]
    assert labels == ["pr_lstm", "lstm **"]  # distinguishable from the reference, after Holm
    fragile = {**data, "pairs": [{**data["pairs"][0], "survives_holm": False}]}
    labels = [t.get_text() for t in comparison_figure(fragile).axes[0].get_yticklabels()]
    assert labels == ["pr_lstm", "lstm *"]  # distinguishable only before Holm
    with pytest.raises(ValueError, match="at least one scored cell"):
        comparison_figure({**data, "cells": []})


def _tuned_cell(chosen: float, means: dict[float, float | None]) -> dict[str, Any]:
    return {"lr": {"chosen": chosen, "validation": [{"lr": lr, "mean": m}
                                                    for lr, m in means.items()]}}


def test_edge_note_counts_strict_choices_at_the_grid_ends() -> None:
    cells = [_tuned_cell(3e-3, {3e-4: 0.2, 1e-3: 0.3, 3e-3: 0.9}),  # top, strict
             _tuned_cell(3e-4, {3e-4: 0.8, 1e-3: 0.3, 3e-3: None}),  # bottom, strict
             _tuned_cell(3e-4, {3e-4: 0.5, 1e-3: 0.5, 3e-3: 0.5}),  # a tie: not counted
             _tuned_cell(1e-3, {3e-4: 0.2, 1e-3: 0.9, 3e-3: 0.1}),  # inside the grid
             _tuned_cell(1e-3, {1e-3: 0.9}),  # a grid of one lr has no edge to speak of
             {"lr": {"chosen": None, "validation": None}}]  # untuned
    assert edge_note(cells) == ("1 of 6 cells chose the largest lr of their grid and 1 the "
                                "smallest, strictly better there than at every other lr: "
                                "their best lr may lie outside the grid.")
    assert edge_note(cells[2:]) == ""
    check = {"edge_cells": 2, "finished": 2, "outward_wins": 1}
    assert edge_note(cells, check).endswith(
        "An edge check (`tuning/edge_check.json`: the tuning seed again at the next half-decade "
        "outward, validation only) found that the outward lr would have been chosen in 1 of "
        "the 2 edge cells it checked; the choices were kept.")
    assert edge_note(cells, {**check, "finished": 0}) == edge_note(cells)  # nothing checked
    assert edge_note(cells[2:], check) == ""


def test_comparison_data_reads_an_edge_check_next_to_the_choices(tmp_path: Path) -> None:
    from prlstm.experiments.reporting.comparison import _edge_check

    runs = tmp_path / "runs"
    runs.mkdir()
    assert _edge_check(runs) is None
    path = runs / "tuning" / "edge_check.json"
    path.parent.mkdir()
    checked = [{"task": t, "variant": v, "finished": f, "outward_wins": w} for t, v, f, w in (
        ("parity_check", "lstm", True, True), ("parity_check", "rnn", False, None),
        ("bucket_sort", "lstm", True, False))]
    write_json(path, {"edge_cells": 3, "finished": 2, "outward_wins": 1, "cells": checked})
    assert _edge_check(runs) == {"edge_cells": 3, "finished": 2, "outward_wins": 1}
    # a report of some cells counts the checked cells among them
    results = [_fake(t, m, s, 0.5) for t in ("parity_check", "bucket_sort")
               for m in ("lstm", "gru") for s in range(2)]
    assert comparison_data(results, runs)["edge_check"] == {"edge_cells": 2, "finished": 2,
                                                            "outward_wins": 1}
    assert comparison_data(results[:4], runs)["edge_check"] == {
        "edge_cells": 1, "finished": 1, "outward_wins": 1}  # parity_check only
    assert comparison_data([], runs)["edge_check"] == {"edge_cells": 0, "finished": 0,
                                                       "outward_wins": 0}
    path.write_text("{damaged", encoding="utf-8")
    assert _edge_check(runs) is None  # unreadable: no sentence rather than a failed report


def _sized(model: str, hidden: int, parameters: int, scores: list[float]) -> list[dict[str, Any]]:
    """In-memory results of one variant (its width in ``config.hparams``, its size recorded)."""
    return [{**_fake("parity_check", model, s, score), "parameters": parameters,
             "config": {"hparams": {"hidden_size": hidden}}} for s, score in enumerate(scores)]


def test_each_variant_is_tested_against_the_reference_model_nearest_in_size(
        tmp_path: Path) -> None:
    """The cpu-fair layout: PR-LSTM at two widths; the LSTM at its own width goes against
    PR-LSTM at the LSTM's size, the matched LSTM and a rival against PR-LSTM at H = 128, and
    the small PR-LSTM against the big one (its own model: the reference)."""
    results = (_sized("pr_lstm", 128, 232_322, [1.0] * 8) + _sized("pr_lstm", 69, 68_243,
                                                                   [1.0] * 4 + [0.5] * 4)
               + _sized("lstm", 128, 67_842, [0.5] * 8) + _sized("lstm", 239, 232_788, [0.5] * 8)
               + _sized("rnn", 128, 17_282, [1.0] * 8) + _sized("mamba", 127, 240_000, [0.5] * 8))
    data = comparison_data(results, tmp_path)
    assert data["reference"] == "pr_lstm hidden_size=128"
    against = {p["other"]: p["reference"] for p in data["pairs"]}
    assert against == {"pr_lstm hidden_size=69": "pr_lstm hidden_size=128",
                       "lstm hidden_size=128": "pr_lstm hidden_size=69",
                       "lstm hidden_size=239": "pr_lstm hidden_size=128",
                       "rnn": "pr_lstm hidden_size=69", "mamba": "pr_lstm hidden_size=128"}
    small = next(p for p in data["pairs"] if p["other"] == "lstm hidden_size=128")
    assert (small["solves_reference"], small["solves_other"]) == (4, 0)
    text = comparison_section(results, tmp_path)
    assert "| lstm hidden_size=128 | pr_lstm hidden_size=69 | 8 vs 8 | 4 vs 0 |" in text
    # a size tie goes to the reference (either order); an unknown size too
    for big, small in ((400, 100), (100, 400)):
        pr = _sized("pr_lstm", 128, big, [1.0] * 4) + _sized("pr_lstm", 69, small, [1.0] * 4)
        tie = _sized("gru", 10, 200, [0.5] * 4)
        unknown = [{**r, "parameters": None} for r in _sized("custom", 10, 1, [0.5] * 4)]
        more = comparison_data(pr + tie + unknown, tmp_path)
        against = {p["other"]: p["reference"] for p in more["pairs"]}
        assert against["gru"] == against["custom"] == "pr_lstm hidden_size=128"


def test_the_plot_names_a_pairs_size_matched_reference(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from prlstm.experiments.reporting.plots import comparison_figure

    results = (_sized("pr_lstm", 128, 232_322, [1.0] * 8) + _sized("pr_lstm", 69, 68_243,
                                                                   [1.0] * 8)
               + _sized("lstm", 128, 67_842, [0.5] * 8) + _sized("lstm", 239, 232_788, [1.0] * 8))
    fig = comparison_figure(comparison_data(results, tmp_path))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "pr_lstm hidden_size=128", "pr_lstm hidden_size=69",
        "lstm hidden_size=128 (vs pr_lstm hidden_size=69) **", "lstm hidden_size=239"]


def test_the_plot_says_when_neither_side_of_a_distinguishable_pair_solved(
        tmp_path: Path) -> None:
    """Two failures that differ (at chance and just above it) say nothing about which
    generalises; the label says so, as the verdicts do."""
    pytest.importorskip("matplotlib")
    from prlstm.experiments.reporting.plots import comparison_figure

    results = (_sized("pr_lstm", 128, 232_322, [0.3] * 8) + _sized("lstm", 239, 232_788,
                                                                   [0.2] * 8)
               + _sized("rnn", 479, 232_796, [1.0] * 8))
    data = comparison_data(results, tmp_path)
    assert all(p["distinguishable"] for p in data["pairs"])
    labels = [t.get_text() for t in comparison_figure(data).axes[0].get_yticklabels()]
    assert labels == ["pr_lstm", "rnn **", "lstm ** (neither solved a run)"]
