"""In-range accuracy, out-of-range validation during training, lr decay, grad norms.

``prlstm eval --lengths``: accuracy at lengths beyond M, written without touching the score.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from prlstm.cli import main
from prlstm.experiments.run.config import RunConfig
from prlstm.experiments.run.evaluate import (
    FIT_THRESHOLD,
    eval_batch_seed,
    evaluate_extra_lengths,
    evaluate_run,
    in_range_accuracy,
    val_batch_seed,
    validation_score,
)
from prlstm.experiments.run.factory import build_model, build_task
from prlstm.experiments.run.io import intact
from prlstm.experiments.run.train import train
from prlstm.experiments.run.trainlog import LogRow, read_log, read_rows, steps_to_threshold

from .test_train import Crash, _assert_same_run, _crash_at, _final_weights

RESULTS = Path(__file__).resolve().parents[3] / "results"


def test_in_range_accuracy_is_the_mean_over_training_lengths() -> None:
    # lengths 1..3 are the training range, 4..5 the test range
    accuracies = [1.0, 0.5, 0.75, 0.25, 0.0]
    assert in_range_accuracy(accuracies, 3) == pytest.approx(0.75)
    assert math.isnan(in_range_accuracy([], 3))


@pytest.mark.slow
def test_result_records_in_range_accuracy_fit_and_steps_to_generalise(smoke, tmp_path) -> None:
    config = smoke(steps=6, val_every=2, val_lengths=[7, 12])
    train(config, tmp_path, progress=False)
    result = evaluate_run(tmp_path, progress=False)
    acc = result["accuracy"]
    assert result["in_range_accuracy"] == pytest.approx(sum(acc[:5]) / 5)
    assert result["fitted"] == (result["in_range_accuracy"] >= FIT_THRESHOLD)
    assert result["score"] == pytest.approx(sum(acc[5:]) / 7)  # lengths 6..12
    assert result["validation"]["lengths"] == [7, 12]
    assert result["validation"]["per_length"] == 8
    rows = read_rows(tmp_path)
    assert [r.step for r in rows if not math.isnan(r.val_score)] == [2, 4, 6]
    assert result["steps_to_generalise"] == steps_to_threshold(rows, 0.9)
    assert result["final_train_accuracy"] == rows[-1].accuracy


@pytest.mark.slow
def test_no_validation_no_steps_to_generalise_key(smoke, tmp_path) -> None:
    train(smoke(steps=2), tmp_path, progress=False)
    result = evaluate_run(tmp_path, progress=False)
    assert result["validation"] is None and "steps_to_generalise" not in result
    assert all(math.isnan(r["val_score"]) for r in read_log(tmp_path))


def test_steps_to_threshold_picks_the_first_validated_row_at_threshold() -> None:
    rows = [LogRow(1, 1.0, 0.5, 0.0, val_score=0.95),  # the first row counts too
            LogRow(2, 1.0, 0.5, 0.0)]
    assert steps_to_threshold(rows, 0.9) == 1
    rows = [LogRow(s, 1.0, 0.5, 0.0, val_score=v) for s, v in [(1, 0.2), (2, math.nan),
                                                                (3, 0.9), (4, 1.0)]]
    assert steps_to_threshold(rows, 0.9) == 3
    assert steps_to_threshold(rows[:2], 0.9) is None


def test_validation_score_by_hand(smoke) -> None:
    """The score is the mean, over the slice's lengths, of one batch's pooled accuracy."""
    config = smoke(val_every=1, val_lengths=[6, 9], val_per_length=4)
    task = build_task(config)
    model = build_model(config, task, torch.device("cpu"))
    expected = []
    for length in (6, 9):
        batch = task.sample_batch(4, length, seed=val_batch_seed(config, length))
        logits = model(batch.inputs, task.output_length(batch.inputs.shape[1]))
        correct = (logits.argmax(-1) == batch.targets) & batch.mask.bool()
        expected.append(correct.sum().item() / batch.mask.sum().item())
    assert validation_score(model, task, config) == pytest.approx(sum(expected) / 2)


def test_validation_batches_are_never_test_batches(smoke) -> None:
    config = smoke(val_every=1, eval_per_length=8, eval_batch_size=8, val_per_length=8,
                   val_seed=1)  # even with the test set's seed value
    task = build_task(config)
    for length in config.validation_lengths():
        assert val_batch_seed(config, length) != eval_batch_seed(config, length, 0)
        val = task.sample_batch(8, length, seed=val_batch_seed(config, length)).inputs
        test = task.sample_batch(8, length, seed=eval_batch_seed(config, length, 0)).inputs
        assert not torch.equal(val, test)


def test_default_validation_lengths_spread_over_the_test_range() -> None:
    config = RunConfig(task="parity_check", model="lstm", val_every=100)
    assert config.validation_lengths() == [41, 133, 225, 316, 408, 500]
    assert RunConfig(task="parity_check", model="lstm").validation_lengths() == []
    short = RunConfig(task="parity_check", model="lstm", val_every=1, train_length=5,
                      eval_length=7)
    assert short.validation_lengths() == [6, 7]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pr_lstm", "transformer"])  # transformer: dropout RNG
def test_validation_changes_no_weight(smoke, tmp_path, model) -> None:
    plain, validated = tmp_path / "plain", tmp_path / "validated"
    train(smoke(model, steps=6), plain, progress=False)
    train(smoke(model, steps=6, val_every=1), validated, progress=False)
    a, b = _final_weights(plain), _final_weights(validated)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert evaluate_run(plain, progress=False)["score"] == \
        evaluate_run(validated, progress=False)["score"]


def test_validated_run_resumes_bit_exactly(smoke, tmp_path) -> None:
    config = smoke(steps=8, ckpt_every=3, log_every=1, val_every=2, lr_decay_fraction=0.5)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    train(config, reference, progress=False)
    with pytest.raises(Crash):
        train(config, killed, progress=False, on_step=_crash_at(5))
    train(config, killed, resume=True, progress=False)
    _assert_same_run(reference, killed)
    rows_a, rows_b = read_rows(reference), read_rows(killed)
    assert [(r.step, r.grad_norm, r.lr) for r in rows_a] == \
        [(r.step, r.grad_norm, r.lr) for r in rows_b]
    # validation scores agree too (NaN on rows without validation)
    assert [r.val_score if not math.isnan(r.val_score) else None for r in rows_a] == \
        [r.val_score if not math.isnan(r.val_score) else None for r in rows_b]


def test_lr_decay_schedule_and_log(smoke, tmp_path) -> None:
    config = smoke(steps=6, log_every=1, lr_decay_fraction=0.5)
    assert config.decay_steps() == 3
    assert [config.lr_at(s) for s in range(1, 7)] == pytest.approx(
        [1e-3, 1e-3, 1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3])
    train(config, tmp_path, progress=False)
    assert [r.lr for r in read_rows(tmp_path)] == pytest.approx(
        [config.lr_at(s) for s in range(1, 7)])
    assert smoke(steps=7, lr_decay_fraction=0.01).decay_steps() == 1  # never rounds to 0
    for bad in (-0.1, 1.5, "0.1", True):
        with pytest.raises(ValueError, match="lr_decay_fraction"):
            smoke(lr_decay_fraction=bad)


def test_lr_decay_changes_the_weights_and_the_run_id(smoke, tmp_path) -> None:
    constant, decayed = smoke(steps=4), smoke(steps=4, lr_decay_fraction=0.5)
    assert constant.run_id() != decayed.run_id()
    train(constant, tmp_path / "a", progress=False)
    train(decayed, tmp_path / "b", progress=False)
    a, b = _final_weights(tmp_path / "a"), _final_weights(tmp_path / "b")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_grad_norm_is_logged_before_clipping(smoke, tmp_path) -> None:
    train(smoke(steps=4, log_every=1, max_grad_norm=1e-6), tmp_path, progress=False)
    rows = read_rows(tmp_path)
    assert all(r.grad_norm > 1e-6 and r.grad_norm_max == pytest.approx(r.grad_norm)
               for r in rows)


def test_validation_settings_are_operational() -> None:
    base = RunConfig(task="parity_check", model="lstm")
    validated = RunConfig(task="parity_check", model="lstm", val_every=50, val_lengths=[60],
                          val_per_length=4, val_seed=9)
    assert base.run_id() == validated.run_id() and not base.differences(validated)


def test_committed_runs_keep_their_ids() -> None:
    """Configs saved before the new fields existed load and map to the same run ids."""
    files = sorted(RESULTS.glob("*/runs/*/*/*/result.json"))
    assert files, "no committed results found"
    for path in files:
        result = json.loads(path.read_text())
        assert RunConfig.from_dict(result["config"]).run_id() == result["run_id"], path


@pytest.mark.slow
def test_retraining_from_the_saved_config_reproduces_the_result(smoke, tmp_path) -> None:
    """What a committed run promises: its config.json alone re-trains to the same numbers."""
    first = tmp_path / "first"
    train(smoke("transformer", steps=5, val_every=2, lr_decay_fraction=0.4), first, progress=False)
    original = evaluate_run(first, progress=False)
    saved = RunConfig.from_json((first / "config.json").read_text())
    train(saved, tmp_path / "again", progress=False)
    again = evaluate_run(tmp_path / "again", progress=False)
    for key in ("score", "accuracy", "in_range_accuracy", "steps_to_generalise", "run_id"):
        assert again[key] == original[key], key


def test_bad_validation_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="val_lengths"):
        RunConfig(task="parity_check", model="lstm", val_lengths=[0])
    with pytest.raises(ValueError, match="val_per_length"):
        RunConfig(task="parity_check", model="lstm", val_per_length=0)
    with pytest.raises(ValueError, match="val_every"):
        RunConfig(task="parity_check", model="lstm", val_every=-5)


def test_old_results_get_in_range_accuracy_from_their_accuracies(tmp_path) -> None:
    from prlstm.experiments.reporting.results import load_results

    run = tmp_path / "old"
    run.mkdir()
    old = {"task": "parity_check", "model": "lstm", "score": 0.5, "train_length": 2,
           "accuracy": [1.0, 0.5, 0.25, 0.25]}
    (run / "result.json").write_text(json.dumps(old))
    (loaded,) = load_results(tmp_path)
    assert loaded["in_range_accuracy"] == 0.75 and loaded["fitted"] is False


@pytest.fixture
def evaluated(smoke, tmp_path):
    train(smoke(steps=2), tmp_path, progress=False)
    evaluate_run(tmp_path, progress=False)
    return tmp_path


def test_extra_lengths_leave_the_score_alone(evaluated) -> None:
    before = json.loads((evaluated / "result.json").read_text())
    before.pop("digest", None)
    after = evaluate_extra_lengths(evaluated, [30, 20], per_length=4, batch_size=2,
                                   progress=False)
    assert {k: v for k, v in after.items() if k != "extra_lengths"} == before
    assert list(after["extra_lengths"]["accuracy"]) == ["20", "30"]
    assert all(0.0 <= a <= 1.0 for a in after["extra_lengths"]["accuracy"].values())
    # a second call adds lengths, re-evaluating a known length gives the same number
    again = evaluate_extra_lengths(evaluated, [30, 50], per_length=4, batch_size=2,
                                   progress=False)
    acc = again["extra_lengths"]["accuracy"]
    assert list(acc) == ["20", "30", "50"] and acc["30"] == after["extra_lengths"]["accuracy"]["30"]
    saved = json.loads((evaluated / "result.json").read_text())
    assert intact(saved) and "digest" in saved
    saved.pop("digest")
    assert saved == again


@pytest.mark.parametrize("lengths", [[12], [5], [0], [], [True]])
def test_bad_lengths_are_refused(evaluated, lengths) -> None:
    with pytest.raises(ValueError, match="above the run's eval_length \\(12\\)"):
        evaluate_extra_lengths(evaluated, lengths, progress=False)


def test_bad_per_length_and_missing_result(evaluated, tmp_path, smoke) -> None:
    with pytest.raises(ValueError, match="per_length"):
        evaluate_extra_lengths(evaluated, [20], per_length=3, batch_size=2, progress=False)
    fresh = tmp_path / "fresh"
    train(smoke(steps=1), fresh, progress=False)
    with pytest.raises(FileNotFoundError, match="prlstm eval"):
        evaluate_extra_lengths(fresh, [20], progress=False)


def test_cli(evaluated, capsys) -> None:
    assert main(["eval", str(evaluated), "--lengths", "25", "--per-length", "4",
                 "--batch-size", "4", "--quiet"]) == 0
    assert "length 25:" in capsys.readouterr().out
    assert main(["eval", str(evaluated), "--lengths", "3", "--quiet"]) != 0


def test_report_shows_extra_lengths_only_when_present() -> None:
    from prlstm.experiments.reporting.report import extra_lengths_cell, markdown_table

    def result(seed, extra):
        r = {"task": "parity_check", "level": "regular", "model": "lstm", "seed": seed,
             "lr": 1e-3, "steps": 4, "score": 0.5, "train_length": 2, "accuracy": [1, 1, .5],
             "config": {}}
        if extra is not None:
            r["extra_lengths"] = {"per_length": 16, "accuracy": extra}
        return r

    runs = [result(0, {"1000": 1.0, "10000": 0.5}), result(1, {"1000": 0.5, "10000": 0.25})]
    assert extra_lengths_cell(runs) == "1k 75.0 · 10k 37.5 (n=2)"
    assert extra_lengths_cell([result(0, None)]) == "–"
    assert "Far beyond the test range" in markdown_table(runs)
    assert "Far beyond" not in markdown_table([result(0, None)])


def test_damaged_result_is_refused(evaluated) -> None:
    path = evaluated / "result.json"
    data = json.loads(path.read_text())
    data["score"] = 0.123  # valid JSON, wrong digest
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="digest"):
        evaluate_extra_lengths(evaluated, [20], per_length=4, batch_size=2, progress=False)
