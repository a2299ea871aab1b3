"""reverse_string: output the input reversed.

Defined in docs/benchmark.md#reverse_string.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import full_mask
from prlstm.tasks.symbols import SymbolStringTask


class ReverseString(SymbolStringTask):
    """Target = the input sequence reversed (T_out = T).

    Args:
        vocab_size: number of symbols, 2..10 (default 2, the benchmark value).
    """

    name = "reverse_string"
    level = "dcf"
    description = "symbols; target = the input reversed"
    default_vocab_size = 2

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return full_mask(inputs[:, ::-1])  # (B, T)
