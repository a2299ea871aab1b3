"""The PR-LSTM layer's rules in one place: :class:`PRLSTMConfig`, validated once.

The layer (:class:`prlstm.layer.PRLSTM`), its cells (:class:`prlstm.cells.CombineCell`) and
the ``pr_*`` benchmark models all build one of these, so a rule (which merges a cell takes,
what the triton kernels cover) is written once. Every refusal is a one-line ``ValueError``
naming the argument, the value and what was expected. Importing this module needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BACKENDS", "CELLS", "MERGES", "SCHEDULES", "ConfigError", "PRLSTMConfig",
           "check_backend", "check_cell"]

CELLS = ("lstm", "rnn", "gru")
MERGES = ("gated", "sum", "concat")
SCHEDULES = ("tree", "sequential")
BACKENDS = ("reference", "levelwise", "chunked", "streaming", "triton")


class ConfigError(ValueError):
    """``"{arg} must be {expected}, got {value!r}"``; the parts stay readable so that the
    model registry can name the argument as its own option."""

    def __init__(self, arg: str, value: object, expected: str) -> None:
        super().__init__(f"{arg} must be {expected}, got {value!r}")
        self.arg, self.value, self.expected = arg, value, expected


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(name, value, f"one of {choices}")


def _positive(name: str, value: object) -> None:
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise ConfigError(name, value, "a positive int")


def check_cell(cell: object, merge: object, refinements: object) -> None:
    """The rules of one combine cell: its kind, its merge and its refinements."""
    _choice("cell", cell, CELLS)
    if not _is_int(refinements) or refinements < 0:  # type: ignore[operator]
        raise ConfigError("refinements", refinements, "an int >= 0")
    if cell == "gru" and merge != "gated":
        raise ConfigError("merge", merge, "'gated' for cell='gru' (cell='gru' takes "
                                          "merge='gated' only)")
    _choice("merge", merge, MERGES)
    if cell == "gru" and refinements > 0:  # type: ignore[operator]
        raise ConfigError("refinements", refinements,
                          "0 for cell='gru' (it has no refinement cell)")


def check_backend(backend: object, merge: object) -> None:
    """The backend names and what the triton kernels cover (``auto`` never picks them for
    another merge)."""
    _choice("backend", backend, ("auto", *BACKENDS))
    if backend == "triton" and merge != "gated":
        raise ConfigError("backend", backend, f"'auto' or a backend other than 'triton' (its "
                                              f"kernels are for merge='gated' only, and merge "
                                              f"is {merge!r})")


@dataclass(frozen=True)
class PRLSTMConfig:
    """Everything that defines a :class:`~prlstm.layer.PRLSTM` but its parameters.

    Fields are the layer's constructor arguments (see there). Construction validates them,
    so a config that exists is valid.
    """

    input_size: int
    hidden_size: int
    cell: str = "lstm"
    refinements: int = 1
    num_layers: int = 1
    schedule: str = "tree"
    bias: bool = True
    dropout: float = 0.0
    batch_first: bool = True
    backend: str = "auto"
    merge: str = "gated"

    def __post_init__(self) -> None:
        for name in ("input_size", "hidden_size", "num_layers"):
            _positive(name, getattr(self, name))
        check_cell(self.cell, self.merge, self.refinements)
        _choice("schedule", self.schedule, SCHEDULES)
        check_backend(self.backend, self.merge)
        ok = isinstance(self.dropout, (int, float)) and not isinstance(self.dropout, bool)
        if not ok or not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError("dropout", self.dropout, "in [0, 1)")
        object.__setattr__(self, "dropout", float(self.dropout))

    @property
    def state_size(self) -> int:
        """Tensors per state: 2 (``h``, ``c``) for lstm, 1 (``h``) otherwise."""
        return 2 if self.cell == "lstm" else 1
