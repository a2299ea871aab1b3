"""compute_sqrt: floor of the square root of a big-endian binary number.

Defined in docs/benchmark.md#compute_sqrt.
"""

from __future__ import annotations

import math

import numpy as np

from prlstm.tasks.base import Task, check_int, full_mask
from prlstm.tasks.bits import rows_as_bytes, sample_nonzero_parts, strings_to_array


class ComputeSqrt(Task):
    """Input: n ~ U{1..2^L−1} as L big-endian bits; target: ⌊√n⌋ as ⌈T/2⌉ big-endian bits."""

    name = "compute_sqrt"
    level = "cs"
    description = "big-endian binary n >= 1; target = floor(sqrt(n)) in ceil(T/2) big-endian bits"
    output_length_text = "ceil(T/2)"

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1"), output_symbols=("0", "1"))

    def output_length(self, length: int) -> int:
        """T_out = ⌈T/2⌉."""
        return (check_int("length", length, minimum=1) + 1) // 2

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        everything = np.ones((1, length), dtype=bool)
        return sample_nonzero_parts(batch_size, length, [everything], rng)  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = self.output_length(inputs.shape[1])
        roots = [format(math.isqrt(int(row, 2)), f"0{width}b") for row in rows_as_bytes(inputs)]
        return full_mask(strings_to_array(roots, width))  # (B, ceil(T/2))
