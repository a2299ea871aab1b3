"""bucket_sort: output the input tokens sorted ascending (docs/benchmark.md#bucket_sort)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.symbols import SymbolStringTask


class BucketSort(SymbolStringTask):
    """Target = the input tokens in ascending order (T_out = T); 5 symbols by default."""

    name = "bucket_sort"
    level = "cs"
    description = "symbols (default 0..4); target = the input sorted ascending"
    default_vocab_size = 5

    def rearrange(self, inputs: np.ndarray) -> np.ndarray:
        return np.sort(inputs, axis=1)
