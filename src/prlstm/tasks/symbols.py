"""Shared base of the tasks over i.i.d. uniform symbol strings with a ``vocab_size`` option
(reverse_string, duplicate_string, odds_first, bucket_sort)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, check_int


class SymbolStringTask(Task):
    """Input: T i.i.d. uniform symbols ``0..vocab_size-1``; the target uses the same symbols.

    Subclasses set ``name``, ``level``, ``description``, ``default_vocab_size`` and
    implement ``_compute_targets``; ``output_factor`` gives T_out = factor · T.
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
