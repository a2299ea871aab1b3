"""Learning-rate choice on validation only; in particular, the test set cannot move it."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from prlstm.experiments.orchestrate.presets import make_config
from prlstm.experiments.orchestrate.tuning import (
    CONFIG_FILE,
    LrChoice,
    choice_path,
    choose_lr,
    final_validation_score,
    foreign_choice,
    mean_score,
    read_choice,
    validation_scores,
    write_choice,
)
from prlstm.experiments.reporting.results import load_results
from prlstm.experiments.run.evaluate import RESULT_FILE, SOLVED_THRESHOLD
from prlstm.experiments.run.io import read_json, with_digest, write_json
from prlstm.experiments.run.trainlog import LogRow, TrainLog

GRID = (3e-4, 1e-3, 3e-3)
SEEDS = (0, 1)


def write_log(run_dir: Path, val_scores: list[float], every: int = 2) -> None:
    """A train_log.csv as training writes it: a row per step, ``val_score`` on every
    ``every``-th row only (the others empty), the last row validated."""
    log = TrainLog(run_dir)
    steps = len(val_scores) * every
    values = iter(val_scores)
    for step in range(1, steps + 1):
        validated = step % every == 0
        log.append(LogRow(step=step, loss=1.0 / step, accuracy=0.5, wall_seconds=0.1 * step,
                          grad_norm=0.3, grad_norm_max=0.5, lr=1e-3,
                          val_score=next(values) if validated else math.nan))


def make_run(root: Path, lr: float, seed: int, val_scores: list[float],
             test_score: float) -> Path:
    """A finished run directory as a sweep leaves it: config.json, train_log.csv and a
    result.json (with digest) whose test accuracies give ``test_score``."""
    config = make_config("parity_check", "pr_lstm", "smoke", seed=seed, lr=lr)
    run_dir = root / config.run_id()
    run_dir.mkdir(parents=True)
    write_json(run_dir / CONFIG_FILE, config.to_dict())
    write_log(run_dir, val_scores)
    set_test_score(run_dir, test_score, config.to_dict())
    return run_dir


def set_test_score(run_dir: Path, test_score: float,
                   config: dict[str, Any] | None = None) -> None:
    """(Re)write the run's result.json with every test accuracy beyond the training range
    equal to ``test_score`` (a valid file: the digest is recomputed)."""
    config = config or read_json(run_dir / CONFIG_FILE)
    n, m = config["train_length"], config["eval_length"]
    accuracy = [1.0] * n + [test_score] * (m - n)
    result = {"task": config["task"], "level": "regular", "model": config["model"],
              "preset": config["preset"], "seed": config["seed"], "lr": config["lr"],
              "steps": config["steps"], "score": test_score,
              "solved": test_score >= SOLVED_THRESHOLD, "in_range_accuracy": 1.0,
              "fitted": True, "train_length": n, "lengths": list(range(1, m + 1)),
              "accuracy": accuracy, "config": config, "run_id": run_dir.name}
    write_json(run_dir / RESULT_FILE, with_digest(result))


def choose_from(run_dirs: list[Path]) -> float:
    """The pipeline a sweep runs: validation scores by lr and seed, then the choice."""
    scores = validation_scores(run_dirs)
    return choose_lr({lr: list(per_seed.values()) for lr, per_seed in scores.items()})


# --- final validation score ------------------------------------------------------------------

def test_final_validation_score_is_the_last_logged(tmp_path: Path) -> None:
    write_log(tmp_path, [0.2, 0.9, 0.7])
    assert final_validation_score(tmp_path) == pytest.approx(0.7)
    # a trailing row without validation does not hide the last validated one
    TrainLog(tmp_path, keep_until=6).append(
        LogRow(step=7, loss=0.1, accuracy=1.0, wall_seconds=1.0))
    assert final_validation_score(tmp_path) == pytest.approx(0.7)


def test_final_validation_score_without_validation(tmp_path: Path) -> None:
    assert final_validation_score(tmp_path) is None  # no log
    log = TrainLog(tmp_path)
    log.append(LogRow(step=1, loss=0.5, accuracy=0.5, wall_seconds=0.0))
    assert final_validation_score(tmp_path) is None  # validation off


def test_final_validation_score_never_reads_the_result(tmp_path: Path) -> None:
    run = make_run(tmp_path, 1e-3, 0, [0.4, 0.6], test_score=0.99)
    assert final_validation_score(run) == pytest.approx(0.6)
    (run / RESULT_FILE).write_text("not json at all")
    assert final_validation_score(run) == pytest.approx(0.6)
    (run / RESULT_FILE).unlink()
    assert validation_scores([run]) == {1e-3: {0: pytest.approx(0.6)}}


# --- the rule --------------------------------------------------------------------------------

def test_choose_best_mean() -> None:
    assert choose_lr({3e-4: [0.5, 0.7], 1e-3: [0.9, 0.6], 3e-3: [0.2, 1.0]}) == 1e-3
    assert choose_lr({1e-3: [0.4]}) == 1e-3


def test_ties_go_to_the_smaller_lr() -> None:
    assert choose_lr({3e-3: [0.8, 0.6], 1e-3: [0.7, 0.7], 3e-4: [0.5, 0.5]}) == 1e-3
    assert choose_lr({1e-3: [0.7], 3e-4: [0.7 - 1e-13]}) == 3e-4  # within 1e-12: a tie
    assert choose_lr({1e-3: [0.7], 3e-4: [0.7 - 1e-9]}) == 1e-3  # beyond it: the best wins
    assert choose_lr({1e-2: [1.0], 1e-4: [1.0], 1e-3: [1.0]}) == 1e-4


def test_missing_scores_count_as_worst() -> None:
    assert choose_lr({3e-4: [0.1, 0.1], 1e-3: [1.0, math.nan]}) == 3e-4
    assert choose_lr({3e-4: [None, 1.0], 1e-3: [0.0, 0.0]}) == 1e-3
    assert choose_lr({3e-4: [], 1e-3: [0.05]}) == 1e-3
    assert choose_lr({3e-3: [math.nan], 1e-3: [None]}) == 1e-3  # all missing: smallest lr
    assert mean_score([0.5, None]) is None and mean_score([]) is None
    assert mean_score([0.25, 0.75]) == 0.5


@pytest.mark.parametrize(("candidates", "message"), [
    ({}, "at least one candidate"),
    ({0.0: [0.5]}, "finite positive"),
    ({math.nan: [0.5]}, "finite positive"),
    ({1e-3: [math.inf]}, "numbers, None or NaN"),
    ({1e-3: ["0.5"]}, "numbers, None or NaN")])
def test_choose_rejects_bad_input(candidates: dict[float, list[Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose_lr(candidates)


# --- the test set cannot move the choice -----------------------------------------------------

def test_test_set_cannot_move_the_choice(tmp_path: Path) -> None:
    root = tmp_path / "tuning_runs"
    # validation prefers 1e-3 (final scores 0.9, 0.8); the test set prefers 3e-3
    plan = {3e-4: ([0.5, 0.6], [0.4, 0.5]), 1e-3: ([0.7, 0.9], [0.6, 0.8]),
            3e-3: ([0.95, 0.3], [0.9, 0.4])}
    test_scores = {3e-4: 0.55, 1e-3: 0.60, 3e-3: 0.70}
    runs = {(lr, seed): make_run(root, lr, seed, plan[lr][seed], test_scores[lr])
            for lr in GRID for seed in SEEDS}
    dirs = list(runs.values())
    assert choose_from(dirs) == 1e-3
    results = load_results(root)  # every result file is valid and loads
    assert len(results) == 6
    best_on_test = max(results, key=lambda r: r["score"])["lr"]
    assert best_on_test == 3e-3  # a test-based choice would differ

    # drastic changes to the test set: 1e-3 now scores 0 on test, 3e-4 scores 1
    for (lr, _), run in runs.items():
        set_test_score(run, {3e-4: 1.0, 1e-3: 0.0, 3e-3: 0.0}[lr])
    results = load_results(root)
    assert len(results) == 6 and {r["score"] for r in results if r["lr"] == 1e-3} == {0.0}
    assert max(results, key=lambda r: r["score"])["lr"] == 3e-4
    assert choose_from(dirs) == 1e-3  # unchanged

    # changing the validation rows does move it
    write_log(runs[(3e-4, 0)], [0.5, 0.99])
    write_log(runs[(3e-4, 1)], [0.4, 0.98])
    assert choose_from(dirs) == 3e-4
    # and a choice recorded from those numbers says so
    scores = validation_scores(dirs)
    path = choice_path(tmp_path, "parity_check", "pr_lstm")
    write_choice(path, "parity_check", "pr_lstm", GRID, scores, 3e-4)
    assert read_choice(path).chosen == 3e-4


def test_validation_scores_by_lr_and_seed(tmp_path: Path) -> None:
    a = make_run(tmp_path, 1e-3, 1, [0.3, 0.4], 0.5)
    b = make_run(tmp_path, 1e-3, 0, [0.8], 0.5)
    c = make_run(tmp_path, 3e-4, 0, [0.1], 0.5)
    scores = validation_scores([a, b, c])
    assert scores == {3e-4: {0: pytest.approx(0.1)},
                      1e-3: {0: pytest.approx(0.8), 1: pytest.approx(0.4)}}
    assert list(scores) == [3e-4, 1e-3] and list(scores[1e-3]) == [0, 1]
    with pytest.raises(ValueError, match="two tuning runs with lr 0.001 and seed 1"):
        validation_scores([a, b, a])
    with pytest.raises(FileNotFoundError, match="config.json not found"):
        validation_scores([tmp_path])


# --- the choice file -------------------------------------------------------------------------

SCORES = {3e-4: {0: 0.5, 1: 0.6}, 1e-3: {0: 0.9, 1: math.nan}, 3e-3: {0: 0.7, 1: 0.75}}


def test_choice_round_trip(tmp_path: Path) -> None:
    path = choice_path(tmp_path, "parity_check", "pr_lstm refinements=0")
    assert path == tmp_path / "tuning" / "parity_check" / "pr_lstm_refinements=0.json"
    written = write_choice(path, "parity_check", "pr_lstm refinements=0", [3e-3, 3e-4, 1e-3],
                           SCORES, 3e-3)
    back = read_choice(path)
    assert back == written
    assert isinstance(back, LrChoice)
    assert back.grid == GRID and back.chosen == 3e-3
    assert back.task == "parity_check" and back.model_label == "pr_lstm refinements=0"
    assert back.scores[1e-3] == {0: 0.9, 1: None}  # NaN is recorded as missing
    assert back.means == {3e-4: pytest.approx(0.55), 1e-3: None, 3e-3: pytest.approx(0.725)}
    data = json.loads(path.read_text())
    assert data["chosen_lr"] == 3e-3 and data["grid"] == list(GRID)
    assert data["validation"][1] == {"lr": 1e-3, "scores": {"0": 0.9, "1": None}, "mean": None}
    assert "NaN" not in path.read_text()  # strict JSON
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_write_choice_rejects_inconsistent_input(tmp_path: Path) -> None:
    path = tmp_path / "choice.json"
    with pytest.raises(ValueError, match=r"chosen lr 0.0003 is not the lr the validation "
                                         r"scores pick \(0.003\)"):
        write_choice(path, "parity_check", "lstm", GRID, SCORES, 3e-4)
    with pytest.raises(ValueError, match="are not the grid"):
        write_choice(path, "parity_check", "lstm", [3e-4, 1e-3], SCORES, 3e-3)
    with pytest.raises(ValueError, match="repeated"):
        write_choice(path, "parity_check", "lstm", [*GRID, 1e-3], SCORES, 3e-3)
    with pytest.raises(ValueError, match="at least one learning rate"):
        write_choice(path, "parity_check", "lstm", [], {}, 3e-3)
    assert not path.exists()


def test_read_choice_notices_damage(tmp_path: Path) -> None:
    path = tmp_path / "choice.json"
    with pytest.raises(FileNotFoundError, match="not found"):
        read_choice(path)
    write_choice(path, "parity_check", "lstm", GRID, SCORES, 3e-3)
    text = path.read_text()
    path.write_text(text.replace('"chosen_lr": 0.003', '"chosen_lr": 0.001'))
    with pytest.raises(ValueError, match="damaged"):
        read_choice(path)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="not valid JSON"):
        read_choice(path)
    # a consistent digest over numbers that do not support the recorded choice
    data = json.loads(text)
    data.pop("digest")
    data["chosen_lr"] = 1e-3
    write_json(path, with_digest(data))
    with pytest.raises(ValueError, match="records lr 0.001 but its scores pick 0.003"):
        read_choice(path)


def test_a_choice_records_the_variant_it_was_made_for(tmp_path: Path) -> None:
    """The file is named by the report label, which two variants swept apart can share; the
    recorded model and hyper-parameters tell them apart. Files made before the field read
    back with ``variant=None`` and match any variant."""
    path = tmp_path / "choice.json"
    written = write_choice(path, "parity_check", "lstm", GRID, SCORES, 3e-3,
                           {"model": "lstm", "hparams": {"hidden_size": 239, "ratio": (1, 2)}})
    back = read_choice(path)
    assert back == written
    assert back.variant == {"model": "lstm", "hparams": {"hidden_size": 239, "ratio": [1, 2]}}
    assert foreign_choice(back, "lstm", {"ratio": (1, 2), "hidden_size": 239}) is None
    assert foreign_choice(back, "lstm", {"hidden_size": 128}) == (
        "made for lstm {'hidden_size': 239, 'ratio': [1, 2]}, not lstm {'hidden_size': 128}")
    assert foreign_choice(back, "rnn", {"hidden_size": 239, "ratio": [1, 2]}) is not None
    old = write_choice(path, "parity_check", "lstm", GRID, SCORES, 3e-3)
    assert old.variant is None and "variant" not in json.loads(path.read_text())
    assert foreign_choice(read_choice(path), "rnn", {}) is None
    data = json.loads(path.read_text())
    data.pop("digest")
    data["variant"] = {"model": 3, "hparams": {}}
    write_json(path, with_digest(data))
    with pytest.raises(ValueError, match="not a valid lr choice file: variant must be"):
        read_choice(path)


@pytest.mark.parametrize(("means", "chosen", "side"), [
    ({3e-4: 0.2, 1e-3: 0.5, 3e-3: 0.9}, 3e-3, "top"),
    ({3e-4: 0.9, 1e-3: 0.5, 3e-3: 0.2}, 3e-4, "bottom"),
    ({3e-4: 0.2, 1e-3: 0.9, 3e-3: 0.5}, 1e-3, None),   # inside the grid
    ({3e-4: 0.9, 1e-3: 0.9, 3e-3: 0.2}, 3e-4, None),   # a tie: not strictly better
    ({3e-4: None, 1e-3: 0.5, 3e-3: 0.9}, 3e-3, "top"),  # a missing mean does not count
    ({3e-4: 0.5, 3e-3: None}, 3e-3, None),              # the chosen mean is missing
    ({1e-3: 0.9}, 1e-3, None),                          # one lr: no edge to speak of
])
def test_edge_side(means: dict, chosen: float, side: str | None) -> None:
    from prlstm.experiments.orchestrate.tuning import edge_side

    assert edge_side(means, chosen) == side
