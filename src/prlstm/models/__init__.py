"""The benchmark's model zoo, by name.

Every model is a :class:`~prlstm.models.protocol.BenchmarkModel`: a core wrapped in the
non-autoregressive protocol of docs/benchmark.md#the-input-and-output-protocol, called as
``model(inputs (B, T) token ids, output_length=T_out) -> logits (B, T_out, C)``.

======================  =====================================================================
name                    core
======================  =====================================================================
``pr_lstm``             PR-LSTM layer (Tree-LSTM merge) + ``Linear(relu(h_t))``; option
                        ``merge="sum"|"concat"`` selects the merge variants
``pr_rnn``              PR layer with the ReLU merge + ``Linear(relu(h_t))`` (``merge`` too)
``pr_gru``              PR layer with the GRU merge (no refinements) + ``Linear(relu(h_t))``
``rnn``                 ReLU vanilla RNN (two biases) + ``Linear(relu(h_t))``
``lstm``                LSTM, gates (i, g, f, o), forget bias +1 + ``Linear(relu(h_t))``
``stack_rnn``           RNN controller with a soft stack + ``Linear(relu(h_t))``
``tape_rnn``            RNN controller with a circular tape and input-length jumps
``transformer``         post-LN transformer encoder + ``Linear(h_t)``
``mingru``, ``minlstm``  minGRU / minLSTM (Feng et al. 2024), log-space parallel scan
``linear_rnn``          diagonal input-dependent linear recurrence, eigenvalues in (0, 1) or
                        (-1, 1) (Grazzi et al. 2024)
``deltanet``            DeltaNet (delta rule), beta in (0, 1) or (0, 2) (Yang et al. 2024)
``mamba``               Mamba block with the S6 selective scan (Gu & Dao 2023)
``mlstm``, ``slstm``     xLSTM's mLSTM / sLSTM layers (``xlstm`` package, ``baselines`` extra)
======================  =====================================================================

The linear recurrences and the xLSTM layers sit in a pre-norm residual stack
(:class:`~prlstm.models.blocks.ResidualStackCore`) of ``num_layers`` blocks. Models from
outside prlstm come in through :func:`register`, the ``prlstm.models`` entry-point group or an
import path ``"package.module:factory"`` (see :mod:`prlstm.models.plugins`).

Each built-in model's options are a frozen, validated-once dataclass of
:mod:`prlstm.models.configs` (:data:`CONFIGS`); :data:`HPARAMS` and :func:`default_hparams`
read their defaults, and :func:`build` validates the options by constructing it
(:func:`configure`).

Example::

    from prlstm import models
    model = models.build("transformer", input_size=2, output_size=2,
                         positional_encoding="alibi")
    model.config   # {'model': 'transformer', 'input_size': 2, 'output_size': 2, ...}
    models.count_parameters("lstm", 2, 2, hidden_size=128)   # 68_098
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch import nn

from prlstm.models.configs import CONFIGS, ModelConfig
from prlstm.models.options import is_int
from prlstm.models.plugins import ModelSpec, lookup, register, registered, unregister
from prlstm.models.protocol import BenchmarkModel

__all__ = ["CONFIGS", "HPARAMS", "INFO", "BenchmarkModel", "ModelConfig", "ModelSpec", "build",
           "configure", "count_parameters", "default_hparams", "from_config", "names",
           "register", "registered", "unregister", "width_for_params"]

#: Every model's options and their defaults (``build`` accepts exactly these keywords): the
#: defaults of its config class in :data:`CONFIGS` (:mod:`prlstm.models.configs`), read-only.
HPARAMS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {name: MappingProxyType(cls.defaults()) for name, cls in CONFIGS.items()})

#: Where each built-in model comes from (``prlstm models`` prints it).
INFO: dict[str, str] = {
    "pr_lstm": "PR-LSTM: Tree-LSTM merge cell on a parallel prefix-scan schedule (this package)",
    "pr_rnn": "PR layer with a ReLU merge cell (this package)",
    "pr_gru": "PR layer with a GRU merge cell (this package)",
    "rnn": "ReLU vanilla RNN, as in Deletang et al. 2023 (NNCH benchmark)",
    "lstm": "LSTM (Hochreiter & Schmidhuber 1997), Haiku layout as in Deletang et al. 2023",
    "stack_rnn": "RNN + soft stack (Joulin & Mikolov 2015), as in Deletang et al. 2023",
    "tape_rnn": "RNN + tape memory, as in Deletang et al. 2023",
    "transformer": "Transformer encoder (Vaswani et al. 2017), as in Deletang et al. 2023",
    "mingru": "minGRU, Feng et al. 2024 'Were RNNs All We Needed?' (written here in PyTorch)",
    "minlstm": "minLSTM, Feng et al. 2024 'Were RNNs All We Needed?' (written here)",
    "linear_rnn": "diagonal linear RNN; eigenvalues='negative' per Grazzi et al. 2024 "
                  "(written here)",
    "deltanet": "DeltaNet, Schlag et al. 2021 / Yang et al. 2024; eigenvalues='negative' per "
                "Grazzi et al. 2024 (written here)",
    "mamba": "Mamba block, S6 selective scan, Gu & Dao 2023 (written here in PyTorch)",
    "mlstm": "mLSTM, Beck et al. 2024 'xLSTM' (package xlstm==2.0.6)",
    "slstm": "sLSTM, Beck et al. 2024 'xLSTM' (package xlstm==2.0.6)",
}


def names(plugins: bool = True) -> list[str]:
    """The model names: built-ins in registry order, then (``plugins``) the ones registered in
    this process and the installed ``prlstm.models`` entry points."""
    out = list(HPARAMS)
    if plugins:
        from prlstm.models.plugins import entry_point_names

        out += [n for n in [*registered(), *entry_point_names()] if n not in out]
    return out


def _spec(name: str) -> ModelSpec:
    spec = lookup(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(names())} "
                         f"(or an import path 'package.module:factory')")
    return spec


def default_hparams(name: str) -> dict[str, Any]:
    """The options a model takes and their defaults (built-in or plugin)."""
    if name in HPARAMS:
        return dict(HPARAMS[name])
    return _spec(name).defaults()


def configure(name: str, **hparams: Any) -> ModelConfig:
    """The validated config of built-in model ``name`` for these options (missing or ``None``
    ones take the default), as :func:`build` makes it.

    Raises:
        ValueError: not a built-in model, an option it does not take, or an invalid /
            incompatible option value (the message names it).
    """
    if not isinstance(name, str) or name not in CONFIGS:
        raise ValueError(f"{name!r} is not a built-in model; built-ins: {', '.join(CONFIGS)}")
    return CONFIGS[name].from_options(hparams)


# ----------------------------------------------------------------------------- factories
def _make_core(name: str, V1: int, C: int, hp: dict[str, Any]) -> nn.Module:
    """The core for one-hot inputs of width ``V1 = V + 1`` and C classes."""
    if name.startswith("pr_"):
        from prlstm.models.pr import PRCore

        return PRCore(V1, C, cell=name[3:], **hp)
    if name in ("rnn", "lstm"):
        from prlstm.models.rnn import LSTM, VanillaRNN

        return (VanillaRNN if name == "rnn" else LSTM)(V1, C, **hp)
    if name == "stack_rnn":
        from prlstm.models.stack_rnn import StackRNN

        return StackRNN(V1, C, **hp)
    if name == "tape_rnn":
        from prlstm.models.tape_rnn import TapeRNN

        return TapeRNN(V1, C, **hp)
    if name == "transformer":
        from prlstm.models.transformer import TransformerEncoder

        return TransformerEncoder(V1, C, **hp)
    return _linear_core(name, V1, C, hp)


def _linear_core(name: str, V1: int, C: int, hp: dict[str, Any]) -> nn.Module:
    """The residual-stack baselines (linear recurrences and xLSTM layers)."""
    if name in ("mingru", "minlstm", "linear_rnn"):
        from prlstm.models import min_rnns

        cls = {"mingru": min_rnns.MinGRU, "minlstm": min_rnns.MinLSTM,
               "linear_rnn": min_rnns.LinearRNN}[name]
        return cls(V1, C, **hp)
    if name == "deltanet":
        from prlstm.models.deltanet import DeltaNet

        return DeltaNet(V1, C, **hp)
    if name == "mamba":
        from prlstm.models.mamba import Mamba

        return Mamba(V1, C, **hp)
    from prlstm.models.xlstm_cores import MLSTM, SLSTM

    return (MLSTM if name == "mlstm" else SLSTM)(V1, C, **hp)


def build(name: str, input_size: int, output_size: int, **hparams: Any) -> BenchmarkModel:
    """Build a registered model for a task with V = ``input_size`` input tokens and
    C = ``output_size`` classes.

    Args:
        name: one of :func:`names`, or an import path ``"package.module:factory"``.
        input_size: V (the core sees one-hots of width V + 1).
        output_size: C.
        **hparams: the model's options (:func:`default_hparams`); missing or ``None`` ones
            take the default.

    Raises:
        ValueError: unknown model name (the message lists the names), an option the model
            does not take, or an invalid / incompatible option value (the message names it);
            a plugin whose factory returns something that is not a working model.
    """
    for key, value in (("input_size", input_size), ("output_size", output_size)):
        if not is_int(value) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    if name not in CONFIGS:
        from prlstm.models.plugins import build_plugin

        return build_plugin(_spec(name), name, input_size, output_size, hparams)
    cfg = CONFIGS[name].from_options(hparams)
    core = _make_core(name, input_size + 1, output_size, cfg.core_kwargs())
    config = {"model": name, "input_size": input_size, "output_size": output_size,
              **cfg.options()}
    return BenchmarkModel(core, input_size, output_size, config)


def from_config(config: dict[str, Any]) -> BenchmarkModel:
    """Rebuild a model from its :attr:`BenchmarkModel.config` (e.g. read back from JSON);
    the parameters are freshly initialised (load a state dict for trained weights)."""
    cfg = dict(config)
    try:
        name, V, C = cfg.pop("model"), cfg.pop("input_size"), cfg.pop("output_size")
    except KeyError as err:
        raise ValueError(f"model config is missing {err.args[0]!r}") from None
    return build(name, V, C, **cfg)


def count_parameters(name: str, input_size: int, output_size: int, **hparams: Any) -> int:
    """Trainable parameters of ``build(name, input_size, output_size, **hparams)``."""
    from prlstm.models.sizing import count

    return count(build(name, input_size, output_size, **hparams))


def width_for_params(name: str, target: int, input_size: int, output_size: int,
                     key: str = "hidden_size", **hparams: Any) -> int:
    """The value of option ``key`` (default ``hidden_size``) whose parameter count is closest
    to ``target`` (ties: the smaller width), for the other options as given."""
    from prlstm.models.sizing import match_width

    return match_width(lambda w: count_parameters(name, input_size, output_size,
                                                  **{**hparams, key: w}),
                       target, step=_width_step(name, key, hparams),
                       smallest=2 if name == "slstm" and key == "hidden_size" else 1)


def _width_step(name: str, key: str, hparams: dict[str, Any]) -> int:
    """Widths stay divisible by the number of heads (and even for the transformer)."""
    heads = hparams.get("num_heads") or default_hparams(name).get("num_heads", 1)
    if name == "transformer" and key == "embedding_dim":
        return math.lcm(int(heads), 2)
    if key == "hidden_size" and name in ("deltanet", "slstm"):
        return int(heads)
    return 1
