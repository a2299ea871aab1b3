"""The built-in models' options as typed, frozen dataclasses, validated once.

One dataclass per model core; its fields are the model's options (the keyword arguments of
:func:`prlstm.models.build` and of the core's constructor), in the registry's order, with the
registry's defaults. Construction checks every field with its checker in
:data:`prlstm.models.options.CHECKS` (so the one-line messages are the registry's own), stores
the normalised value (``"ALIBI"`` -> ``"alibi"``, a list -> a tuple) and then checks the rules
that tie options together. A config that exists is valid.

The PR cores validate through the layer's own :class:`prlstm.config.PRLSTMConfig`
(:meth:`PRCoreConfig.layer`), so its rules are written once.

Example::

    from prlstm.models.configs import CONFIGS, TransformerConfig
    TransformerConfig(embedding_dim=32, num_heads=4).options()["ff_size"]   # 256
    CONFIGS["lstm"].from_options({"hidden_size": 128, "bogus": 1})  # ValueError: ... 'bogus'
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar

from prlstm.config import ConfigError, PRLSTMConfig
from prlstm.models.options import CHECKS

__all__ = ["CONFIGS", "DeltaNetConfig", "LSTMConfig", "LinearRNNConfig", "MLSTMConfig",
           "MambaConfig", "MinGRUConfig", "MinLSTMConfig", "ModelConfig", "PRCoreConfig",
           "PRGRUCoreConfig", "PRLSTMCoreConfig", "PRRNNCoreConfig", "RNNConfig",
           "SLSTMConfig", "StackRNNConfig", "TapeRNNConfig", "TransformerConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """The base of every built-in model's config: ``model`` is the registry name that the
    error messages start with; the fields (in subclasses) are its options."""

    model: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = CHECKS[f.name](self.model, f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, tuple(value) if isinstance(value, list) else value)
        self._check()

    def _check(self) -> None:
        """The rules between options, once each option is valid on its own."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The options and their defaults, in order (the registry's ``HPARAMS[model]``)."""
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    @classmethod
    def from_options(cls, hparams: dict[str, Any]) -> ModelConfig:
        """The config for ``hparams`` as :func:`prlstm.models.build` takes them: an option
        missing or ``None`` takes its default; an unknown option name is refused."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(hparams) - set(names))
        if unknown:
            raise ValueError(f"model {cls.model!r} does not take option(s) "
                             f"{', '.join(map(repr, unknown))}; its options are: "
                             f"{', '.join(names)}")
        return cls(**{k: v for k, v in hparams.items() if v is not None})

    def core_kwargs(self) -> dict[str, Any]:
        """The core constructor's keyword arguments (sequences as tuples)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def options(self) -> dict[str, Any]:
        """The options as JSON values (sequences as lists), as in ``BenchmarkModel.config``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.core_kwargs().items()}


def _divides(model: str, heads: int, key: str, width: int) -> None:
    if width % heads:
        raise ValueError(f"{model}: option 'num_heads'={heads} must divide {key!r}={width}")


# ------------------------------------------------------------------------------ PR cores
@dataclass(frozen=True)
class PRCoreConfig(ModelConfig):
    """The options every PR core shares; the layer's rules come from
    :class:`prlstm.config.PRLSTMConfig`, reported as the model's options."""

    cell: ClassVar[str] = ""
    hidden_size: int = 256
    refinements: int = 1
    schedule: str = "tree"
    backend: str = "auto"

    def layer(self, input_size: int = 1) -> PRLSTMConfig:
        """The layer's config for inputs of width ``input_size``."""
        return PRLSTMConfig(input_size, cell=self.cell, **self.core_kwargs())

    def _check(self) -> None:
        try:
            self.layer()
        except ConfigError as err:
            raise ValueError(f"{self.model}: option {err.arg!r} must be {err.expected}, got "
                             f"{err.value!r}") from None


@dataclass(frozen=True)
class PRLSTMCoreConfig(PRCoreConfig):
    """``pr_lstm``: the Tree-LSTM merge (``merge="sum"|"concat"`` for the variants)."""

    model: ClassVar[str] = "pr_lstm"
    cell: ClassVar[str] = "lstm"
    merge: str = "gated"


@dataclass(frozen=True)
class PRRNNCoreConfig(PRLSTMCoreConfig):
    """``pr_rnn``: the ReLU merge."""

    model: ClassVar[str] = "pr_rnn"
    cell: ClassVar[str] = "rnn"


@dataclass(frozen=True)
class PRGRUCoreConfig(PRCoreConfig):
    """``pr_gru``: the GRU merge; no refinements and no ``merge`` option."""

    model: ClassVar[str] = "pr_gru"
    cell: ClassVar[str] = "gru"
    refinements: int = 0


# -------------------------------------------------------------------- the NNCH baselines
@dataclass(frozen=True)
class RNNConfig(ModelConfig):
    """``rnn``: the ReLU vanilla RNN."""

    model: ClassVar[str] = "rnn"
    hidden_size: int = 256


@dataclass(frozen=True)
class LSTMConfig(ModelConfig):
    """``lstm``."""

    model: ClassVar[str] = "lstm"
    hidden_size: int = 256


@dataclass(frozen=True)
class StackRNNConfig(ModelConfig):
    """``stack_rnn``: ``stack_size`` cells of width ``stack_cell_size``."""

    model: ClassVar[str] = "stack_rnn"
    hidden_size: int = 256
    stack_cell_size: int = 8
    stack_size: int = 30


@dataclass(frozen=True)
class TapeRNNConfig(ModelConfig):
    """``tape_rnn``: ``memory_size`` cells of width ``memory_cell_size``."""

    model: ClassVar[str] = "tape_rnn"
    hidden_size: int = 256
    memory_cell_size: int = 8
    memory_size: int = 40
    mlp_layers_size: tuple[int, ...] = (64, 64)


@dataclass(frozen=True)
class TransformerConfig(ModelConfig):
    """``transformer``: ``num_heads`` divides ``embedding_dim``; rotary needs an even head
    width, ``sin_cos`` and ``relative`` an even ``embedding_dim``."""

    model: ClassVar[str] = "transformer"
    embedding_dim: int = 64
    num_layers: int = 5
    num_heads: int = 8
    ff_size: int = 256
    dropout: float = 0.1
    positional_encoding: str = "sin_cos"

    def _check(self) -> None:
        D, H, enc = self.embedding_dim, self.num_heads, self.positional_encoding
        _divides(self.model, H, "embedding_dim", D)
        if enc == "rotary" and (D // H) % 2:
            raise ValueError(f"transformer: positional_encoding='rotary' needs an even head "
                             f"width embedding_dim/num_heads, got {D}/{H}")
        if enc in ("sin_cos", "relative") and D % 2:
            raise ValueError(f"transformer: positional_encoding={enc!r} needs an even "
                             f"'embedding_dim', got {D}")


# ----------------------------------------------------- residual stacks of num_layers blocks
@dataclass(frozen=True)
class _StackConfig(ModelConfig):
    hidden_size: int = 256
    num_layers: int = 2


@dataclass(frozen=True)
class MinGRUConfig(_StackConfig):
    """``mingru``."""

    model: ClassVar[str] = "mingru"


@dataclass(frozen=True)
class MinLSTMConfig(_StackConfig):
    """``minlstm``."""

    model: ClassVar[str] = "minlstm"


@dataclass(frozen=True)
class LinearRNNConfig(_StackConfig):
    """``linear_rnn``: eigenvalues in (0, 1) (``positive``) or (-1, 1) (``negative``)."""

    model: ClassVar[str] = "linear_rnn"
    eigenvalues: str = "positive"


@dataclass(frozen=True)
class DeltaNetConfig(_StackConfig):
    """``deltanet``: ``num_heads`` divides ``hidden_size``."""

    model: ClassVar[str] = "deltanet"
    num_heads: int = 4
    eigenvalues: str = "positive"
    chunk_size: int = 64

    def _check(self) -> None:
        _divides(self.model, self.num_heads, "hidden_size", self.hidden_size)


@dataclass(frozen=True)
class MambaConfig(_StackConfig):
    """``mamba``: SSM state width, expansion and causal-conv width."""

    model: ClassVar[str] = "mamba"
    state_size: int = 16
    expand: int = 2
    conv_size: int = 4


@dataclass(frozen=True)
class MLSTMConfig(_StackConfig):
    """``mlstm`` (xLSTM)."""

    model: ClassVar[str] = "mlstm"
    num_heads: int = 4
    proj_factor: float = 2.0
    kernel: str = "auto"
    chunk_size: int = 64


@dataclass(frozen=True)
class SLSTMConfig(_StackConfig):
    """``slstm`` (xLSTM): ``num_heads`` divides ``hidden_size``."""

    model: ClassVar[str] = "slstm"
    num_heads: int = 4
    proj_factor: float = 1.3

    def _check(self) -> None:
        _divides(self.model, self.num_heads, "hidden_size", self.hidden_size)


#: Each built-in model's config class, in registry order.
CONFIGS: dict[str, type[ModelConfig]] = {cls.model: cls for cls in (
    PRLSTMCoreConfig, PRRNNCoreConfig, PRGRUCoreConfig, RNNConfig, LSTMConfig, StackRNNConfig,
    TapeRNNConfig, TransformerConfig, MinGRUConfig, MinLSTMConfig, LinearRNNConfig,
    DeltaNetConfig, MambaConfig, MLSTMConfig, SLSTMConfig)}
