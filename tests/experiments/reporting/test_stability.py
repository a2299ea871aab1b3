"""The end-of-training spike summary on hand-made logs."""

from __future__ import annotations

import math

from prlstm.experiments.reporting.stability import main, summarise
from prlstm.experiments.run.trainlog import LogRow, TrainLog


def _log(tmp_path, accuracies, vals=None):
    log = TrainLog(tmp_path)
    for i, acc in enumerate(accuracies):
        val = vals[i] if vals else math.nan
        log.append(LogRow(i + 1, 0.1, acc, float(i), 1.0 + i, 2.0 + i, 1e-3, val))


def test_final_window_in_a_spike(tmp_path) -> None:
    # 8 rows: the last quarter is rows 7..8; the last row falls 10 points below the best
    _log(tmp_path, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 0.9],
         [math.nan, 0.2, math.nan, 0.4, math.nan, 1.0, math.nan, 0.3])
    s = summarise(tmp_path)
    assert s["final_in_spike"] and s["drops"] == 1
    assert (s["final_accuracy"], s["best_last_quarter"]) == (0.9, 1.0)
    assert (s["final_val"], s["best_val"], s["max_grad_norm"]) == (0.3, 1.0, 9.0)


def test_stable_end_and_short_logs(tmp_path) -> None:
    _log(tmp_path, [0.5, 0.9, 0.97, 0.99])
    s = summarise(tmp_path)
    assert not s["final_in_spike"] and s["drops"] == 0 and math.isnan(s["best_val"])
    assert summarise(tmp_path / "missing") is None


def test_cli_needs_a_directory(capsys) -> None:
    assert main([]) == 2 and "usage" in capsys.readouterr().err
