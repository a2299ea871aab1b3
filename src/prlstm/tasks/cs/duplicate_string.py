"""duplicate_string: output the input twice.

Defined in docs/benchmark.md#duplicate_string.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import full_mask
from prlstm.tasks.symbols import SymbolStringTask


class DuplicateString(SymbolStringTask):
    """Target = x ‖ x (T_out = 2T).

    Args:
        vocab_size: number of symbols, 2..10 (default 2, the benchmark value).
    """

    name = "duplicate_string"
    level = "cs"
    description = "symbols; target = the input written twice"
    default_vocab_size = 2
    output_factor = 2
    output_length_text = "2T"

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return full_mask(np.concatenate((inputs, inputs), axis=1))  # (B, 2T)
