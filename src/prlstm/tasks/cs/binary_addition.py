"""binary_addition: sum of two little-endian binary numbers.

Defined in docs/benchmark.md#binary_addition.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import check_int
from prlstm.tasks.bits import BinaryOperationTask


class BinaryAddition(BinaryOperationTask):
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

    def output_length(self, length: int) -> int:
        """T_out = T + 1."""
        return check_int("length", length, minimum=1) + 1

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        width = self.output_length(inputs.shape[1])
        return self._results(inputs, width, sum, exact=False)  # (B, T+1)
