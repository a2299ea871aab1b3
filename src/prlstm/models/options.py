"""Validation of the built-in models' options: one checker per option name.

Each checker takes ``(model, key, value)`` and returns the normalised value or raises a
one-line ``ValueError`` naming the model, the option, the value and what was expected.
The config dataclasses of :mod:`prlstm.models.configs` run them once, in their
``__post_init__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prlstm.config import BACKENDS, MERGES, SCHEDULES
from prlstm.models.positional import ENCODINGS

EIGENVALUES = ("positive", "negative")
MLSTM_KERNELS = ("auto", "parallel", "chunkwise")  # prlstm.models.xlstm_cores.MLSTM_KERNELS


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(model: str, key: str, value: object) -> int:
    if not is_int(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"{model}: option {key!r} must be a positive int, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def _non_negative_int(model: str, key: str, value: object) -> int:
    if not is_int(value) or value < 0:  # type: ignore[operator]
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
    choices = ("auto", *BACKENDS)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{model}: option {key!r} must be one of {choices}, got {value!r}")
    return value


def _probability(model: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{model}: option {key!r} must be a number in [0, 1), got {value!r}")
    return float(value)


def _positive_float(model: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e3:
        raise ValueError(f"{model}: option {key!r} must be a number in (0, 1000), got {value!r}")
    return float(value)


def _int_list(model: str, key: str, value: object) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not all(
            is_int(v) and v >= 1 for v in value):  # type: ignore[operator]
        raise ValueError(f"{model}: option {key!r} must be a list of positive ints, "
                         f"got {value!r}")
    return [int(v) for v in value]


CHECKS: dict[str, Callable[[str, str, Any], Any]] = {
    "hidden_size": _positive_int,
    "refinements": _non_negative_int,
    "schedule": _choice(SCHEDULES),
    "merge": _choice(MERGES),
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
    "eigenvalues": _choice(EIGENVALUES),
    "state_size": _positive_int,
    "expand": _positive_int,
    "conv_size": _positive_int,
    "chunk_size": _positive_int,
    "proj_factor": _positive_float,
    "kernel": _choice(MLSTM_KERNELS),
}
