"""cycle_navigation: final position on a cycle of 5 after moves -1/0/+1
(docs/benchmark.md#cycle_navigation)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import single_label
from prlstm.tasks.symbols import UniformLabelTask

CYCLE_LENGTH = 5


class CycleNavigation(UniformLabelTask):
    """Start at 0 on a 5-cycle; id 0 moves left, 1 stays, 2 moves right; label = final node."""

    name = "cycle_navigation"
    level = "regular"
    description = "moves - (left) 0 (stay) + (right) on a 5-cycle from 0; label = final position"
    input_symbols = ("-", "0", "+")
    label_symbols = tuple(str(k) for k in range(CYCLE_LENGTH))

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        steps = inputs.sum(axis=1) - inputs.shape[1]  # (B,) sum of moves in {-1, 0, +1}
        return single_label(steps % CYCLE_LENGTH)  # (B, 1)
