"""The cpu-fair preset: capacity-matched widths, one step budget per task, tuned lrs.

The cpu-full and cpu-ablations presets: their grids, and a smoke-sized run of each.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter

import pytest

from prlstm import models, tasks
from prlstm.cli import build_parser, main
from prlstm.experiments.cli import _sweep_configs
from prlstm.experiments.orchestrate.presets import FAIR_VARIANTS, get_preset, grid, make_config

PR_128 = models.count_parameters("pr_lstm", 2, 2, hidden_size=128)
LSTM_128 = models.count_parameters("lstm", 2, 2, hidden_size=128)


@pytest.mark.slow
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


def _configs(*argv: str):
    return _sweep_configs(build_parser().parse_args(["sweep", *argv]))


def test_cpu_full_grid() -> None:
    configs = _configs("--preset", "cpu-full")
    assert len(configs) == 204
    assert {c.task for c in configs} == set(tasks.names())
    per_cell = Counter((c.task, c.model) for c in configs)
    for (task, model), n in per_cell.items():
        assert n == (3 if tasks.get(task).level == "regular" else 2), (task, model)
    assert {c.model for c in configs} == {"pr_lstm", "rnn", "lstm", "transformer",
                                          "stack_rnn", "tape_rnn"}
    assert {c.lr for c in configs if c.model == "transformer"} == {3e-4}
    assert all(c.lr_decay_fraction == 0.1 and c.val_every == 250 for c in configs)


def test_cpu_ablations_grid_and_variant_filter() -> None:
    configs = _configs("--preset", "cpu-ablations")
    assert len(configs) == 7 * 6 * 3
    variants = {(c.model, c.hparams["hidden_size"], c.hparams.get("refinements", 1))
                for c in configs}
    assert variants == {("pr_lstm", 128, 0), ("pr_lstm", 128, 1), ("pr_lstm", 128, 2),
                        ("pr_rnn", 128, 0), ("pr_rnn", 128, 1), ("pr_rnn", 128, 2),
                        ("pr_lstm", 69, 1)}
    assert len({c.run_id() for c in configs}) == len(configs)
    only_rnn = _configs("--preset", "cpu-ablations", "--models", "pr_rnn")
    assert {c.model for c in only_rnn} == {"pr_rnn"} and len(only_rnn) == 3 * 6 * 3


def test_a_model_the_preset_has_no_variant_of_joins_its_grid() -> None:
    """``--models`` filters a preset's variants; a model the preset lacks (a plugin, say) is
    added as one variant at its own defaults, trained under the preset's budget."""
    preset = get_preset("cpu-ablations")
    extra = grid(preset, models_=["lstm"])
    assert {(p.model, json.dumps(p.hparams)) for p in extra} == {("lstm", "{}")}
    assert len(extra) == 6 * 3 and {p.task for p in extra} == set(preset.tasks)
    both = grid(preset, models_=["pr_rnn", "lstm", "lstm"])
    assert Counter(p.model for p in both) == {"pr_rnn": 3 * 6 * 3, "lstm": 6 * 3}
    fair = _configs("--preset", "cpu-fair", "--tasks", "bucket_sort", "--models", "gru_plugin")
    assert len(fair) == 8 and {c.model for c in fair} == {"gru_plugin"}
    budget = make_config("bucket_sort", "pr_lstm", "cpu-fair", hparams={"hidden_size": 128})
    assert {(c.steps, c.val_every, c.lr_decay_fraction) for c in fair} == {
        (budget.steps, budget.val_every, budget.lr_decay_fraction)}


def test_ablation_r1_runs_are_the_cpu_full_pr_lstm_runs() -> None:
    """R = 1 is left implicit, so the sweep can reuse cpu-full's pr_lstm runs as they are."""
    from prlstm import models

    assert models.HPARAMS["pr_lstm"]["refinements"] == 1
    ablations = _configs("--preset", "cpu-ablations", "--models", "pr_lstm")
    r1 = {c.run_id() for c in ablations if c.hparams == {"hidden_size": 128}}
    assert len(r1) == 18
    full = {c.run_id() for c in _configs("--preset", "cpu-full", "--models", "pr_lstm")}
    shared = r1 & full
    assert len(shared) == 4 * 3 + 2 * 2  # regular tasks: seeds 0-2; the other two: seeds 0-1
    assert all("refinements" not in run_id for run_id in r1)
    assert all(run_id.split("/")[0] in ("bucket_sort", "missing_duplicate_string")
               for run_id in r1 - full)


def test_parameter_matched_width() -> None:
    from prlstm import models

    task = tasks.get("parity_check")

    def recurrent(model: str, h: int) -> int:
        net = models.build(model, task.input_size, task.output_size, hidden_size=h)
        return sum(p.numel() for n, p in net.named_parameters() if "readout" not in n)

    lstm = recurrent("lstm", 128)
    assert min(range(40, 140), key=lambda h: abs(recurrent("pr_lstm", h) - lstm)) == 69


@pytest.mark.slow
@pytest.mark.parametrize("preset,task,model", [("cpu-full", "bucket_sort", "tape_rnn"),
                                               ("cpu-ablations", "parity_check", "pr_rnn")])
def test_smoke_sized_run_of_each_preset(tmp_path, preset, task, model) -> None:
    out = tmp_path / "out"
    assert main(["sweep", "--preset", preset, "--tasks", task, "--models", model, "--seeds",
                 "0", "--steps", "3", "--hidden-size", "8", "--eval-length", "43",
                 "--eval-per-length", "4", "--eval-batch-size", "4", "--val-every", "2",
                 "--workers", "1", "--quiet", "--out", str(out)]) == 0
    results = list(out.rglob("result.json"))
    expected = 3 if preset == "cpu-ablations" else 1  # one run per R variant
    assert len(results) == expected
    for path in results:
        result = json.loads(path.read_text())
        assert result["preset"] == preset and result["validation"]["every"] == 2
