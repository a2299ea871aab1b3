"""``prlstm reproduce``: a saved run re-trains to identical numbers, a tampered one does not."""

from __future__ import annotations

import json

import pytest

from prlstm.cli import main
from prlstm.experiments.evaluate import evaluate_run
from prlstm.experiments.reproduce import describe, reproduce
from prlstm.experiments.train import train


def test_reproduce_exact_and_tampered(smoke, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    train(smoke(steps=4, val_every=2, lr_decay_fraction=0.5), run, progress=False)
    evaluate_run(run, progress=False)
    rep = reproduce(run, tmp_path)
    assert rep.exact and "reproduced exactly" in describe(rep)
    assert main(["reproduce", str(run), "--quiet", "--work-dir", str(tmp_path)]) == 0
    result = json.loads((run / "result.json").read_text())
    result["score"] += 0.01
    (run / "result.json").write_text(json.dumps(result))
    rep = reproduce(run, tmp_path)
    assert rep.mismatches == ["score"] and "NOT reproduced" in describe(rep)
    assert main(["reproduce", str(run), "--quiet", "--work-dir", str(tmp_path)]) == 1


def test_reproduce_needs_a_finished_run(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="config.json"):
        reproduce(tmp_path)
