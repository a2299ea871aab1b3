"""``prlstm eval --lengths``: accuracy at lengths beyond M, written without touching the score."""

from __future__ import annotations

import json

import pytest

from prlstm.cli import main
from prlstm.experiments.evaluate import evaluate_extra_lengths, evaluate_run
from prlstm.experiments.io import intact
from prlstm.experiments.train import train


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
    from prlstm.experiments.report import extra_lengths_cell, markdown_table

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
