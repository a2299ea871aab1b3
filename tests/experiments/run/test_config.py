"""RunConfig JSON round trip, run ids, validation, presets."""

from __future__ import annotations

import dataclasses

import pytest

from prlstm.experiments.orchestrate.presets import get_preset, make_config, preset_names
from prlstm.experiments.run.config import RunConfig


def test_json_round_trip() -> None:
    config = RunConfig("parity_check", "pr_lstm", hparams={"hidden_size": 8}, lr=3e-4)
    assert RunConfig.from_json(config.to_json()) == config


def test_run_id_is_stable_and_covers_identity_fields_only() -> None:
    base = RunConfig("parity_check", "lstm")
    assert base.run_id() == RunConfig("parity_check", "lstm").run_id()
    assert base.run_id().startswith("parity_check/lstm/s0-lr0.001-")
    operational = dataclasses.replace(base, log_every=7, ckpt_every=9, device="cpu",
                                      preset="cpu")
    assert operational.run_id() == base.run_id()
    for change in ({"steps": 11}, {"seed": 1}, {"hparams": {"hidden_size": 4}},
                   {"eval_length": 100}):
        assert dataclasses.replace(base, **change).run_id() != base.run_id()


def test_differences_name_the_changed_fields() -> None:
    base = RunConfig("parity_check", "lstm")
    assert base.differences(dataclasses.replace(base, lr=0.5, device="cpu")) == ["lr"]


@pytest.mark.parametrize("change", [
    {"steps": 0}, {"batch_size": -1}, {"lr": 0.0}, {"seed": -1},
    {"eval_per_length": 10, "eval_batch_size": 4}, {"task": "../escape"},
])
def test_invalid_values_raise(change: dict) -> None:
    with pytest.raises(ValueError):
        dataclasses.replace(RunConfig("parity_check", "lstm"), **change)


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown RunConfig fields: colour"):
        RunConfig.from_dict({"task": "parity_check", "model": "lstm", "colour": "red"})


def test_presets_exist_and_layer_in_order() -> None:
    assert preset_names() == ["smoke", "cpu", "cpu-full", "cpu-ablations", "cpu-fair", "gpu"]
    config = make_config("parity_check", "lstm", "cpu", steps=7, hparams={"hidden_size": 5})
    assert (config.steps, config.hparams, config.preset) == (7, {"hidden_size": 5}, "cpu")
    assert make_config("parity_check", "lstm", "cpu").steps == \
        get_preset("cpu").per_model["lstm"]["steps"]


def test_preset_hparams_apply_only_where_accepted() -> None:
    assert make_config("parity_check", "lstm", "smoke").hparams == {"hidden_size": 8}
    transformer = make_config("parity_check", "transformer", "smoke").hparams
    assert "hidden_size" not in transformer and transformer["embedding_dim"] == 16


def test_unknown_preset_and_setting() -> None:
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        make_config("parity_check", "lstm", "huge")
    with pytest.raises(ValueError, match="unknown run settings: colour"):
        make_config("parity_check", "lstm", colour="red")


def test_cpu_preset_grid_has_per_model_seeds_and_lrs() -> None:
    from prlstm.cli import build_parser
    from prlstm.experiments.cli import _sweep_configs

    grid = _sweep_configs(build_parser().parse_args(["sweep", "--preset", "cpu"]))
    by_model: dict[str, set] = {}
    for c in grid:
        by_model.setdefault(c.model, set()).add((c.task, c.seed, c.lr))
    assert {s for _, s, _ in by_model["pr_lstm"]} == {0, 1, 2}
    assert {s for _, s, _ in by_model["lstm"]} == {0, 1, 2}
    assert by_model["transformer"] == {("parity_check", 0, 3e-4), ("cycle_navigation", 0, 3e-4)}
    assert all(c.decay_steps() * 10 == c.steps and c.val_every == 100 for c in grid)
    # --seeds / --lrs on the command line apply to every model
    override = _sweep_configs(build_parser().parse_args(
        ["sweep", "--preset", "cpu", "--seeds", "7", "--lrs", "1e-4"]))
    assert {(c.seed, c.lr) for c in override} == {(7, 1e-4)}


def test_gpu_preset_keeps_the_protocol() -> None:
    config = make_config("parity_check", "pr_lstm", "gpu")
    assert (config.lr_decay_fraction, config.val_every, config.lr) == (0, 0, 1e-3)
