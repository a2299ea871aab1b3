"""Shared bases of the tasks over i.i.d. uniform symbols: :class:`UniformLabelTask` (a label
for the whole string: even_pairs, parity_check, cycle_navigation) and
:class:`SymbolStringTask` (a rearrangement of the string with a ``vocab_size`` option:
reverse_string, duplicate_string, odds_first, bucket_sort)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from prlstm.tasks.base import Task, check_int, full_mask


class UniformLabelTask(Task):
    """Input: T i.i.d. uniform tokens of ``input_symbols``; target: one label of
    ``label_symbols`` (a classifier task).

    Subclasses set ``name``, ``level``, ``description``, the two symbol tuples (default bits)
    and implement ``_compute_targets``.
    """

    single_output = True
    input_symbols: ClassVar[tuple[str, ...]] = ("0", "1")
    label_symbols: ClassVar[tuple[str, ...]] = ("0", "1")

    def __init__(self) -> None:
        super().__init__(symbols=self.input_symbols, output_symbols=self.label_symbols)

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, len(self.input_symbols), (batch_size, length))  # (B, T)


class SymbolStringTask(Task):
    """Input: T i.i.d. uniform symbols ``0..vocab_size-1``; the target, every position scored,
    is :meth:`rearrange` of the input, over the same symbols.

    Subclasses set ``name``, ``level``, ``description``, ``default_vocab_size`` and
    implement :meth:`rearrange`; ``output_factor`` gives T_out = factor · T.

    Args:
        vocab_size: number of symbols, 2..10 (default: the class's ``default_vocab_size``, the
            benchmark value).
    """

    default_vocab_size = 2
    output_factor = 1
    output_length_text = "T"

    def __init__(self, *, vocab_size: int | None = None) -> None:
        vocab_size = self.default_vocab_size if vocab_size is None else vocab_size
        self.vocab_size = check_int("vocab_size", vocab_size, minimum=2, maximum=10)
        digits = tuple(str(d) for d in range(self.vocab_size))
        super().__init__(symbols=digits, output_symbols=digits)

    @property
    def options(self) -> dict[str, object]:
        """Constructor options."""
        return {"vocab_size": self.vocab_size}

    def output_length(self, length: int) -> int:
        """T_out = ``output_factor`` · T."""
        return self.output_factor * check_int("length", length, minimum=1)

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.vocab_size, (batch_size, length))  # (B, T)

    def rearrange(self, inputs: np.ndarray) -> np.ndarray:
        """The target tokens of a (B, T) batch of inputs: (B, T_out)."""
        raise NotImplementedError

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return full_mask(self.rearrange(inputs))  # (B, T_out)
