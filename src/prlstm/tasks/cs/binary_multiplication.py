"""binary_multiplication: product of two little-endian binary numbers.

Defined in docs/benchmark.md#binary_multiplication.
"""

from __future__ import annotations

import math

import numpy as np

from prlstm.tasks.base import check_int, mask_through_terminator
from prlstm.tasks.bits import TERMINATOR, BinaryOperationTask


class BinaryMultiplication(BinaryOperationTask):
    """Input: ``LE(a) * LE(b)`` (id 2 is ``*``), T = L; target: ``LEmin(a·b)``, ``$``, 0s.

    T_out = T and the mask covers the product and the terminator. Degenerate L <= 2 (inputs
    as in binary_addition, no separator): the target is fixed, ``[2]`` for T = 1 and
    ``[0, 2]`` for T = 2, whatever the input. For T >= 3 the input must hold exactly one
    separator (an empty operand counts as 0).
    """

    name = "binary_multiplication"
    level = "cs"
    description = "little-endian a*b (fixed widths, leading zeros allowed); " \
                  "target = little-endian a*b, $"
    output_length_text = "T"
    operator = "*"

    def output_length(self, length: int) -> int:
        """T_out = T."""
        return check_int("length", length, minimum=1)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, t = inputs.shape
        if t <= 2:
            fixed = np.array([[2]] if t == 1 else [[0, 2]], dtype=np.int64)  # (1, T)
            return mask_through_terminator(np.repeat(fixed, b, axis=0), TERMINATOR)
        return self._results(inputs, t, math.prod, exact=True)  # (B, T)
