"""parity_check: parity of the number of 1s.

Defined in docs/benchmark.md#parity_check.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, single_label


class ParityCheck(Task):
    """Label 1 iff the bit string contains an odd number of 1s."""

    name = "parity_check"
    level = "regular"
    description = "bits; label = number of 1s mod 2"
    single_output = True

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1"), output_symbols=("0", "1"))

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 2, (batch_size, length))  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return single_label(inputs.sum(axis=1) % 2)  # (B, 1)
