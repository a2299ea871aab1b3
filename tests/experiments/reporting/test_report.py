"""The report on a hand-checkable set of result files (new fields and old ones without them)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from prlstm.experiments.reporting.budget import FINAL_WEIGHTS, budget_lines
from prlstm.experiments.reporting.report import markdown_table, runs_table, score_cell, write_report
from prlstm.experiments.reporting.results import summarise
from prlstm.experiments.run.evaluate import FIT_THRESHOLD, RESULT_FILE
from prlstm.experiments.run.trainlog import read_log

VALIDATION = {"every": 50, "lengths": [60, 250, 500], "per_length": 8, "seed": 3}


def _result(task: str, model: str, seed: int, score: float, *, in_range: float | None = None,
            steps: Any = "absent", decay: int | None = None) -> dict[str, Any]:
    """A result.json; ``in_range=None``: an old file without the new fields; ``steps``:
    steps_to_generalise (``"absent"``: validation off)."""
    accuracy = [1.0] * 4 + [score] * 6  # train_length 4, lengths 1..10
    result: dict[str, Any] = {
        "task": task, "level": "regular", "model": model, "preset": "cpu", "seed": seed,
        "lr": 0.001, "steps": 400, "score": score, "solved": score >= 0.9, "train_length": 4,
        "lengths": list(range(1, 11)), "accuracy": accuracy, "device": "cpu",
        "torch_version": "2.13.0+cpu", "model_config": {"model": model, "hidden_size": 8},
        "config": {"batch_size": 16, "eval_per_length": 32},
    }
    if decay is not None:
        result["config"].update(lr_decay_fraction=decay / 400, steps=400)
    if in_range is not None:
        result["in_range_accuracy"] = in_range
        result["fitted"] = in_range >= FIT_THRESHOLD
    if steps != "absent":
        result["steps_to_generalise"] = steps
        result["validation"] = VALIDATION
    return result


RUNS = [  # (result, train_log rows: step, accuracy, val_score or "")
    _result("parity_check", "pr_lstm", 0, 1.0, in_range=1.0, steps=100, decay=200),
    _result("parity_check", "pr_lstm", 1, 0.95, in_range=1.0, steps=300, decay=200),
    _result("parity_check", "pr_lstm", 2, 0.5, in_range=0.99, steps=None, decay=200),
    _result("parity_check", "lstm", 0, 0.92),  # an old result: no new fields
    _result("parity_check", "transformer", 0, 0.5, in_range=0.55, steps=None, decay=0),
    _result("even_pairs", "lstm", 0, 0.6, in_range=0.97, steps=None),
    _result("even_pairs", "transformer", 0, 0.5, in_range=0.5),  # validation off
]


def _write_log(run_dir: Path, new_columns: bool) -> None:
    header = ["step", "loss", "accuracy", "wall_seconds"]
    header += ["grad_norm", "grad_norm_max", "lr", "val_score"] if new_columns else []
    with open(run_dir / "train_log.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for step in (1, 50, 100, 150):
            row = [step, 0.5, 0.5 + step / 400, step / 10]
            if new_columns:
                row += [1.5, 2.0, 0.001, 0.9 if step % 50 == 0 else ""]
            writer.writerow(row)


@pytest.fixture
def results_tree(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for i, result in enumerate(RUNS):
        run_dir = root / result["task"] / result["model"] / f"run{i}"
        run_dir.mkdir(parents=True)
        (run_dir / RESULT_FILE).write_text(json.dumps(result))
        _write_log(run_dir, new_columns="validation" in result)
    return root


def _rows(table: str) -> dict[str, list[str]]:
    """``{task: cells}`` of the first table holding that task (the score table)."""
    rows: dict[str, list[str]] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1] not in rows:
            rows[cells[1]] = cells[2:]
    return rows


def test_score_cells_by_hand() -> None:
    table = markdown_table(RUNS)
    rows = _rows(table)
    assert rows["Task"] == ["pr_lstm", "lstm", "transformer"]
    # scores 100, 95, 50: mean 81.67, sample std sqrt(758.33) = 27.54; every run fitted
    assert rows["parity_check"] == ["**100.0** (81.7 ± 27.5) · n=3 · fit 3/3",
                                    "**92.0** · n=1 · fit –", "50.0† · n=1 · fit 0/1"]
    # the row's best (60.0) is not solved: no bold; no ± for single runs
    assert rows["even_pairs"] == ["–", "60.0 · n=1 · fit 1/1", "50.0† · n=1 · fit 0/1"]
    assert rows["**solved**"] == ["1/1", "1/2", "0/2"]
    assert "(100.0 ± 0.0)" not in table and "± 0.0" not in table
    assert "† did not fit its training range: in-range accuracy < 90 %." in table


def test_in_range_and_steps_to_generalise_by_hand() -> None:
    table = markdown_table(RUNS)
    second = table[table.index("**In-range accuracy**"):]
    rows = _rows(second)
    # in-range 100, 100, 99: mean 99.67, std 0.58; generalised at 100 and 300: median 200
    assert rows["parity_check"] == ["100.0 (99.7 ± 0.6) · gen. step 200 (2/3)",
                                    "– · gen. –", "55.0 · gen. never (0/1)"]
    assert rows["even_pairs"] == ["–", "97.0 · gen. never (0/1)", "50.0 · gen. –"]
    assert "**solved**" not in second


def test_solved_but_not_fitted_is_bold_and_marked() -> None:
    cell = summarise([_result("parity_check", "lstm", 0, 0.95, in_range=0.8),
                      _result("parity_check", "lstm", 1, 0.2, in_range=0.95)])
    assert cell.solved and cell.best_fitted is False
    assert score_cell(cell) == "**95.0**† (57.5 ± 53.0) · n=2 · fit 1/2"


def test_budget_lines() -> None:
    table = markdown_table(RUNS)
    assert "Training steps: 400 (every model)." in table
    assert "Seeds: pr_lstm: 0, 1, 2; lstm, transformer: 0. " in table
    assert ("Learning rates: 0.001 (pr_lstm: linear decay to 0 over the last 200 steps; "
            "lstm, transformer: constant)") in table
    slice_text = "every 50 steps, lengths 60, 250, 500, 8 sequences per length, seed 3"
    assert (f"Validation during training (out-of-range slice): pr_lstm: {slice_text}; "
            f"lstm, transformer: {slice_text} / off. ") in table
    assert FINAL_WEIGHTS in table
    assert "Device: cpu; torch 2.13.0+cpu." in table
    assert "Evaluation: test lengths 5..10, 32 sequences per length." in table
    widths = [{**RUNS[0], "model_config": {"model": "pr_lstm", "hidden_size": h}}
              for h in (479, 69, 128, 69)]
    assert "; recurrent H=69, H=128, H=479." in "\n".join(budget_lines(widths))  # by number
    old_only = markdown_table([RUNS[3]])
    assert "(constant)" in old_only and "slice): off. The final weights are evaluated." in old_only


def test_runs_table_lists_every_run() -> None:
    lines = runs_table(RUNS).splitlines()
    assert len(lines) == 2 + len(RUNS)
    assert lines[2] == "| even_pairs | lstm | 0 | 0.001 | 60.0 | 97.0 | yes | never |"
    assert lines[3] == "| even_pairs | transformer | 0 | 0.001 | 50.0 | 50.0 | no † | – |"
    assert lines[4] == "| parity_check | pr_lstm | 0 | 0.001 | 100.0 | 100.0 | yes | 100 |"
    assert "| parity_check | lstm | 0 | 0.001 | 92.0 | – | – | – |" in lines


def test_read_log_optional_columns(results_tree: Path) -> None:
    new = read_log(next(results_tree.glob("parity_check/pr_lstm/*")))
    assert [r["val_score"] for r in new][1:] == [0.9, 0.9, 0.9] and math.isnan(new[0]["val_score"])
    assert new[0]["grad_norm"] == 1.5 and new[0]["lr"] == 0.001
    old = read_log(next(results_tree.glob("parity_check/lstm/*")))
    assert [r["step"] for r in old] == [1, 50, 100, 150]
    assert all(math.isnan(r[k]) for r in old for k in ("grad_norm", "lr", "val_score"))


@pytest.mark.slow
def test_write_report_and_plots(results_tree: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    table, written = write_report(results_tree, tmp_path / "rep")
    names = {p.name for p in written}
    assert names == {"report.md", "scores.png", "accuracy_parity_check.png",
                     "accuracy_even_pairs.png", "training_parity_check.png",
                     "training_even_pairs.png", "comparison.png"}  # pr_lstm has 3 seeds
    assert all(p.stat().st_size > 1000 for p in written)
    text = (tmp_path / "rep" / "report.md").read_text()
    assert text.startswith("# Results\n\n" + table) and "<summary>Every run</summary>" in text
    assert "](scores.png)" in text and "](comparison.png)" in text
    _, no_plots = write_report(results_tree, tmp_path / "bare", plots=False)
    assert ".png" not in (tmp_path / "bare" / "report.md").read_text()
    assert [p.name for p in no_plots] == ["report.md"]


def test_score_grid_numbers() -> None:
    from prlstm.experiments.reporting.plots import score_grid, score_grid_plot
    from prlstm.experiments.reporting.results import group_results

    tasks, models, rows = score_grid(group_results(RUNS))
    assert tasks == ["even_pairs", "parity_check"]
    assert models == ["pr_lstm", "lstm", "transformer"]
    even, parity = rows
    assert math.isnan(even[0][0]) and even[0][1:] == ("–", False)  # no pr_lstm run
    assert even[2][1:] == ("50†\navg 50, n=1", False)  # did not fit
    assert parity[0][1:] == ("100\navg 82, n=3", True)
    assert parity[0][0] == pytest.approx((100 + 95 + 50) / 3)
    assert parity[1][1:] == ("92\navg 92, n=1", True)  # an old file: no fit mark
    with pytest.raises(ValueError, match="at least one"):
        score_grid_plot({}, Path("unused.png"))


def _planned_result(planned: dict[str, Any], score: float) -> dict[str, Any]:
    """A finished result for one placeholder of :func:`planned_runs`."""
    result = _result(planned["task"], planned["model"], 0, score, in_range=1.0)
    result.update(run_id=planned["run_id"], preset="cpu-ablations",
                  model_config={"model": planned["model"], **planned["config"]["hparams"]})
    return result


def test_preset_shows_every_planned_cell_and_its_progress() -> None:
    from prlstm.experiments.reporting.plan import NOT_RUN, planned_runs

    planned = planned_runs("cpu-ablations")
    assert len(planned) == 126 and len({p["run_id"] for p in planned}) == 126
    first = planned[0]  # even_pairs, pr_lstm refinements=0, seed 0
    stray = _planned_result(first, 0.3)
    stray["run_id"] = "even_pairs/pr_lstm/not-in-the-preset"  # shown, not counted
    results = [_planned_result(first, 1.0), stray]
    text = markdown_table(results, preset="cpu-ablations")
    score_header = next(line for line in text.splitlines() if line.startswith("| Level"))
    columns = [c.strip() for c in score_header.strip("|").split("|")][2:]
    assert columns == ["pr_lstm hidden_size=128 refinements=0",
                       "pr_lstm hidden_size=128 refinements=1",
                       "pr_lstm hidden_size=128 refinements=2",
                       "pr_lstm hidden_size=69 refinements=1",
                       "pr_rnn refinements=0", "pr_rnn refinements=1", "pr_rnn refinements=2"]
    score_rows = text.split("**In-range")[0]
    for task in ("even_pairs", "parity_check", "bucket_sort", "missing_duplicate_string"):
        assert f" {task} |" in score_rows
    even = next(line for line in score_rows.splitlines() if " even_pairs |" in line)
    assert even.count(NOT_RUN) == 6 and "**100.0** (65.0 ± 49.5) · n=2" in even
    assert "2 of 126 planned runs finished" not in text  # the stray run is not planned
    assert "1 of 126 planned runs finished" in text
    progress = text.split("**Progress**")[1]
    assert "| even_pairs | 1/3 | 0/3 | 0/3 | 0/3 | 0/3 | 0/3 | 0/3 |" in progress
    assert "| bucket_sort | 0/3 |" in progress
    assert "Progress" not in markdown_table(results)  # without a preset: as before


def test_report_cli_refuses_an_unknown_preset(results_tree: Path, capsys) -> None:
    from prlstm.cli import main

    with pytest.raises(SystemExit):
        main(["report", str(results_tree), "--preset", "nope", "--no-plots"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    assert main(["report", str(results_tree), "--preset", "smoke", "--no-plots"]) == 0
    assert "**Progress** of preset smoke: 0 of 3 planned runs finished" in (
        capsys.readouterr().out)


def test_tuple_defaults_and_their_json_lists_label_alike() -> None:
    from prlstm.experiments.reporting.plan import planned_runs
    from prlstm.experiments.reporting.results import variant_labels

    planned = [p for p in planned_runs("cpu-full") if p["model"] == "tape_rnn"][:1]
    assert planned, "cpu-full plans tape_rnn runs"
    finished = _planned_result(planned[0], 1.0)
    finished["model_config"] = json.loads(json.dumps(finished["model_config"]))  # as saved
    finished["model_config"]["mlp_layers_size"] = [64, 64]  # a tuple in the registry
    assert variant_labels([finished, *planned]) == ["tape_rnn", "tape_rnn"]


def test_preset_with_no_finished_run_shows_the_plan() -> None:
    text = markdown_table([], preset="cpu-ablations")
    assert text.startswith("No results found.")
    assert "0 of 126 planned runs finished" in text
    assert "| bucket_sort | 0/3 | 0/3 | 0/3 | 0/3 | 0/3 | 0/3 | 0/3 |" in text
    assert markdown_table([]) == "No results found.\n"  # without a preset: nothing to plan


def test_a_tuned_preset_counts_the_runs_at_each_cells_chosen_lr(tmp_path: Path) -> None:
    """cpu-fair trains its reporting seeds at the lr its tuning chose, so the plan reads the
    choice files: a run at the chosen lr counts, a cell with no choice yet counts nothing."""
    from prlstm.experiments.orchestrate.tuning import choice_path, write_choice
    from prlstm.experiments.reporting.plan import UNCHOSEN, planned_runs

    grid_lrs = [3e-4, 1e-3, 3e-3]
    label = "pr_lstm hidden_size=128"
    write_choice(choice_path(tmp_path, "parity_check", label), "parity_check", label, grid_lrs,
                 {3e-4: {100: 0.5}, 1e-3: {100: 0.6}, 3e-3: {100: 0.9}}, 3e-3)
    before = planned_runs("cpu-fair")  # no root: nothing is chosen
    assert len(before) == 440 and all(p["run_id"].startswith(UNCHOSEN) for p in before)
    planned = planned_runs("cpu-fair", tmp_path)
    assert len(planned) == 440 and len({p["run_id"] for p in planned}) == 440
    chosen = [p for p in planned if not p["run_id"].startswith(UNCHOSEN)]
    assert len(chosen) == 8  # the one cell with a choice, 8 reporting seeds
    assert {(p["task"], p["model"], p["config"]["hparams"]["hidden_size"]) for p in chosen} == {
        ("parity_check", "pr_lstm", 128)}
    assert all("-lr0.003-" in p["run_id"] for p in chosen)

    finished = _planned_result(chosen[0], 1.0)
    at_other_lr = dict(finished, run_id=chosen[0]["run_id"].replace("lr0.003", "lr0.001"))
    text = markdown_table([finished, at_other_lr], preset="cpu-fair", root=tmp_path)
    assert "1 of 440 planned runs finished" in text
    assert "432 of them wait for their cell's lr choice" in text
    assert "| parity_check | 1/8 | 0/8 |" in text.split("**Progress**")[1]


def test_a_damaged_choice_file_leaves_its_cell_unchosen_in_the_plan(tmp_path: Path) -> None:
    from prlstm.experiments.orchestrate.tuning import choice_path
    from prlstm.experiments.reporting.plan import UNCHOSEN, planned_runs

    path = choice_path(tmp_path, "parity_check", "pr_lstm hidden_size=128")
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    planned = planned_runs("cpu-fair", tmp_path)  # no error: the report still renders
    assert all(p["run_id"].startswith(UNCHOSEN) for p in planned)


def test_the_score_table_shows_each_columns_parameter_counts() -> None:
    """Recorded counts where result.json has them, else counted by building the model from its
    saved settings (lstm at H = 8 on parity_check's and even_pairs' vocabularies)."""
    from prlstm import models, tasks

    runs = [dict(r) for r in RUNS]
    runs[0]["parameters"], runs[1]["parameters"] = 1234, 1300  # two pr_lstm counts: a range
    expected_lstm = sorted({models.count_parameters("lstm", tasks.get(t).input_size,
                                                    tasks.get(t).output_size, hidden_size=8)
                            for t in ("parity_check", "even_pairs")})
    lstm_text = "–".join(f"{c:,}" for c in (expected_lstm[0], expected_lstm[-1])) \
        if len(expected_lstm) > 1 else f"{expected_lstm[0]:,}"
    row = _rows(markdown_table(runs))["parameters"]
    header = next(line for line in markdown_table(runs).splitlines() if line.startswith("| Level"))
    columns = [c.strip() for c in header.strip("|").split("|")][2:]
    by_column = dict(zip(columns, row, strict=True))
    spec = tasks.get("parity_check")
    built = models.count_parameters("pr_lstm", spec.input_size, spec.output_size, hidden_size=8)
    low, high = min(built, 1234), max(built, 1300)  # run 2 records none: built at H = 8
    assert by_column["pr_lstm"] == f"{low:,}–{high:,}"
    assert by_column["lstm"] == lstm_text
    assert "First row: each column's parameter counts" in markdown_table(runs)


def test_the_plan_finds_choices_in_the_parent_like_the_comparison(tmp_path: Path) -> None:
    """``prlstm report OUT/sub --preset ...`` finds OUT/tuning, as the comparison section does."""
    from prlstm.experiments.orchestrate.tuning import choice_path, write_choice
    from prlstm.experiments.reporting.plan import UNCHOSEN, planned_runs

    label = "pr_lstm hidden_size=128"
    write_choice(choice_path(tmp_path, "parity_check", label), "parity_check", label,
                 [3e-4, 1e-3, 3e-3], {3e-4: {100: 0.5}, 1e-3: {100: 0.9}, 3e-3: {100: 0.6}},
                 1e-3)
    planned = planned_runs("cpu-fair", tmp_path / "sub")
    assert sum(not p["run_id"].startswith(UNCHOSEN) for p in planned) == 8
