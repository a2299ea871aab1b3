"""binary_multiplication: product of two little-endian binary numbers.

Defined in docs/benchmark.md#binary_multiplication.
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


class BinaryMultiplication(Task):
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

    def __init__(self) -> None:
        super().__init__(symbols=("0", "1", "*"), output_symbols=("0", "1", "$"))

    def output_length(self, length: int) -> int:
        """T_out = T."""
        return check_int("length", length, minimum=1)

    def _sample_inputs(self, batch_size: int, length: int,
                       rng: np.random.Generator) -> np.ndarray:
        return sample_binary_operands(batch_size, length, rng)  # (B, T)

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, t = inputs.shape
        if t <= 2:
            fixed = np.array([[2]] if t == 1 else [[0, 2]], dtype=np.int64)  # (1, T)
            return mask_through_terminator(np.repeat(fixed, b, axis=0), TERMINATOR)
        products = []
        for r, row in enumerate(rows_as_bytes(inputs)):
            operands = split_operands(row)
            if len(operands) != 2:
                raise self._row_error(r, f"must hold exactly one '*' (id 2), found "
                                         f"{len(operands) - 1}")
            products.append(little_endian_terminated(operands[0] * operands[1], t))
        return mask_through_terminator(strings_to_array(products, t), TERMINATOR)  # (B, T)
