"""bucket_sort (benchmark.md §3.15): output the input tokens sorted ascending."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, check_int, full_mask


class BucketSort(Task):
    """Target = the input tokens in ascending order (T_out = T).

    Args:
        vocab_size: number of symbols, 2..10 (default 5, the benchmark value).
    """

    name = "bucket_sort"
    level = "cs"
    description = "symbols (default 0..4); target = the input sorted ascending"
    output_length_text = "T"

    def __init__(self, *, vocab_size: int = 5) -> None:
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
        return full_mask(np.sort(inputs, axis=1))  # (B, T)
