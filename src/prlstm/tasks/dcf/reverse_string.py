"""reverse_string: output the input reversed (docs/benchmark.md#reverse_string)."""

from __future__ import annotations

import numpy as np

from prlstm.tasks.symbols import SymbolStringTask


class ReverseString(SymbolStringTask):
    """Target = the input sequence reversed (T_out = T)."""

    name = "reverse_string"
    level = "dcf"
    description = "symbols; target = the input reversed"
    default_vocab_size = 2

    def rearrange(self, inputs: np.ndarray) -> np.ndarray:
        return inputs[:, ::-1]
