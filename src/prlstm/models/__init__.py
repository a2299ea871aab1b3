"""The benchmark's model zoo, by name.

Every model is a :class:`~prlstm.models.protocol.BenchmarkModel`: a core wrapped in the
non-autoregressive protocol of benchmark.md §4.1, called as
``model(inputs (B, T) token ids, output_length=T_out) -> logits (B, T_out, C)``.

======================  =====================================================================
name                    core
======================  =====================================================================
``pr_lstm``             PR-LSTM layer (Tree-LSTM merge) + ``Linear(relu(h_t))``; option
                        ``merge="sum"|"concat"`` selects the ablations of analysis.md §1
``pr_rnn``              PR layer with the ReLU merge + ``Linear(relu(h_t))`` (``merge`` too)
``pr_gru``              PR layer with the GRU merge (no refinements) + ``Linear(relu(h_t))``
``rnn``                 ReLU vanilla RNN (two biases) + ``Linear(relu(h_t))``
``lstm``                LSTM, gates (i, g, f, o), forget bias +1 + ``Linear(relu(h_t))``
``stack_rnn``           RNN controller with a soft stack (§7.2) + ``Linear(relu(h_t))``
``tape_rnn``            RNN controller with a circular tape and input-length jumps (§7.3)
``transformer``         post-LN transformer encoder (§7.5, §7.6) + ``Linear(h_t)``
======================  =====================================================================

Example::

    from prlstm import models
    model = models.build("transformer", input_size=2, output_size=2,
                         positional_encoding="alibi")
    model.config   # {'model': 'transformer', 'input_size': 2, 'output_size': 2, ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from prlstm.models.positional import ENCODINGS
from prlstm.models.protocol import BenchmarkModel

__all__ = ["HPARAMS", "BenchmarkModel", "build", "from_config", "names"]

_PR = {"hidden_size": 256, "refinements": 1, "schedule": "tree", "backend": "auto"}

#: Every model's options and their defaults (``build`` accepts exactly these keywords).
HPARAMS: dict[str, dict[str, Any]] = {
    "pr_lstm": {**_PR, "merge": "gated"},
    "pr_rnn": {**_PR, "merge": "gated"},
    "pr_gru": {**_PR, "refinements": 0},
    "rnn": {"hidden_size": 256},
    "lstm": {"hidden_size": 256},
    "stack_rnn": {"hidden_size": 256, "stack_cell_size": 8, "stack_size": 30},
    "tape_rnn": {"hidden_size": 256, "memory_cell_size": 8, "memory_size": 40,
                 "mlp_layers_size": (64, 64)},
    "transformer": {"embedding_dim": 64, "num_layers": 5, "num_heads": 8, "ff_size": 256,
                    "dropout": 0.1, "positional_encoding": "sin_cos"},
}

_SCHEDULES = ("tree", "sequential")
_MERGES = ("gated", "sum", "concat")  # prlstm.cells.MERGES, without importing torch code here


def names() -> list[str]:
    """The registered model names, in registry order."""
    return list(HPARAMS)


# ----------------------------------------------------------------------------- validation
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(model: str, key: str, value: object) -> int:
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"{model}: option {key!r} must be a positive int, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def _non_negative_int(model: str, key: str, value: object) -> int:
    if not _is_int(value) or value < 0:  # type: ignore[operator]
        raise ValueError(f"{model}: option {key!r} must be an int >= 0, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def _choice(choices: Sequence[str]) -> Callable[[str, str, object], str]:
    def check(model: str, key: str, value: object) -> str:
        v = value.lower() if isinstance(value, str) else value
        if v not in choices:
            raise ValueError(f"{model}: option {key!r} must be one of {tuple(choices)}, "
                             f"got {value!r}")
        return v  # type: ignore[return-value]

    return check


def _backend(model: str, key: str, value: object) -> str:
    try:
        from prlstm.ops import BACKENDS
    except ImportError:  # pragma: no cover - the layer's package is not there yet
        BACKENDS = ()
    choices = ("auto", *BACKENDS)
    if not isinstance(value, str) or (BACKENDS and value not in choices):
        raise ValueError(f"{model}: option {key!r} must be one of {choices}, got {value!r}")
    return value


def _probability(model: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{model}: option {key!r} must be a number in [0, 1), got {value!r}")
    return float(value)


def _int_list(model: str, key: str, value: object) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(
            _is_int(v) and v >= 1 for v in value):  # type: ignore[operator]
        raise ValueError(f"{model}: option {key!r} must be a list of positive ints, "
                         f"got {value!r}")
    return [int(v) for v in value]


_CHECKS: dict[str, Callable[[str, str, Any], Any]] = {
    "hidden_size": _positive_int,
    "refinements": _non_negative_int,
    "schedule": _choice(_SCHEDULES),
    "merge": _choice(_MERGES),
    "backend": _backend,
    "stack_cell_size": _positive_int,
    "stack_size": _positive_int,
    "memory_cell_size": _positive_int,
    "memory_size": _positive_int,
    "mlp_layers_size": _int_list,
    "embedding_dim": _positive_int,
    "num_layers": _positive_int,
    "num_heads": _positive_int,
    "ff_size": _positive_int,
    "dropout": _probability,
    "positional_encoding": _choice(ENCODINGS),
}


def _resolve(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``hparams`` (``None`` = default), validated, JSON-friendly."""
    defaults = HPARAMS[name]
    unknown = sorted(set(hparams) - set(defaults))
    if unknown:
        raise ValueError(f"model {name!r} does not take option(s) {', '.join(map(repr, unknown))}"
                         f"; its options are: {', '.join(defaults)}")
    resolved: dict[str, Any] = {}
    for key, default in defaults.items():
        value = hparams.get(key)
        resolved[key] = _CHECKS[key](name, key, default if value is None else value)
    if name == "pr_gru" and resolved["refinements"] != 0:
        raise ValueError(f"pr_gru: option 'refinements' must be 0 (the gru cell has no "
                         f"refinement cell), got {resolved['refinements']}")
    if resolved.get("merge", "gated") != "gated" and resolved.get("backend") == "triton":
        raise ValueError(f"{name}: option 'merge'={resolved['merge']!r} has no triton kernels; "
                         f"use backend 'auto' or 'levelwise'")
    if name == "transformer":
        D, H = resolved["embedding_dim"], resolved["num_heads"]
        if D % H:
            raise ValueError(f"transformer: option 'num_heads'={H} must divide "
                             f"'embedding_dim'={D}")
        enc = resolved["positional_encoding"]
        if enc == "rotary" and (D // H) % 2:
            raise ValueError(f"transformer: positional_encoding='rotary' needs an even head "
                             f"width embedding_dim/num_heads, got {D}/{H}")
        if enc in ("sin_cos", "relative") and D % 2:
            raise ValueError(f"transformer: positional_encoding={enc!r} needs an even "
                             f"'embedding_dim', got {D}")
    return resolved


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
    from prlstm.models.transformer import TransformerEncoder

    return TransformerEncoder(V1, C, **hp)


def build(name: str, input_size: int, output_size: int, **hparams: Any) -> BenchmarkModel:
    """Build a registered model for a task with V = ``input_size`` input tokens and
    C = ``output_size`` classes.

    Args:
        name: one of :func:`names`.
        input_size: V (the core sees one-hots of width V + 1).
        output_size: C.
        **hparams: options from ``HPARAMS[name]``; missing or ``None`` ones take the default.

    Raises:
        ValueError: unknown model name (the message lists the names), an option the model
            does not take, or an invalid / incompatible option value (the message names it).
    """
    if name not in HPARAMS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(names())}")
    for key, value in (("input_size", input_size), ("output_size", output_size)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    hp = _resolve(name, hparams)
    core_hp = {k: tuple(v) if isinstance(v, list) else v for k, v in hp.items()}
    core = _make_core(name, input_size + 1, output_size, core_hp)
    config = {"model": name, "input_size": input_size, "output_size": output_size, **hp}
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
