"""Registry: names, defaults, configs, errors, and the reference parameter counts.

The counts are those of docs/benchmark.md#parameter-counts.
"""

from __future__ import annotations

import json

import pytest
import torch

from prlstm import models
from prlstm.models import HPARAMS, BenchmarkModel, build, from_config, names


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# even_pairs, so V = 2 (V' = 3) and C = 2; the reference example's settings.
@pytest.mark.parametrize(
    ("name", "hparams", "expected"),
    [
        ("rnn", {"hidden_size": 256}, 67_330),
        ("lstm", {"hidden_size": 256}, 266_754),
        ("stack_rnn", {"hidden_size": 256, "stack_cell_size": 8, "stack_size": 30}, 72_205),
        ("tape_rnn", {"hidden_size": 256, "memory_cell_size": 8, "memory_size": 40,
                      "mlp_layers_size": (64, 64)}, 91_791),
        ("transformer", {"positional_encoding": "sin_cos"}, 248_962),
        ("transformer", {"positional_encoding": "none"}, 248_962),
        ("transformer", {"positional_encoding": "alibi"}, 248_962),
        ("transformer", {"positional_encoding": "rotary"}, 248_962),
        ("transformer", {"positional_encoding": "relative"}, 270_082),
    ],
)
def test_parameter_counts_match_reference(name: str, hparams: dict, expected: int) -> None:
    assert n_params(build(name, 2, 2, **hparams)) == expected


@pytest.mark.slow
def test_defaults_are_the_benchmark_settings() -> None:
    # The defaults alone reproduce the reference counts (tape_rnn: the example's M = 40).
    assert n_params(build("rnn", 2, 2)) == 67_330
    assert n_params(build("stack_rnn", 2, 2)) == 72_205
    assert n_params(build("tape_rnn", 2, 2)) == 91_791
    assert n_params(build("transformer", 2, 2)) == 248_962


def test_names_and_hparams_agree() -> None:
    assert names() == ["pr_lstm", "pr_rnn", "pr_gru", "rnn", "lstm", "stack_rnn", "tape_rnn",
                       "transformer", "mingru", "minlstm", "linear_rnn", "deltanet", "mamba",
                       "mlstm", "slstm"]
    assert set(models.INFO) == set(HPARAMS)
    assert set(HPARAMS) == set(names())
    assert HPARAMS["pr_gru"]["refinements"] == 0
    assert HPARAMS["pr_lstm"] == {"hidden_size": 256, "refinements": 1, "schedule": "tree",
                                  "backend": "auto", "merge": "gated"}
    assert "merge" in HPARAMS["pr_rnn"] and "merge" not in HPARAMS["pr_gru"]


@pytest.mark.parametrize("name", ["rnn", "lstm", "stack_rnn", "tape_rnn", "transformer",
                                  "pr_lstm", "pr_gru"])
def test_config_is_json_and_rebuilds(name: str) -> None:
    small = {"transformer": {"embedding_dim": 16, "num_layers": 1, "num_heads": 2,
                             "ff_size": 8}}.get(name, {"hidden_size": 8})
    model = build(name, 3, 4, **small)
    assert isinstance(model, BenchmarkModel)
    assert (model.input_size, model.output_size, model.model_name) == (3, 4, name)
    cfg = json.loads(json.dumps(model.config))
    assert cfg == model.config
    assert set(cfg) == {"model", "input_size", "output_size", *HPARAMS[name]}
    again = from_config(cfg)
    assert again.config == model.config
    assert n_params(again) == n_params(model)


def test_none_means_default_and_case_insensitive_encoding() -> None:
    m = build("transformer", 2, 2, embedding_dim=None, positional_encoding="ALIBI")
    assert m.config["embedding_dim"] == 64
    assert m.config["positional_encoding"] == "alibi"
    assert build("tape_rnn", 2, 2, hidden_size=8).config["mlp_layers_size"] == [64, 64]


def test_unknown_model_lists_names() -> None:
    with pytest.raises(ValueError, match="unknown model 'gpt'.*pr_lstm.*transformer"):
        build("gpt", 2, 2)


@pytest.mark.parametrize(
    ("name", "hparams", "match"),
    [
        ("lstm", {"refinements": 1}, "refinements"),
        ("rnn", {"schedule": "tree"}, "schedule"),
        ("transformer", {"hidden_size": 8}, "hidden_size"),
        ("pr_lstm", {"stack_size": 3}, "stack_size"),
        ("pr_gru", {"refinements": 1}, "refinements"),
        ("pr_lstm", {"refinements": -1}, "refinements"),
        ("pr_lstm", {"schedule": "random"}, "schedule"),
        ("pr_lstm", {"backend": "magic"}, "backend"),
        ("rnn", {"hidden_size": 0}, "hidden_size"),
        ("rnn", {"hidden_size": 2.5}, "hidden_size"),
        ("rnn", {"hidden_size": True}, "hidden_size"),
        ("stack_rnn", {"stack_size": 0}, "stack_size"),
        ("stack_rnn", {"stack_cell_size": "8"}, "stack_cell_size"),
        ("tape_rnn", {"memory_size": -3}, "memory_size"),
        ("tape_rnn", {"memory_cell_size": 0}, "memory_cell_size"),
        ("tape_rnn", {"mlp_layers_size": "64"}, "mlp_layers_size"),
        ("tape_rnn", {"mlp_layers_size": (64, 0)}, "mlp_layers_size"),
        ("transformer", {"positional_encoding": "learned"}, "positional_encoding"),
        ("transformer", {"dropout": 1.0}, "dropout"),
        ("transformer", {"dropout": -0.1}, "dropout"),
        ("transformer", {"num_heads": 5}, "num_heads"),
        ("transformer", {"num_layers": 0}, "num_layers"),
        ("transformer", {"ff_size": 0}, "ff_size"),
        ("transformer", {"embedding_dim": 24, "num_heads": 8,
                         "positional_encoding": "rotary"}, "rotary"),
        ("transformer", {"embedding_dim": 9, "num_heads": 1}, "embedding_dim"),
    ],
)
def test_bad_options_raise_naming_the_option(name: str, hparams: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build(name, 2, 2, **hparams)


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'refinements'.*options are: hidden_size"):
        build("lstm", 2, 2, refinements=1)


@pytest.mark.parametrize(("V", "C"), [(0, 2), (2, 0), (2.0, 2), (True, 2)])
def test_bad_sizes(V: object, C: object) -> None:
    with pytest.raises(ValueError, match="input_size|output_size"):
        build("rnn", V, C)  # type: ignore[arg-type]


def test_from_config_missing_key() -> None:
    with pytest.raises(ValueError, match="model"):
        from_config({"input_size": 2, "output_size": 2})
    with pytest.raises(ValueError, match="does not take"):
        from_config({"model": "rnn", "input_size": 2, "output_size": 2, "bogus": 1})


def test_haiku_style_initialisation() -> None:
    torch.manual_seed(0)
    core = build("lstm", 2, 2).core
    w = core.gates.weight  # fan-in V' + H = 259
    sigma = 259 ** -0.5
    assert w.abs().max() <= 2 * sigma + 1e-7
    assert 0.7 * sigma < w.std() < 1.0 * sigma  # a ±2σ-truncated normal has std ≈ 0.88σ
    assert torch.count_nonzero(core.gates.bias) == 0
    emb = build("transformer", 2, 2).core.embedding.weight
    assert emb.abs().max() <= 0.04 + 1e-7


def test_module_exports() -> None:
    assert set(models.__all__) >= {"build", "names", "HPARAMS", "BenchmarkModel"}
