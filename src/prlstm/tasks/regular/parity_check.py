"""parity_check: parity of the number of 1s (docs/benchmark.md#parity_check)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import single_label
from prlstm.tasks.symbols import UniformLabelTask


class ParityCheck(UniformLabelTask):
    """Label 1 iff the bit string contains an odd number of 1s."""

    name = "parity_check"
    level = "regular"
    description = "bits; label = number of 1s mod 2"

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return single_label(inputs.sum(axis=1) % 2)  # (B, 1)
