"""even_pairs: parity of the number of "01"/"10" transitions.

Defined in docs/benchmark.md#even_pairs.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, single_label


class EvenPairs(Task):
    """Label 1 iff the bit string has an odd number of adjacent unequal pairs."""

    name = "even_pairs"
    level = "regular"
    description = "bits; label = number of 01/10 pairs mod 2 (= first bit != last bit)"
    single_output = True

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1"), output_symbols=("0", "1"))

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 2, (batch_size, length))  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The transition count is odd exactly when the first and last bits differ.
        return single_label(inputs[:, 0] != inputs[:, -1])  # (B, 1)
