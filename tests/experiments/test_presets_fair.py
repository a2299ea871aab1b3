"""The cpu-fair preset: capacity-matched widths, one step budget per task, tuned lrs."""

from __future__ import annotations

import importlib.util

import pytest

from prlstm import models
from prlstm.experiments.presets import FAIR_VARIANTS, get_preset, grid, make_config

PR_128 = models.count_parameters("pr_lstm", 2, 2, hidden_size=128)
LSTM_128 = models.count_parameters("lstm", 2, 2, hidden_size=128)


@pytest.mark.parametrize(("model", "hparams"), [v for v in FAIR_VARIANTS
                                                if v[1]["hidden_size"] != 128
                                                or v[0] == "mlstm"])
def test_matched_widths_are_what_the_helper_computes(model: str, hparams: dict) -> None:
    if model == "mlstm" and importlib.util.find_spec("xlstm") is None:
        pytest.skip("needs the xlstm package")
    other = {k: v for k, v in hparams.items() if k != "hidden_size"}
    target = LSTM_128 if model == "pr_lstm" else PR_128
    assert models.width_for_params(model, target, 2, 2, **other) == hparams["hidden_size"]


def test_grid_budget_and_tuning() -> None:
    preset = get_preset("cpu-fair")
    points = grid(preset)
    assert len(points) == 5 * 11 * 8 and {p.seed for p in points} == set(range(8))
    assert set(preset.tune_seeds).isdisjoint(preset.seeds) and len(preset.tune_lrs) >= 3
    for task in preset.tasks:  # one step budget per task, whatever the model
        steps = {make_config(task, m, "cpu-fair", hparams=h).steps for m, h in FAIR_VARIANTS}
        assert len(steps) == 1, (task, steps)
    config = make_config("parity_check", "mingru", "cpu-fair", hparams={"hidden_size": 195})
    assert config.hparams == {"hidden_size": 195} and config.val_every > 0
