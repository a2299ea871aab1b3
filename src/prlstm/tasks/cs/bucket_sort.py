"""bucket_sort: output the input tokens sorted ascending.

Defined in docs/benchmark.md#bucket_sort.
"""

from __future__ import annotations

import numpy as np

from prlstm.tasks.base import full_mask
from prlstm.tasks.symbols import SymbolStringTask


class BucketSort(SymbolStringTask):
    """Target = the input tokens in ascending order (T_out = T).

    Args:
        vocab_size: number of symbols, 2..10 (default 5, the benchmark value).
    """

    name = "bucket_sort"
    level = "cs"
    description = "symbols (default 0..4); target = the input sorted ascending"
    default_vocab_size = 5

    def _compute_targets(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return full_mask(np.sort(inputs, axis=1))  # (B, T)
