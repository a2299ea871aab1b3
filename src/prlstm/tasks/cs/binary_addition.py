"""binary_addition: sum of two little-endian binary numbers.

Defined in docs/benchmark.md#binary_addition.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import Task, check_int, mask_through_terminator
from prlstm.tasks.bits import (
    little_endian_terminated,
    rows_as_bytes,
    sample_binary_operands,
    split_operands,
    strings_to_array,
)

TERMINATOR = 2


class BinaryAddition(Task):
    """Input: ``LE(a) + LE(b)`` (id 2 is ``+``), T = L; target: ``LEmin(a+b)``, ``$`` (id 2), 0s.

    T_out = T + 1 and the mask covers the sum and the terminator. For L <= 2 the input is a
    single number n and the target ``LEmin(n)``. The target is defined for any input with at
    most one separator (an empty operand counts as 0).
    """

    name = "binary_addition"
    level = "cs"
    description = "little-endian a+b (fixed widths, leading zeros allowed); " \
                  "target = little-endian a+b, $"
    output_length_text = "T+1"

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1", "+"), output_symbols=("0", "1", "$"))

    def output_length(self, length: int) -> int:
        """T_out = T + 1."""
        return check_int("length", length, minimum=1) + 1

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return sample_binary_operands(batch_size, length, rng)  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = self.output_length(inputs.shape[1])
        sums = []
        for r, row in enumerate(rows_as_bytes(inputs)):
            operands = split_operands(row)
            if len(operands) > 2:
                raise self._row_error(r, f"must hold at most one '+' (id 2), found "
                                         f"{len(operands) - 1}")
            sums.append(little_endian_terminated(sum(operands), width))
        return mask_through_terminator(strings_to_array(sums, width), TERMINATOR)  # (B, T+1)
