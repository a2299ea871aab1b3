"""The built-in models' config dataclasses (prlstm.models.configs): the registry's defaults,
validation once with the registry's messages, frozen-ness, and models built exactly as before.

The expected defaults and parameter counts were printed from the registry before it read them
from the dataclasses; they pin that every model is still built identically.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re

import pytest

from prlstm import models
from prlstm.config import PRLSTMConfig
from prlstm.models import configs
from prlstm.models.configs import (
    CONFIGS,
    DeltaNetConfig,
    MambaConfig,
    PRGRUCoreConfig,
    PRLSTMCoreConfig,
    TapeRNNConfig,
    TransformerConfig,
)

HAVE_XLSTM = importlib.util.find_spec("xlstm") is not None
NEEDS_XLSTM = ("mlstm", "slstm")

# HPARAMS before the dataclasses, for a few models (order matters: it is the options' order).
PREVIOUS_DEFAULTS = {
    "pr_lstm": {"hidden_size": 256, "refinements": 1, "schedule": "tree", "backend": "auto",
                "merge": "gated"},
    "pr_gru": {"hidden_size": 256, "refinements": 0, "schedule": "tree", "backend": "auto"},
    "tape_rnn": {"hidden_size": 256, "memory_cell_size": 8, "memory_size": 40,
                 "mlp_layers_size": (64, 64)},
    "transformer": {"embedding_dim": 64, "num_layers": 5, "num_heads": 8, "ff_size": 256,
                    "dropout": 0.1, "positional_encoding": "sin_cos"},
    "deltanet": {"hidden_size": 256, "num_layers": 2, "num_heads": 4, "eigenvalues": "positive",
                 "chunk_size": 64},
    "mamba": {"hidden_size": 256, "num_layers": 2, "state_size": 16, "expand": 2,
              "conv_size": 4},
    "mlstm": {"hidden_size": 256, "num_layers": 2, "num_heads": 4, "proj_factor": 2.0,
              "kernel": "auto", "chunk_size": 64},
    "slstm": {"hidden_size": 256, "num_layers": 2, "num_heads": 4, "proj_factor": 1.3},
}

# Parameter counts at V = 2, C = 2 before the dataclasses: (small options, count), default count.
SMALL = {"hidden_size": 8}
PREVIOUS_COUNTS = {
    "pr_lstm": (SMALL, 1_082, 923_394),
    "pr_rnn": (SMALL, 258, 198_658),
    "pr_gru": (SMALL, 482, 396_290),
    "rnn": (SMALL, 122, 67_330),
    "lstm": (SMALL, 402, 266_754),
    "stack_rnn": (SMALL, 285, 72_205),
    "tape_rnn": (SMALL, 5_487, 91_791),
    "transformer": ({"embedding_dim": 16, "num_heads": 2, "ff_size": 8}, 6_922, 248_962),
    "mingru": (SMALL, 530, 397_826),
    "minlstm": (SMALL, 674, 529_410),
    "linear_rnn": (SMALL, 674, 529_410),
    "deltanet": (SMALL, 686, 529_546),
    "mamba": (SMALL, 2_690, 878_594),
    "mlstm": (SMALL, 8_666, 832_786),
    "slstm": (SMALL, 3_578, 859_906),
}


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_built_in_model_has_a_config() -> None:
    assert list(CONFIGS) == models.names(plugins=False) == list(PREVIOUS_COUNTS)
    assert models.CONFIGS is CONFIGS
    for name, cls in CONFIGS.items():
        assert dataclasses.is_dataclass(cls) and issubclass(cls, models.ModelConfig)
        assert cls.model == name
        assert getattr(configs, cls.__name__) is cls and cls.__name__ in configs.__all__


@pytest.mark.parametrize("name", sorted(PREVIOUS_DEFAULTS))
def test_defaults_are_the_previous_registry_defaults(name: str) -> None:
    defaults = CONFIGS[name].defaults()
    assert defaults == PREVIOUS_DEFAULTS[name]
    assert list(defaults) == list(PREVIOUS_DEFAULTS[name])
    assert models.default_hparams(name) == defaults
    assert dataclasses.asdict(CONFIGS[name]()) == defaults


def test_hparams_is_the_configs_defaults_and_read_only() -> None:
    assert list(models.HPARAMS) == list(CONFIGS)
    for name, cls in CONFIGS.items():
        assert dict(models.HPARAMS[name]) == cls.defaults()
    with pytest.raises(TypeError):
        models.HPARAMS["lstm"] = {"hidden_size": 1}  # type: ignore[index]
    with pytest.raises(TypeError):
        models.HPARAMS["lstm"]["hidden_size"] = 1  # type: ignore[index]
    mine = models.default_hparams("lstm")
    mine["hidden_size"] = 1  # a copy: the registry keeps its default
    assert models.HPARAMS["lstm"]["hidden_size"] == 256


@pytest.mark.parametrize(
    ("cls", "options", "message"),
    [
        (MambaConfig, {"expand": 0}, "mamba: option 'expand' must be a positive int, got 0"),
        (PRLSTMCoreConfig, {"refinements": -1},
         "pr_lstm: option 'refinements' must be an int >= 0, got -1"),
        (PRLSTMCoreConfig, {"schedule": "random"},
         "pr_lstm: option 'schedule' must be one of ('tree', 'sequential'), got 'random'"),
        (PRLSTMCoreConfig, {"backend": "magic"},
         "pr_lstm: option 'backend' must be one of ('auto', 'reference', 'levelwise', "
         "'chunked', 'streaming', 'triton'), got 'magic'"),
        (TransformerConfig, {"dropout": 1.0},
         "transformer: option 'dropout' must be a number in [0, 1), got 1.0"),
        (CONFIGS["mlstm"], {"proj_factor": 0},
         "mlstm: option 'proj_factor' must be a number in (0, 1000), got 0"),
        (TapeRNNConfig, {"mlp_layers_size": (64, 0)},
         "tape_rnn: option 'mlp_layers_size' must be a list of positive ints, got (64, 0)"),
        (CONFIGS["rnn"], {"hidden_size": True},
         "rnn: option 'hidden_size' must be a positive int, got True"),
        # the PR layer's own rules (prlstm.config.PRLSTMConfig), named as the model's options
        (PRGRUCoreConfig, {"refinements": 1},
         "pr_gru: option 'refinements' must be 0 for cell='gru' (it has no refinement cell), "
         "got 1"),
        (CONFIGS["pr_rnn"], {"backend": "triton", "merge": "sum"},
         "pr_rnn: option 'backend' must be 'auto' or a backend other than 'triton' (its "
         "kernels are for merge='gated' only, and merge is 'sum'), got 'triton'"),
        # rules between options
        (TransformerConfig, {"num_heads": 5},
         "transformer: option 'num_heads'=5 must divide 'embedding_dim'=64"),
        (TransformerConfig, {"embedding_dim": 24, "positional_encoding": "rotary"},
         "transformer: positional_encoding='rotary' needs an even head width "
         "embedding_dim/num_heads, got 24/8"),
        (TransformerConfig, {"embedding_dim": 9, "num_heads": 1},
         "transformer: positional_encoding='sin_cos' needs an even 'embedding_dim', got 9"),
        (DeltaNetConfig, {"num_heads": 3},
         "deltanet: option 'num_heads'=3 must divide 'hidden_size'=256"),
        (CONFIGS["slstm"], {"hidden_size": 6},
         "slstm: option 'num_heads'=4 must divide 'hidden_size'=6"),
    ],
)
def test_bad_values_raise_the_registry_message(cls: type, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cls(**options)
    if cls.model not in NEEDS_XLSTM or HAVE_XLSTM:  # build validates through the config
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            models.build(cls.model, 2, 2, **options)


def test_unknown_options_and_none_in_from_options() -> None:
    message = ("model 'pr_gru' does not take option(s) 'bogus', 'merge'; its options are: "
               "hidden_size, refinements, schedule, backend")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PRGRUCoreConfig.from_options({"merge": "gated", "bogus": 1})
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        models.build("pr_gru", 2, 2, merge="gated", bogus=1)
    cfg = TransformerConfig.from_options({"embedding_dim": None, "num_heads": 4})
    assert cfg == TransformerConfig(num_heads=4) and cfg.embedding_dim == 64
    assert models.configure("transformer", num_heads=4, dropout=None) == cfg
    with pytest.raises(ValueError, match="'gpt' is not a built-in model"):
        models.configure("gpt")


def test_values_are_normalised_once() -> None:
    cfg = TransformerConfig(positional_encoding="ALIBI", dropout=0)
    assert cfg.positional_encoding == "alibi"
    assert cfg.dropout == 0.0 and isinstance(cfg.dropout, float)
    tape = TapeRNNConfig(hidden_size=8, mlp_layers_size=[4, 5])  # type: ignore[arg-type]
    assert tape.mlp_layers_size == (4, 5)
    assert tape.core_kwargs() == {"hidden_size": 8, "memory_cell_size": 8, "memory_size": 40,
                                  "mlp_layers_size": (4, 5)}
    assert tape.options() == {"hidden_size": 8, "memory_cell_size": 8, "memory_size": 40,
                              "mlp_layers_size": [4, 5]}
    assert tape == TapeRNNConfig(hidden_size=8, mlp_layers_size=(4, 5))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_configs_are_frozen_and_hashable(name: str) -> None:
    cfg = CONFIGS[name]()
    field = dataclasses.fields(cfg)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(cfg, field, 1)
    assert hash(cfg) == hash(CONFIGS[name]())
    assert dataclasses.replace(cfg, **{field: 8}) != cfg  # hidden_size or embedding_dim


def test_replace_validates_again() -> None:
    with pytest.raises(ValueError, match="^mamba: option 'state_size' must be a positive int"):
        dataclasses.replace(MambaConfig(), state_size=0)


@pytest.mark.parametrize("name", ["pr_lstm", "pr_rnn", "pr_gru"])
def test_pr_cores_validate_through_the_layer_config(name: str) -> None:
    cfg = CONFIGS[name](hidden_size=16)
    layer = cfg.layer(input_size=5)
    assert isinstance(layer, PRLSTMConfig)
    assert (layer.input_size, layer.hidden_size, layer.cell) == (5, 16, name[3:])
    assert layer.refinements == cfg.refinements and layer.schedule == cfg.schedule
    assert layer.merge == getattr(cfg, "merge", "gated")


def test_the_core_gets_exactly_the_previous_keyword_arguments(monkeypatch) -> None:
    seen = []
    make = models._make_core
    monkeypatch.setattr(models, "_make_core",
                        lambda name, V1, C, hp: seen.append((name, V1, C, hp)) or make(
                            name, V1, C, hp))
    models.build("tape_rnn", 2, 3, hidden_size=8, mlp_layers_size=[4, 5])
    models.build("transformer", 2, 3, embedding_dim=16, num_heads=2, positional_encoding="ALIBI",
                 dropout=0)
    models.build("pr_gru", 2, 3, hidden_size=8)
    assert seen == [
        ("tape_rnn", 3, 3, {"hidden_size": 8, "memory_cell_size": 8, "memory_size": 40,
                            "mlp_layers_size": (4, 5)}),
        ("transformer", 3, 3, {"embedding_dim": 16, "num_layers": 5, "num_heads": 2,
                               "ff_size": 256, "dropout": 0.0, "positional_encoding": "alibi"}),
        ("pr_gru", 3, 3, {"hidden_size": 8, "refinements": 0, "schedule": "tree",
                          "backend": "auto"}),
    ]
    assert [type(v) for v in seen[1][3].values()] == [int, int, int, int, float, str]


@pytest.mark.parametrize("name", list(PREVIOUS_COUNTS))
def test_parameter_counts_are_unchanged(name: str) -> None:
    if name in NEEDS_XLSTM and not HAVE_XLSTM:
        pytest.skip("needs the optional xlstm package (pip install -e '.[baselines]')")
    small, count, default_count = PREVIOUS_COUNTS[name]
    cfg = CONFIGS[name](**small)
    model = models.build(name, 2, 2, **cfg.options())
    assert n_params(model) == count
    assert model.config == {"model": name, "input_size": 2, "output_size": 2, **cfg.options()}
    assert n_params(models.build(name, 2, 2)) == default_count
