"""even_pairs: parity of the number of "01"/"10" transitions (docs/benchmark.md#even_pairs)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import single_label
from prlstm.tasks.symbols import UniformLabelTask


class EvenPairs(UniformLabelTask):
    """Label 1 iff the bit string has an odd number of adjacent unequal pairs."""

    name = "even_pairs"
    level = "regular"
    description = "bits; label = number of 01/10 pairs mod 2 (= first bit != last bit)"

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The transition count is odd exactly when the first and last bits differ.
        return single_label(inputs[:, 0] != inputs[:, -1])  # (B, 1)
