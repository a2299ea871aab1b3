"""``results/cpu-fair/edge_check.py``: which cells it checks beyond the lr grid, and how it
judges them (by the tuning rule, on validation scores only)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from prlstm.experiments.orchestrate.tuning import CONFIG_FILE, choice_path, write_choice
from prlstm.experiments.run.io import read_json, write_json
from tests.helpers import load_script

from ..experiments.orchestrate.test_tuning import write_log

SCRIPT = Path(__file__).resolve().parents[2] / "results" / "cpu-fair" / "edge_check.py"
GRID = (3e-4, 1e-3, 3e-3)


@pytest.fixture(scope="module")
def edge_check():
    return load_script(SCRIPT, "prlstm_results_edge_check")


def _tuning_run(root: Path, config, final_val: float) -> None:
    run = root / "tuning" / "runs" / config.run_id()
    run.mkdir(parents=True)
    write_json(run / CONFIG_FILE, config.to_dict())
    write_log(run, [0.1, final_val])


def _choices(root: Path, cells, edge) -> None:
    """Every cell chooses 1e-3 inside the grid, except ``edge``, which chooses 3e-3 (0.8)."""
    for cell in cells:
        means = (0.2, 0.5, 0.8) if cell == edge else (0.2, 0.9, 0.5)
        scores = {lr: {100: m} for lr, m in zip(GRID, means, strict=True)}
        chosen = 3e-3 if cell == edge else 1e-3
        write_choice(choice_path(root, cell.task, cell.label), cell.task, cell.label, GRID,
                     scores, chosen)


@pytest.mark.parametrize(("outward_score", "wins"), [(0.85, True), (0.8, False), (0.3, False)])
def test_an_edge_cell_is_judged_by_the_tuning_rule(edge_check, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   outward_score: float, wins: bool) -> None:
    cells = edge_check.cells()
    assert len(cells) == 55
    edge = next(c for c in cells if c.task == "parity_check" and c.model == "mamba")
    _choices(tmp_path, cells, edge)
    with pytest.raises(SystemExit, match="no tuning run at the chosen lr"):
        edge_check.edge_cells(tmp_path)  # the chosen lr's tuning run must be there
    chosen_run = dataclasses.replace(
        edge_check.make(edge.task, edge.model, edge.hparams, 100, 3e-3), test=False)
    _tuning_run(tmp_path, chosen_run, 0.8)
    found = edge_check.edge_cells(tmp_path)
    assert [(c.task, c.label, side) for c, side, _ in found] == [("parity_check", "mamba", "top")]
    (config,) = found[0][2]
    assert (config.lr, config.seed, config.test) == (1e-2, 100, False)  # never the test set

    monkeypatch.setattr(edge_check, "trained", lambda run_dir, config: run_dir.is_dir())
    pending = edge_check.summary(tmp_path, found)
    assert (pending["edge_cells"], pending["finished"], pending["outward_wins"]) == (1, 0, 0)
    assert pending["cells"][0]["outward_wins"] is None

    _tuning_run(tmp_path, config, outward_score)
    data = edge_check.summary(tmp_path, found)
    (row,) = data["cells"]
    assert row["outward_mean"] == pytest.approx(outward_score)
    assert row["outward_wins"] is wins and data["outward_wins"] == int(wins)
    assert row["chosen_lr"] == 3e-3 and row["chosen_mean"] == pytest.approx(0.8)


def test_the_json_is_written_with_a_digest(edge_check, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge_check, "edge_cells", lambda root: [])
    assert edge_check.main([str(tmp_path), "--no-train"]) == 0
    data = read_json(tmp_path / "tuning" / "edge_check.json")
    assert data["edge_cells"] == 0 and "digest" in data


def test_a_run_that_diverges_at_the_outward_lr_loses(edge_check, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No score for a diverged run, which the tuning rule ranks below every scored lr; the
    error is kept, and a later ``--no-train`` summary still knows it."""
    cells = edge_check.cells()
    edge = next(c for c in cells if c.task == "bucket_sort" and c.model == "mlstm")
    _choices(tmp_path, cells, edge)
    chosen_run = dataclasses.replace(
        edge_check.make(edge.task, edge.model, edge.hparams, 100, 3e-3), test=False)
    _tuning_run(tmp_path, chosen_run, 0.8)
    found = edge_check.edge_cells(tmp_path)
    (config,) = found[0][2]
    error = "ValueError: training diverged at step 278: the loss ... became NaN"
    monkeypatch.setattr(edge_check, "trained", lambda run_dir, config: run_dir.is_dir())
    data = edge_check.summary(tmp_path, found, {config.run_id(): error})
    (row,) = data["cells"]
    assert row["finished"] and row["outward_wins"] is False and row["outward_mean"] is None
    assert row["diverged"] == {config.run_id(): error}
    assert (data["finished"], data["diverged"], data["outward_wins"]) == (1, 1, 0)

    monkeypatch.setattr(edge_check, "edge_cells", lambda root: found)
    edge_check.write_digested_json(tmp_path / edge_check.SUMMARY, data)
    assert edge_check.main([str(tmp_path), "--no-train"]) == 0  # remembers the divergence
    again = read_json(tmp_path / edge_check.SUMMARY)
    assert again["cells"][0]["diverged"] == {config.run_id(): error}


def test_collect_rewrites_the_status_line(tmp_path: Path) -> None:
    collect = load_script(SCRIPT.parent / "collect.py", "prlstm_results_collect")
    runs = tmp_path / "runs"
    for rel in ("parity_check/pr_lstm/s0", "parity_check/pr_lstm/s1",
                "tuning/runs/parity_check/pr_lstm/s100"):  # a tuning run does not count
        (runs / rel).mkdir(parents=True)
        (runs / rel / "result.json").write_text("{}", encoding="utf-8")
    readme = tmp_path / "README.md"
    readme.write_text("**Status: running; 1 of the 440 had finished at 08:00 UTC.** More.\n",
                      encoding="utf-8")
    assert collect.update_status(readme, runs, now="09:30") == 2
    assert readme.read_text(encoding="utf-8") == (
        "**Status: running; 2 of the 440 had finished at 09:30 UTC.** More.\n")
    readme.write_text("no status here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no 'N of the"):
        collect.update_status(readme, runs)
    done = "**Status: complete. All 440 reporting runs had finished at 21:53 UTC.** More.\n"
    readme.write_text(done, encoding="utf-8")
    assert collect.update_status(readme, runs, now="09:30") == 2
    assert readme.read_text(encoding="utf-8") == done  # a finished grid's status stays
