"""odds_first (benchmark.md §3.11): tokens at odd positions first, then those at even ones."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, check_int, full_mask


class OddsFirst(Task):
    """Target = x[1], x[3], … followed by x[0], x[2], … (0-based positions; T_out = T).

    This is the reference *code* order (project decision; its docstring describes the
    opposite order).

    Args:
        vocab_size: number of symbols, 2..10 (default 2, the benchmark value).
    """

    name = "odds_first"
    level = "cs"
    description = "symbols; target = tokens at 0-based odd positions, then at even positions"
    output_length_text = "T"

    def __init__(self, *, vocab_size: int = 2) -> None:
        self.vocab_size = check_int("vocab_size", vocab_size, minimum=2, maximum=10)
        digits = tuple(str(d) for d in range(self.vocab_size))
        super().__init__(symbols=digits, output_symbols=digits)

    @property
    def options(self) -> dict[str, object]:
        """Constructor options."""
        return {"vocab_size": self.vocab_size}

    def output_length(self, length: int) -> int:
        """T_out = T."""
        return check_int("length", length, minimum=1)

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.vocab_size, (batch_size, length))

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return full_mask(np.concatenate((inputs[:, 1::2], inputs[:, 0::2]), axis=1))  # (B, T)
